-- Every change to the ban list is announced on `hall_bans` in the changing
-- transaction, whoever makes it (a replica, an operator in psql), so every
-- process reloads its copy of the confirmed set. Redis, when configured, is
-- a faster path beside this one, never the only one.
CREATE FUNCTION hall_bans_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hall_bans', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER bans_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bans
    FOR EACH STATEMENT EXECUTE FUNCTION hall_bans_changed();

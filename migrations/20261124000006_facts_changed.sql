-- Every change to what a decision or a credential check reads is announced
-- on the `hall_facts` channel, whoever makes it (a replica, hallctl, an
-- operator in psql), so every process can drop its in-process copies.
-- Statement-level: a bulk change is one announcement, and PostgreSQL folds
-- identical announcements of one transaction into one.
CREATE FUNCTION hall_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hall_facts', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER tenants_facts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();
CREATE TRIGGER workers_facts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workers
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();
CREATE TRIGGER attestations_facts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON attestations
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();
CREATE TRIGGER namespaces_facts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON namespaces
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();
CREATE TRIGGER namespace_keys_facts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON namespace_keys
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();
-- Recording a key's use (last_used_at, at most once a minute) changes
-- nothing a check reads: every other column is listed. A column added to
-- api_keys later must be added here.
CREATE TRIGGER api_keys_facts_changed AFTER INSERT OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();
CREATE TRIGGER api_keys_facts_updated
    AFTER UPDATE OF tenant_id, id, name, prefix, secret_hash, scopes, created_at, expires_at, revoked_at
    ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();

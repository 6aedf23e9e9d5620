-- A receipt's tenant is checked through its chain, not by a foreign key of
-- its own (issue 15, docs/performance.md). The key checked every receipt
-- inserted against `tenants` one row at a time (a trigger, an index scan
-- and a row lock each; 4.6 µs less PostgreSQL per decision without it in
-- one run on the project's 2-core machine, no difference in another). What
-- it guaranteed holds without it:
-- - receipts are inserted by `append_receipt_batch` (migration 37), which
--   stores a receipt only with a move of its own tenant's chain row
--   (HR003: the receipt's tenant is among the chains moved; HR001: every
--   chain moved is a row that exists), and `receipt_chains.tenant_id`
--   references `tenants` (migration 5);
-- - a chain row can be neither removed nor given another tenant (the
--   trigger below), so a tenant with receipts cannot be deleted; receipts
--   can be neither updated nor deleted (`receipts_append_only`).
-- So every stored receipt names a tenant that exists, as before. Only a
-- direct INSERT by the registry's own role (the table's owner, which can
-- do anything to it) is no longer checked.
ALTER TABLE receipts DROP CONSTRAINT receipts_tenant_id_fkey;

CREATE FUNCTION receipt_chains_are_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a receipt chain''s row is kept for its tenant: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- Fires only for an UPDATE that sets `tenant_id`: the writer's, which moves
-- the head, never does.
CREATE TRIGGER receipt_chains_are_kept
    BEFORE DELETE OR UPDATE OF tenant_id ON receipt_chains
    FOR EACH ROW EXECUTE FUNCTION receipt_chains_are_kept();
CREATE TRIGGER receipt_chains_no_truncate
    BEFORE TRUNCATE ON receipt_chains
    FOR EACH STATEMENT EXECUTE FUNCTION receipt_chains_are_kept();

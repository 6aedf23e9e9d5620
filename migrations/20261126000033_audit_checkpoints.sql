-- Signed checkpoints of each tenant's receipt tree (C2SP tlog-checkpoint in
-- a C2SP signed note; issue 14, docs/audit.md): issued by a background task
-- of every replica from the committed tree head in `receipt_chains` (so
-- never for a size whose receipts are not committed), at most one per size.
-- Two replicas issuing the same size write the same note (Ed25519 is
-- deterministic): the second insert is a no-op.
CREATE TABLE audit_checkpoints (
    tenant_id  text        NOT NULL REFERENCES tenants (id),
    tree_size  bigint      NOT NULL CHECK (tree_size > 0),
    root       bytea       NOT NULL CHECK (octet_length(root) = 32),
    note       text        NOT NULL,
    key_id     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tree_size)
);

CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION receipts_are_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION receipts_are_append_only();

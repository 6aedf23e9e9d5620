-- Witnesses of each tenant's verifiable log (C2SP tlog-cosignature; issue
-- 14, docs/audit.md): the Ed25519 cosignature/v1 keys a tenant trusts to
-- cosign its checkpoints (the operator's, trusted for every tenant, are
-- configured with HALL_WITNESS_KEYS and not stored here), and the
-- cosignatures they gave. A removed witness's cosignatures stay: each is
-- verifiable on its own with the witness's key.
CREATE TABLE audit_witnesses (
    tenant_id  text        NOT NULL REFERENCES tenants (id),
    name       text        NOT NULL,
    key_id     bytea       NOT NULL CHECK (octet_length(key_id) = 4),
    public_key bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
-- C2SP tlog-cosignature: an Ed25519 cosignature does not commit to the
-- witness's name, so one key must not count as two witnesses.
CREATE UNIQUE INDEX audit_witnesses_one_name_per_key ON audit_witnesses (tenant_id, public_key);

-- One cosignature per witness key and checkpoint (the first one given).
CREATE TABLE audit_cosignatures (
    tenant_id   text        NOT NULL,
    tree_size   bigint      NOT NULL,
    witness     text        NOT NULL,
    key_id      bytea       NOT NULL CHECK (octet_length(key_id) = 4),
    -- The cosignature's own time (POSIX seconds, signed by the witness).
    signed_at   bigint      NOT NULL CHECK (signed_at >= 0),
    -- The signature line as given, without its newline.
    line        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tree_size, witness, key_id),
    FOREIGN KEY (tenant_id, tree_size) REFERENCES audit_checkpoints (tenant_id, tree_size)
);

CREATE TRIGGER audit_cosignatures_append_only
    BEFORE UPDATE OR DELETE ON audit_cosignatures
    FOR EACH ROW EXECUTE FUNCTION receipts_are_append_only();
CREATE TRIGGER audit_cosignatures_no_truncate
    BEFORE TRUNCATE ON audit_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION receipts_are_append_only();

-- Each tenant's receipt chain: its head and length. A writer locks the row,
-- so concurrent writers (in any process) append one after another: no fork,
-- no gap.
CREATE TABLE receipt_chains (
    tenant_id  text        PRIMARY KEY REFERENCES tenants (id),
    head_hash  text,
    length     bigint      NOT NULL DEFAULT 0 CHECK (length >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Receipts (WCP §5.7), one per decision, ALLOW or DENY. `seq` is the position
-- in the tenant's chain (1, 2, 3, … without gaps). The columns repeat what
-- decision queries filter on; `body` is the receipt exactly as signed.
CREATE TABLE receipts (
    tenant_id         text        NOT NULL REFERENCES tenants (id),
    seq               bigint      NOT NULL CHECK (seq > 0),
    receipt_id        uuid        NOT NULL,
    receipt_hash      text        NOT NULL,
    prev_receipt_hash text,
    decided_at        timestamptz NOT NULL,
    worker_id         text        NOT NULL,
    capability_id     text        NOT NULL,
    denied            boolean     NOT NULL,
    deny_reason       text,
    body              jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    UNIQUE (receipt_id)
);
CREATE INDEX receipts_recent ON receipts (tenant_id, decided_at DESC, receipt_id DESC);
CREATE INDEX receipts_by_worker ON receipts (tenant_id, worker_id, decided_at DESC, receipt_id DESC);
CREATE INDEX receipts_by_capability ON receipts (tenant_id, capability_id, decided_at DESC, receipt_id DESC);

-- Append-only, enforced by the database itself.
CREATE FUNCTION receipts_are_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'receipts are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER receipts_append_only
    BEFORE UPDATE OR DELETE ON receipts
    FOR EACH ROW EXECUTE FUNCTION receipts_are_append_only();
CREATE TRIGGER receipts_no_truncate
    BEFORE TRUNCATE ON receipts
    FOR EACH STATEMENT EXECUTE FUNCTION receipts_are_append_only();

-- Every key receipts were ever signed with (public halves only; the private
-- key comes from HALL_RECEIPT_SIGNING_KEY(_FILE) or the data directory).
CREATE TABLE receipt_signing_keys (
    kid        text        PRIMARY KEY,
    public_key bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz
);

-- The tenant's decision policy: minimum tier per env, signatory tenants
-- (WCP §5.9) and the attestation age limit (L8).
ALTER TABLE tenants
    ADD COLUMN tier_floors jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN signatories text[] NOT NULL DEFAULT '{}',
    ADD COLUMN attestation_max_age_days integer CHECK (attestation_max_age_days > 0);

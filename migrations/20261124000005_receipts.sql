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

-- Idempotency-Key of POST /api/v1/decisions and POST /api/route: a repeat
-- from the same tenant within 24 hours answers the original decision and
-- never appends a second receipt, on any replica.
--
-- A request claims its key (a row with `receipt_id` NULL and a lease) before
-- the decision runs. The receipt writer completes the row in the receipt's
-- own transaction, after locking it and checking the claim is still the
-- caller's — so "the receipt exists" and "the key is completed" are one fact,
-- and a claim taken over after its lease ran out can never also commit.
CREATE TABLE decision_idempotency (
    tenant_id         text        NOT NULL REFERENCES tenants (id),
    idempotency_key   text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 (hex) of the request body: a repeat with another body is refused.
    request_hash      text        NOT NULL,
    -- The token of the request that holds the key now.
    claim             uuid        NOT NULL,
    lease_until       timestamptz NOT NULL,
    -- Set together, in the receipt's transaction.
    receipt_tenant_id text,
    receipt_id        uuid,
    -- What the answer carried besides the receipt (approval fields).
    response_extra    jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key),
    CHECK ((receipt_id IS NULL) = (receipt_tenant_id IS NULL))
);
CREATE INDEX decision_idempotency_created ON decision_idempotency (created_at);

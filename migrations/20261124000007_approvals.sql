-- Human approvals (WCP §5.8): a decision that needs a human opens one; a
-- human (an admin key of the requesting tenant) approves, denies or
-- escalates it; an approved one lets exactly one matching decision through
-- before it expires.
CREATE TABLE approvals (
    tenant_id          text        NOT NULL REFERENCES tenants (id),
    id                 uuid        NOT NULL,
    worker_registry_id text        NOT NULL,
    worker_id          text        NOT NULL,
    capability_id      text        NOT NULL,
    env                text        NOT NULL,
    data_label         text        NOT NULL,
    supervisor_level   text        NOT NULL DEFAULT 'gatekeeper'
        CHECK (supervisor_level IN ('gatekeeper', 'incident_commander')),
    status             text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'denied')),
    reason             text        NOT NULL,
    escalation_context jsonb       NOT NULL,
    decision_id        uuid        NOT NULL,
    correlation_id     text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    resolved_at        timestamptz,
    resolved_by        text,
    resolution_note    text,
    used_at            timestamptz,
    used_by_decision   uuid,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX approvals_id ON approvals (id);
CREATE INDEX approvals_pending ON approvals (tenant_id, created_at) WHERE status = 'pending';

-- The decision log filtered to denies (`GET /api/v1/decisions?denied=true`):
-- denies are usually rare, so without this a tenant's whole history is read.
CREATE INDEX receipts_denied ON receipts (tenant_id, decided_at DESC, receipt_id DESC) WHERE denied;

-- What a tenant's policy asks of attestations (the policy document grows later).
ALTER TABLE tenants
    ADD COLUMN attestation_requires_signature boolean NOT NULL DEFAULT false,
    ADD COLUMN attestation_requires_approval  boolean NOT NULL DEFAULT false;

-- Attestations of a worker's package hash: unsigned (`hash`, PUT …/attest)
-- or a signed capability card (`card`). Append-only history; the latest
-- decides the worker's attestation status.
CREATE TABLE attestations (
    tenant_id          text        NOT NULL REFERENCES tenants (id),
    id                 text        NOT NULL,
    worker_registry_id text        NOT NULL,
    worker_id          text        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('hash', 'card')),
    sha256             text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    status             text        NOT NULL CHECK (status IN ('attested', 'pending', 'denied')),
    reason             text,
    awaiting_signature boolean     NOT NULL DEFAULT false,
    signed_by          text,
    card               jsonb,
    signature          text,
    card_expires_at    timestamptz,
    label              text,
    ai_generated       boolean     NOT NULL DEFAULT false,
    ai_service         text,
    ai_model           text,
    ai_session_id      text,
    approved_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, worker_registry_id) REFERENCES workers (tenant_id, id)
);
CREATE UNIQUE INDEX attestations_id ON attestations (id);
CREATE INDEX attestations_worker ON attestations (worker_registry_id, created_at DESC, id DESC);

-- Ban-list reports, reviewed by the operator.
CREATE TABLE ban_reports (
    id              text        PRIMARY KEY,
    sha256          text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    reason          text        NOT NULL,
    evidence_url    text,
    source          text        NOT NULL,
    reporter_tenant text        REFERENCES tenants (id),
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'rejected')),
    reviewed_at     timestamptz,
    review_note     text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ban_reports_status ON ban_reports (status, created_at);

-- Confirmed bans. Lifting keeps the row (history); at most one live ban per hash.
CREATE TABLE bans (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    reason       text        NOT NULL,
    source       text        NOT NULL,
    report_id    text        REFERENCES ban_reports (id),
    reported_at  timestamptz NOT NULL,
    confirmed_at timestamptz NOT NULL DEFAULT now(),
    lifted_at    timestamptz,
    lift_reason  text
);
CREATE UNIQUE INDEX bans_live ON bans (sha256) WHERE lifted_at IS NULL;
CREATE INDEX bans_live_recent ON bans (confirmed_at DESC) WHERE lifted_at IS NULL;

-- Usage counts the SDKs report (`POST /api/v1/telemetry/decisions`): per
-- tenant, worker species (or worker) id and UTC day, summed.
CREATE TABLE decision_telemetry (
    tenant_id  text        NOT NULL REFERENCES tenants (id),
    worker_id  text        NOT NULL,
    day        date        NOT NULL,
    count      bigint      NOT NULL CHECK (count >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day, worker_id)
);

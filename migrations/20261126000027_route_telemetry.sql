-- A route decision's telemetry envelopes (WCP §5.4) as ONE row: the envelopes
-- as one JSON array, kept as text (`json`: checked, not re-encoded as `jsonb`,
-- since it is only ever read back whole), under one index. Three `jsonb` rows
-- per route, each with a primary-key and a correlation-index entry and a
-- foreign-key check, made a route cost ~40 % more PostgreSQL time than a
-- decision. No foreign key: the row is written in the transaction of its
-- receipt, whose row already references the tenant.
CREATE TABLE route_telemetry (
    tenant_id      text        NOT NULL,
    correlation_id text        NOT NULL,
    decision_id    uuid        NOT NULL,
    envelopes      json        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX route_telemetry_by_correlation
    ON route_telemetry (tenant_id, correlation_id, created_at, decision_id);

INSERT INTO route_telemetry (tenant_id, correlation_id, decision_id, envelopes, created_at)
SELECT tenant_id, correlation_id, decision_id, json_agg(envelope ORDER BY seq), min(created_at)
FROM route_events
GROUP BY tenant_id, correlation_id, decision_id;

DROP TABLE route_events;

-- The router (WCP §4, §5): the enrolled workers of a candidate species are
-- looked up by species, in worker_id order (deterministic selection).
CREATE INDEX workers_species ON workers (species_id, worker_id) WHERE species_id IS NOT NULL;

-- The telemetry envelopes of each route decision (§5.4), stored in the
-- transaction of its receipt and read back by correlation id. `event_id` is the
-- envelope's (`evt.os.task.routed`, …); `decision_id` its receipt's id.
CREATE TABLE route_events (
    tenant_id      text        NOT NULL REFERENCES tenants (id),
    correlation_id text        NOT NULL,
    decision_id    uuid        NOT NULL,
    seq            smallint    NOT NULL CHECK (seq >= 0),
    event_id       text        NOT NULL,
    envelope       jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, decision_id, seq)
);
CREATE INDEX route_events_by_correlation ON route_events (tenant_id, correlation_id, created_at, decision_id, seq);

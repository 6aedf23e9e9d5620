-- A route decision's telemetry row keeps only what its envelopes add to its
-- receipt (`routing::telemetry::Telemetry`: the gate's reason, the QoS class,
-- the selected worker and policy version, or the deny code and message —
-- about a hundred bytes); the fields every envelope
-- repeats are in the receipt (version 3), which the telemetry query joins.
-- The ~1.3 kB of envelopes per route were a quarter of a route's extra
-- PostgreSQL time over a decision's (docs/routing.md, "Speed").
ALTER TABLE route_telemetry ADD COLUMN telemetry json;

UPDATE route_telemetry SET telemetry = CASE
    WHEN envelopes -> 0 ->> 'event_id' = 'evt.os.task.denied' THEN json_build_object(
        'kind', 'denied',
        'deny_code', envelopes -> 0 ->> 'deny_code',
        'deny_message', envelopes -> 0 ->> 'deny_message')
    ELSE json_build_object(
        'kind', 'routed',
        'policy_version', envelopes -> 0 ->> 'policy_version',
        'qos_class', envelopes -> 0 ->> 'qos_class',
        'selected_worker_id', envelopes -> 1 ->> 'selected_worker_id',
        'gate_reason', envelopes -> 2 ->> 'reason')
END;

ALTER TABLE route_telemetry ALTER COLUMN telemetry SET NOT NULL;
ALTER TABLE route_telemetry DROP COLUMN envelopes;

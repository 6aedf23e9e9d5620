-- GET /api/v1/telemetry/events finds a tenant's routed decisions by their
-- correlation id through a 64-bit hash of the id instead of the id itself
-- (issue 13, docs/routing.md "Speed"). Correlation ids are random (UUIDs),
-- so every route inserted its entry at a random place of the index: the
-- entry was the tenant, the 36-character id, the time and the receipt id
-- (about 90 bytes, compared as text). The hash is 8 bytes compared as an
-- integer, so the index is about a quarter of the size and each route
-- writes less of it. The query (registry/src/route_events.rs) matches the
-- hash through this index, then the tenant and the exact id on the row:
-- a hash shared by two ids costs a row read, never a wrong answer.
-- hashtextextended is immutable and the same on every platform and major
-- version (hash partitioning relies on it).
DROP INDEX receipts_route_telemetry_by_correlation;
CREATE INDEX receipts_route_telemetry_by_correlation_hash
    ON receipts (hashtextextended(body ->> 'correlation_id', 0))
    WHERE route_telemetry IS NOT NULL;

-- GET /api/v1/telemetry/events finds a tenant's routed decisions by a
-- 64-bit hash of the tenant and the correlation id instead of by the text
-- of both (issue 13, docs/routing.md "Speed"). Correlation ids are usually
-- random UUIDs, so every route inserted its entry at a random place of the
-- index: the entry was the tenant, the 36-character id, the time and the
-- receipt id (about 90 bytes, compared as text). Now it is the hash, the
-- time and the receipt id (32 bytes, compared as integers), in the order
-- the query reads them, so the lookup still stops at its limit. The hash is
-- seeded with the tenant's own hash: a tenant that reuses one correlation
-- id many times makes only its own lookups of that id longer. The query
-- (registry/src/route_events.rs) matches the tenant and the exact id on
-- each row as well, so a hash shared by two ids costs a row read, never a
-- wrong answer. hashtextextended is immutable; its values depend on the
-- byte order of the machine, which an index never outlives (a restore or a
-- new replica of another kind builds it again).
--
-- The new index is built first and the old one dropped last: the build
-- holds writes to `receipts` (not reads), and the drop's exclusive lock
-- lasts only until this migration commits.
CREATE INDEX receipts_route_telemetry_by_correlation_hash
    ON receipts (
        hashtextextended(body ->> 'correlation_id', hashtextextended(tenant_id, 0)),
        decided_at,
        receipt_id)
    WHERE route_telemetry IS NOT NULL;
DROP INDEX receipts_route_telemetry_by_correlation;

-- A receipt's body is stored as the JSON text the writer sealed (`json`),
-- no longer parsed into `jsonb` (issue 15, docs/performance.md): parsing
-- it — every key of the object sorted, a tree built — was about 12 µs of
-- PostgreSQL's time per receipt (a 900-byte decision's; more for a
-- route's), inside the batch's call, which every receipt in the batch and
-- the next batch wait for; `json` only checks the text (about 3 µs), and
-- reading it back (the chain checker, GET receipt) converts nothing.
-- Receipts stored before keep `jsonb`'s rendering of their body (the same
-- JSON value; keys in `jsonb`'s order, with spaces): a verifier parses a
-- body and hashes its canonical form, never the stored text.
--
-- What queries and indexes read of the body is now in columns the writer
-- sets, so no insert parses the body (`->>` on `json` parses the whole
-- text: about 8 µs for a route's receipt):
-- - `routed`, a decision of the router (a receipt with `matched_rule_id`):
--   the decision log's "routed only" and its partial index (whose
--   predicate, `body ? 'matched_rule_id'`, every receipt's insert evaluated);
-- - `route_correlation_id`, a route decision's correlation id, set exactly
--   when its telemetry is: GET /api/v1/telemetry/events and its index
--   (migration 38's, which read `body ->> 'correlation_id'`).
-- The chain checker compares both with the signed body, as it does the
-- other columns copied from it.
--
-- The new columns are filled while `body` is still `jsonb` (through the
-- routed index), then the column's type change rewrites the table and its
-- indexes once, dropping the rows that UPDATE left behind: the migration
-- holds `receipts` for a time that grows with its size. Stop every replica
-- of the release before first (docs/operations.md). Changing a column's
-- type is not an UPDATE, so the append-only guard stays on for it; the
-- UPDATE — of the new, unsigned columns only — runs with the guard off
-- inside this migration's transaction, as migration 37 did.
ALTER TABLE receipts ADD COLUMN routed boolean NOT NULL DEFAULT false;
ALTER TABLE receipts ADD COLUMN route_correlation_id text;
ALTER TABLE receipts DISABLE TRIGGER receipts_append_only;
UPDATE receipts
   SET routed = body ? 'matched_rule_id',
       route_correlation_id = CASE WHEN route_telemetry IS NOT NULL
                                   THEN body ->> 'correlation_id' END
 WHERE body ? 'matched_rule_id' OR route_telemetry IS NOT NULL;
ALTER TABLE receipts ENABLE TRIGGER receipts_append_only;
DROP INDEX receipts_routed;
DROP INDEX receipts_route_telemetry_by_correlation_hash;
ALTER TABLE receipts ALTER COLUMN body TYPE json USING body::json;

-- The router's decisions, newest first (GET /api/dispatches/recent), as
-- migration 23 had them.
CREATE INDEX receipts_routed ON receipts (tenant_id, decided_at DESC, receipt_id DESC)
    WHERE routed;
-- As migration 38 had it, over the column.
CREATE INDEX receipts_route_telemetry_by_correlation_hash
    ON receipts (
        hashtextextended(route_correlation_id, hashtextextended(tenant_id, 0)),
        decided_at,
        receipt_id)
    WHERE route_correlation_id IS NOT NULL;

-- append_receipt_batch takes the bodies as `json` and each receipt's
-- `routed` and `route_correlation_id`. The signature of migration 40 (bodies as `jsonb`, no `routed`)
-- stays, as a translation to this one, for a release still running while
-- another has migrated.
CREATE FUNCTION append_receipt_batch(
    -- Each chain the batch appends to, as the writer found it and as it leaves it.
    chain_tenant text[], was_hash text[], was_length bigint[], was_tree_size bigint[], was_tree_edge bytea[],
    now_hash text[], now_length bigint[], now_tree_size bigint[], now_tree_edge bytea[],
    -- The receipts, each as the JSON text it was sealed as (a route
    -- decision's telemetry with its receipt and its correlation id, NULL
    -- for others; `routed` for a decision of the router).
    r_tenant text[], r_seq bigint[], r_id uuid[], r_hash text[], r_prev text[], r_at timestamptz[],
    r_worker text[], r_capability text[], r_denied boolean[], r_body json[], r_reason text[],
    r_telemetry json[], r_routed boolean[], r_route_correlation text[],
    -- The tree's new stored nodes.
    n_tenant text[], n_level smallint[], n_index bigint[], n_hash bytea[],
    -- The idempotency claims these receipts complete.
    c_tenant text[], c_key text[], c_claim uuid[], c_receipt_tenant text[], c_receipt uuid[],
    c_response_extra jsonb[]
) RETURNS void
LANGUAGE plpgsql
-- Its statements take arrays whose contents do not change the best plan:
-- planned once per connection, not again at every call.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    moved bigint;
    completed bigint;
    chain_count int := coalesce(cardinality(chain_tenant), 0);
    receipt_count int := coalesce(cardinality(r_tenant), 0);
    node_count int := coalesce(cardinality(n_tenant), 0);
    claim_count int := coalesce(cardinality(c_tenant), 0);
    advanced bigint := 0;
    inserted bigint;
BEGIN
    -- Each row of a kind is one index across its arrays: unnest() would
    -- pad a shorter array with NULLs, and a NULL where a value was meant
    -- (a previous hash, a deny reason, a telemetry) is a wrong row, not
    -- an error. The writer always sends them equal; anything else is refused.
    IF chain_count <> ANY (ARRAY[coalesce(cardinality(was_hash), 0), coalesce(cardinality(was_length), 0),
                coalesce(cardinality(was_tree_size), 0), coalesce(cardinality(was_tree_edge), 0),
                coalesce(cardinality(now_hash), 0), coalesce(cardinality(now_length), 0),
                coalesce(cardinality(now_tree_size), 0), coalesce(cardinality(now_tree_edge), 0)])
       OR receipt_count <> ANY (ARRAY[coalesce(cardinality(r_seq), 0), coalesce(cardinality(r_id), 0),
                coalesce(cardinality(r_hash), 0), coalesce(cardinality(r_prev), 0),
                coalesce(cardinality(r_at), 0), coalesce(cardinality(r_worker), 0),
                coalesce(cardinality(r_capability), 0), coalesce(cardinality(r_denied), 0),
                coalesce(cardinality(r_body), 0), coalesce(cardinality(r_reason), 0),
                coalesce(cardinality(r_telemetry), 0), coalesce(cardinality(r_routed), 0),
                coalesce(cardinality(r_route_correlation), 0)])
       OR node_count <> ANY (ARRAY[coalesce(cardinality(n_level), 0), coalesce(cardinality(n_index), 0),
                coalesce(cardinality(n_hash), 0)])
       OR claim_count <> ANY (ARRAY[coalesce(cardinality(c_key), 0), coalesce(cardinality(c_claim), 0),
                coalesce(cardinality(c_receipt_tenant), 0), coalesce(cardinality(c_receipt), 0),
                coalesce(cardinality(c_response_extra), 0)]) THEN
        RAISE EXCEPTION 'the batch''s arrays of one kind are not all the same length'
            USING ERRCODE = 'HR004';
    END IF;
    -- Locked in tenant order: writers in other processes take them in the
    -- same order (one row needs no order: the UPDATE locks it).
    IF cardinality(chain_tenant) > 1 THEN
        PERFORM 1 FROM receipt_chains WHERE tenant_id = ANY (chain_tenant)
          ORDER BY tenant_id FOR UPDATE;
    END IF;
    UPDATE receipt_chains c
       SET head_hash = h.now_hash, length = h.now_length,
           tree_size = h.now_tree_size, tree_edge = h.now_tree_edge, updated_at = now()
      FROM unnest(chain_tenant, was_hash, was_length, was_tree_size, was_tree_edge,
                  now_hash, now_length, now_tree_size, now_tree_edge)
           AS h(tenant_id, was_hash, was_length, was_tree_size, was_tree_edge,
                now_hash, now_length, now_tree_size, now_tree_edge)
     WHERE c.tenant_id = h.tenant_id
       AND c.head_hash IS NOT DISTINCT FROM h.was_hash AND c.length = h.was_length
       AND c.tree_size = h.was_tree_size AND c.tree_edge = h.was_tree_edge;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> coalesce(cardinality(chain_tenant), 0) THEN
        RAISE EXCEPTION 'a receipt chain head moved since this batch was sealed'
            USING ERRCODE = 'HR001';
    END IF;

    -- The heads move by exactly the receipts inserted, each between its
    -- chain's old and new length (the primary key refuses a position
    -- twice): the count here, each receipt's place in the INSERT itself,
    -- which leaves out a receipt of no chain moved or outside its chain's
    -- move (one statement fewer per batch than a query of its own).
    FOR i IN 1 .. chain_count LOOP
        -- A head never moves back: that would make it claim a receipt
        -- another chain's move paid for.
        IF now_length[i] < was_length[i] THEN
            RAISE EXCEPTION 'the batch moves a chain head back'
                USING ERRCODE = 'HR003';
        END IF;
        advanced := advanced + (now_length[i] - was_length[i]);
    END LOOP;
    IF advanced IS DISTINCT FROM receipt_count::bigint THEN
        RAISE EXCEPTION 'the batch''s receipts do not match the heads it moves'
            USING ERRCODE = 'HR003';
    END IF;
    INSERT INTO receipts (tenant_id, seq, receipt_id, receipt_hash, prev_receipt_hash, decided_at,
                          worker_id, capability_id, denied, body, deny_reason, route_telemetry, routed,
                route_correlation_id)
    SELECT r.tenant_id, r.seq, r.receipt_id, r.receipt_hash, r.prev_receipt_hash, r.decided_at,
           r.worker_id, r.capability_id, r.denied, r.body, r.deny_reason, r.route_telemetry, r.routed,
           r.route_correlation_id
      FROM unnest(r_tenant, r_seq, r_id, r_hash, r_prev, r_at,
                  r_worker, r_capability, r_denied, r_body, r_reason, r_telemetry, r_routed,
                  r_route_correlation)
           AS r(tenant_id, seq, receipt_id, receipt_hash, prev_receipt_hash, decided_at,
                worker_id, capability_id, denied, body, deny_reason, route_telemetry, routed,
                route_correlation_id)
      JOIN unnest(chain_tenant, was_length, now_length) AS h(tenant_id, was_length, now_length)
        ON h.tenant_id = r.tenant_id AND r.seq > h.was_length AND r.seq <= h.now_length;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted <> receipt_count THEN
        RAISE EXCEPTION 'the batch''s receipts do not match the heads it moves'
            USING ERRCODE = 'HR003';
    END IF;
    -- Each statement below starts an executor only when it has rows: most
    -- batches have no new stored node and no claim.
    IF cardinality(n_tenant) > 0 THEN
        INSERT INTO receipt_tree_nodes (tenant_id, level, index, hash)
        SELECT * FROM unnest(n_tenant, n_level, n_index, n_hash);
    END IF;
    IF coalesce(cardinality(c_tenant), 0) > 0 THEN
        UPDATE decision_idempotency d
           SET receipt_tenant_id = u.receipt_tenant_id, receipt_id = u.receipt_id,
               response_extra = u.response_extra
          FROM unnest(c_tenant, c_key, c_claim, c_receipt_tenant, c_receipt, c_response_extra)
               AS u(tenant_id, idempotency_key, claim, receipt_tenant_id, receipt_id, response_extra)
         WHERE d.tenant_id = u.tenant_id AND d.idempotency_key = u.idempotency_key
           AND d.claim = u.claim AND d.receipt_id IS NULL;
        GET DIAGNOSTICS completed = ROW_COUNT;
        IF completed <> cardinality(c_tenant) THEN
            RAISE EXCEPTION 'an idempotency claim of this batch is no longer held'
                USING ERRCODE = 'HR002';
        END IF;
    END IF;
END
$$;
-- Only the registry's own role (the owner) appends receipts.
REVOKE EXECUTE ON FUNCTION append_receipt_batch(
    text[], text[], bigint[], bigint[], bytea[], text[], bigint[], bigint[], bytea[],
    text[], bigint[], uuid[], text[], text[], timestamptz[], text[], text[], boolean[], json[], text[],
    json[], boolean[], text[],
    text[], smallint[], bigint[], bytea[],
    text[], text[], uuid[], text[], uuid[], jsonb[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION append_receipt_batch(
    chain_tenant text[], was_hash text[], was_length bigint[], was_tree_size bigint[], was_tree_edge bytea[],
    now_hash text[], now_length bigint[], now_tree_size bigint[], now_tree_edge bytea[],
    r_tenant text[], r_seq bigint[], r_id uuid[], r_hash text[], r_prev text[], r_at timestamptz[],
    r_worker text[], r_capability text[], r_denied boolean[], r_body jsonb[], r_reason text[],
    r_telemetry json[],
    n_tenant text[], n_level smallint[], n_index bigint[], n_hash bytea[],
    c_tenant text[], c_key text[], c_claim uuid[], c_receipt_tenant text[], c_receipt uuid[],
    c_response_extra jsonb[]
) RETURNS void
LANGUAGE sql
AS $$
    SELECT append_receipt_batch(
        chain_tenant, was_hash, was_length, was_tree_size, was_tree_edge,
        now_hash, now_length, now_tree_size, now_tree_edge,
        r_tenant, r_seq, r_id, r_hash, r_prev, r_at,
        r_worker, r_capability, r_denied, r_body::json[], r_reason, r_telemetry,
        ARRAY(SELECT b ? 'matched_rule_id' FROM unnest(r_body) WITH ORDINALITY AS u(b, i) ORDER BY i),
        ARRAY(SELECT CASE WHEN t IS NOT NULL THEN b ->> 'correlation_id' END
                FROM unnest(r_body, r_telemetry) WITH ORDINALITY AS u(b, t, i) ORDER BY i),
        n_tenant, n_level, n_index, n_hash,
        c_tenant, c_key, c_claim, c_receipt_tenant, c_receipt, c_response_extra);
$$;

-- A route decision's telemetry (what its envelopes add to its receipt,
-- migration 31) is a column of the receipt's row instead of a row of its
-- own (issue 13, docs/routing.md "Speed"): a second heap tuple, its WAL
-- record and its insert were about a tenth of a route's cost. The column is
-- written with the row and never after (the append-only trigger still
-- refuses any UPDATE); it is not part of the signed receipt, as the
-- separate row was not.
ALTER TABLE receipts ADD COLUMN route_telemetry json;

-- The rows stored before move onto their receipts. The append-only trigger
-- refuses every UPDATE, so this one — setting only the unsigned column
-- just added, never the signed body — runs with it off, inside this
-- migration's transaction.
ALTER TABLE receipts DISABLE TRIGGER receipts_append_only;
UPDATE receipts r
   SET route_telemetry = t.telemetry
  FROM route_telemetry t
 WHERE r.tenant_id = t.tenant_id AND r.receipt_id = t.decision_id;
ALTER TABLE receipts ENABLE TRIGGER receipts_append_only;
DROP TABLE route_telemetry;

-- GET /api/v1/telemetry/events?correlation_id=…: a tenant's routed
-- decisions with one correlation id, oldest first. Partial: named-worker
-- decisions have no telemetry and no entry.
CREATE INDEX receipts_route_telemetry_by_correlation
    ON receipts (tenant_id, (body ->> 'correlation_id'), decided_at, receipt_id)
    WHERE route_telemetry IS NOT NULL;

-- append_receipt_batch (migration 36) takes each receipt's telemetry with
-- its other columns instead of a separate set of rows.
DROP FUNCTION append_receipt_batch(
    text[], text[], bigint[], bigint[], bytea[], text[], bigint[], bigint[], bytea[],
    text[], bigint[], uuid[], text[], text[], timestamptz[], text[], text[], boolean[], jsonb[], text[],
    text[], text[], uuid[], json[],
    text[], smallint[], bigint[], bytea[],
    text[], text[], uuid[], text[], uuid[], jsonb[]);

CREATE FUNCTION append_receipt_batch(
    -- Each chain the batch appends to, as the writer found it and as it leaves it.
    chain_tenant text[], was_hash text[], was_length bigint[], was_tree_size bigint[], was_tree_edge bytea[],
    now_hash text[], now_length bigint[], now_tree_size bigint[], now_tree_edge bytea[],
    -- The receipts (a route decision's telemetry with its receipt; NULL for others).
    r_tenant text[], r_seq bigint[], r_id uuid[], r_hash text[], r_prev text[], r_at timestamptz[],
    r_worker text[], r_capability text[], r_denied boolean[], r_body jsonb[], r_reason text[],
    r_telemetry json[],
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
BEGIN
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
    -- chain's old and new length (the primary key refuses a position twice).
    IF coalesce(cardinality(r_tenant), 0) <> (
           SELECT coalesce(sum(h.now_length - h.was_length), 0)
           FROM unnest(chain_tenant, was_length, now_length) AS h(tenant_id, was_length, now_length))
       OR EXISTS (
           SELECT 1 FROM unnest(r_tenant, r_seq) AS r(tenant_id, seq)
           LEFT JOIN unnest(chain_tenant, was_length, now_length) AS h(tenant_id, was_length, now_length)
             ON h.tenant_id = r.tenant_id
           WHERE h.tenant_id IS NULL OR r.seq <= h.was_length OR r.seq > h.now_length) THEN
        RAISE EXCEPTION 'the batch''s receipts do not match the heads it moves'
            USING ERRCODE = 'HR003';
    END IF;
    INSERT INTO receipts (tenant_id, seq, receipt_id, receipt_hash, prev_receipt_hash, decided_at,
                          worker_id, capability_id, denied, body, deny_reason, route_telemetry)
    SELECT * FROM unnest(r_tenant, r_seq, r_id, r_hash, r_prev, r_at,
                         r_worker, r_capability, r_denied, r_body, r_reason, r_telemetry);
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
REVOKE EXECUTE ON FUNCTION append_receipt_batch FROM PUBLIC;

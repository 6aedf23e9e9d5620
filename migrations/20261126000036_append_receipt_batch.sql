-- A receipt batch in one round trip (issue 15, docs/performance.md).
--
-- The receipt writer keeps each chain's head (and tree edge) in memory from
-- the batch before, links, hashes and signs the new receipts onto it, and
-- then makes this one call: it locks the batch's chain rows (in tenant
-- order, as every writer does), checks that each is still the head the
-- receipts were linked onto, moves it, and inserts the receipts, their
-- route telemetry and the tree's new stored nodes, and completes the
-- receipts' idempotency claims. Alone (autocommit) it is the whole
-- transaction; a batch with webhook events or approvals, or one whose first
-- call found a head moved or a claim lost, calls it inside a transaction
-- that locked the heads and claims first.
--
-- A head that moved (another replica appended, or the row was changed
-- behind the writer's back) fails the whole call with SQLSTATE HR001 and
-- nothing is stored: the writer reads the heads again and seals the batch
-- anew. So a stale memory can cost a retry, never a fork or a gap — and the
-- primary key (tenant_id, seq) would refuse a fork even without the check.
-- A claim no longer held by its token (taken over after its lease ran out)
-- fails the call with HR002: the writer redoes the batch in a transaction
-- that leaves that receipt out.
CREATE FUNCTION append_receipt_batch(
    -- Each chain the batch appends to, as the writer found it and as it leaves it.
    chain_tenant text[], was_hash text[], was_length bigint[], was_tree_size bigint[], was_tree_edge bytea[],
    now_hash text[], now_length bigint[], now_tree_size bigint[], now_tree_edge bytea[],
    -- The receipts.
    r_tenant text[], r_seq bigint[], r_id uuid[], r_hash text[], r_prev text[], r_at timestamptz[],
    r_worker text[], r_capability text[], r_denied boolean[], r_body jsonb[], r_reason text[],
    -- Route decisions' telemetry.
    t_tenant text[], t_correlation text[], t_decision uuid[], t_telemetry json[],
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
                          worker_id, capability_id, denied, body, deny_reason)
    SELECT * FROM unnest(r_tenant, r_seq, r_id, r_hash, r_prev, r_at,
                         r_worker, r_capability, r_denied, r_body, r_reason);
    -- Each statement below starts an executor only when it has rows: most
    -- batches have no telemetry, no new stored node and no claim.
    IF cardinality(t_tenant) > 0 THEN
        INSERT INTO route_telemetry (tenant_id, correlation_id, decision_id, telemetry)
        SELECT * FROM unnest(t_tenant, t_correlation, t_decision, t_telemetry);
    END IF;
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

-- The Merkle tree of each tenant's receipt chain (RFC 9162; issue 14,
-- docs/audit.md). Kept by the receipt writer in each batch's transaction,
-- in the statements it already makes (no round trip more):
-- - `receipt_chains.tree_size` / `tree_edge`: the heads of the perfect
--   subtrees the tree of `tree_size` leaves is made of (32 bytes per set bit
--   of the size, largest first), so the tree head of the committed chain is
--   at hand without reading a receipt. A chain written before this migration
--   (tree_size < length) is caught up by the writer from its receipts.
-- - `receipt_tree_nodes`: every complete node at level 8, 16, 24, … (C2SP
--   tlog-tiles of height 8, level 0 being the receipts' own hashes): one row
--   per 256 receipts, from which any proof needs O(log n) reads.
ALTER TABLE receipt_chains
    ADD COLUMN tree_size bigint NOT NULL DEFAULT 0 CHECK (tree_size >= 0),
    ADD COLUMN tree_edge bytea  NOT NULL DEFAULT '\x'::bytea
        CHECK (octet_length(tree_edge) % 32 = 0);

CREATE TABLE receipt_tree_nodes (
    tenant_id text     NOT NULL REFERENCES tenants (id),
    level     smallint NOT NULL CHECK (level > 0 AND level % 8 = 0),
    index     bigint   NOT NULL CHECK (index >= 0),
    hash      bytea    NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (tenant_id, level, index)
);

-- Append-only, as the receipts are.
CREATE TRIGGER receipt_tree_nodes_append_only
    BEFORE UPDATE OR DELETE ON receipt_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION receipts_are_append_only();
CREATE TRIGGER receipt_tree_nodes_no_truncate
    BEFORE TRUNCATE ON receipt_tree_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION receipts_are_append_only();

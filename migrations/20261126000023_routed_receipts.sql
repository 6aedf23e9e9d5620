-- The router's decisions, newest first (GET /api/dispatches/recent): their
-- receipts carry route evidence (`matched_rule_id`, receipt format 3). A
-- partial index, so a tenant with many named-worker decisions and few
-- routed ones finds the latter without reading the former.
CREATE INDEX receipts_routed ON receipts (tenant_id, decided_at DESC, receipt_id DESC)
    WHERE body ? 'matched_rule_id';

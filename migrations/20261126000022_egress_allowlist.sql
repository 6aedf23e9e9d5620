-- The tenant's egress allowlist per env (WCP-Full §7 privilege envelopes):
-- {"prod": ["api.example.com", "db.internal:5432"]}. A worker declaring
-- egress to a destination not listed for the env is denied in prod/edge with
-- RESTRICTED data; no list for an env allows no declared egress there.
ALTER TABLE tenants ADD COLUMN egress_allowlist jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(egress_allowlist) = 'object');

-- Namespace signing keys: a key id is unique within its namespace, not
-- across the registry, so a tenant registering someone else's public key
-- on its own namespace blocks nobody else's (registering one also needs a
-- proof of possession, checked by the registry before the row is written).
ALTER TABLE namespace_keys DROP CONSTRAINT namespace_keys_kid_key;
ALTER TABLE namespace_keys DROP CONSTRAINT namespace_keys_pkey;
ALTER TABLE namespace_keys ADD PRIMARY KEY (namespace, kid);
DROP INDEX namespace_keys_namespace;
CREATE INDEX namespace_keys_tenant ON namespace_keys (tenant_id, namespace);

-- Revoked workers and keys are history, never deleted, and they no longer
-- keep a namespace from being released: they keep the namespace's name
-- after its row is gone (and stay their tenant's when it is transferred).
-- Only the operator's release removes a namespace row, and only once
-- nothing active lives under it (or after revoking what does, forced).
ALTER TABLE namespace_keys DROP CONSTRAINT namespace_keys_namespace_fkey;
ALTER TABLE workers DROP CONSTRAINT workers_namespace_fkey;
CREATE INDEX workers_namespace ON workers (namespace) WHERE status = 'active';

-- The operator's releases and transfers of namespaces, forced or not: who,
-- when, what, why. Append-only.
CREATE TABLE namespace_changes (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace       text        NOT NULL,
    action          text        NOT NULL CHECK (action IN ('release', 'transfer')),
    forced          boolean     NOT NULL,
    -- The holder before (none for a reservation) and, for a transfer, after.
    from_tenant     text,
    to_tenant       text,
    reason          text,
    -- The operator's credential: its tenant and its API key's id.
    actor_tenant    text        NOT NULL,
    actor_key_id    uuid        NOT NULL,
    -- What a forced change revoked (its holder's active workers and keys).
    revoked_workers bigint      NOT NULL DEFAULT 0,
    revoked_keys    bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT forced OR reason IS NOT NULL),
    CHECK ((action = 'transfer') = (to_tenant IS NOT NULL))
);
CREATE INDEX namespace_changes_namespace ON namespace_changes (namespace, id);

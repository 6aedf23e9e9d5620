-- Tenants: organisations or people on this registry. Exactly one tenant is
-- the operator (created at first start); it administers the others.
CREATE TABLE tenants (
    id           text        PRIMARY KEY,
    display_name text        NOT NULL,
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    is_operator  boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_single_operator ON tenants (is_operator) WHERE is_operator;

-- API keys: only the SHA-256 of each secret is stored. Keys are revoked,
-- never deleted, so the audit trail can always name the key that acted.
CREATE TABLE api_keys (
    tenant_id    text        NOT NULL REFERENCES tenants (id),
    id           uuid        NOT NULL,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    secret_hash  bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    scopes       text[]      NOT NULL CHECK (cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_secret_hash ON api_keys (secret_hash);
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
-- Two live keys of one tenant may not share a name.
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (tenant_id, name) WHERE revoked_at IS NULL;

-- Secrets the server generates once and every replica shares
-- (e.g. the session-token signing key).
CREATE TABLE server_secrets (
    name       text        PRIMARY KEY,
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

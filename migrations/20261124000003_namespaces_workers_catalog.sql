-- Authority namespaces (`x.<name>`, `org.<name>`): claimed by a tenant,
-- pending operator approval, or reserved by the operator.
CREATE TABLE namespaces (
    namespace  text        PRIMARY KEY,
    tenant_id  text        REFERENCES tenants (id),
    status     text        NOT NULL CHECK (status IN ('claimed', 'pending', 'reserved')),
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'reserved') = (tenant_id IS NULL))
);
CREATE INDEX namespaces_tenant ON namespaces (tenant_id, namespace);

-- Ed25519 public keys of a namespace. Revoked, never deleted: attestations
-- signed before the revocation must stay checkable.
CREATE TABLE namespace_keys (
    tenant_id  text        NOT NULL REFERENCES tenants (id),
    kid        text        NOT NULL,
    namespace  text        NOT NULL REFERENCES namespaces (namespace),
    public_key bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    label      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, kid),
    UNIQUE (kid)
);
CREATE INDEX namespace_keys_namespace ON namespace_keys (namespace);

-- Workers. `id` is the opaque registry id (`wrk_…`); `worker_id` the WCP id.
-- `record` is the registration as submitted (the artifact hash covers it).
CREATE TABLE workers (
    tenant_id            text        NOT NULL REFERENCES tenants (id),
    id                   text        NOT NULL,
    worker_id            text        NOT NULL,
    namespace            text        NOT NULL REFERENCES namespaces (namespace),
    species_id           text,
    capabilities         text[]      NOT NULL CHECK (cardinality(capabilities) > 0),
    policy_tier          smallint    NOT NULL CHECK (policy_tier BETWEEN 0 AND 8),
    risk_tier            text,
    allowed_environments text[]      NOT NULL,
    required_controls    text[]      NOT NULL,
    currently_implements text[]      NOT NULL,
    blast_radius         jsonb,
    privilege_envelope   jsonb,
    owner                text        NOT NULL,
    contact              text,
    artifact_hash        text,
    max_data_label       text        NOT NULL CHECK (max_data_label IN ('PUBLIC', 'INTERNAL', 'RESTRICTED')),
    visibility           text        NOT NULL CHECK (visibility IN ('public', 'private')),
    record               jsonb       NOT NULL,
    status               text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    revoked_at           timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX workers_registry_id ON workers (id);
CREATE UNIQUE INDEX workers_worker_id ON workers (worker_id);
CREATE INDEX workers_capabilities ON workers USING gin (capabilities);

-- The imported WCP catalog (capabilities, species, controls, profiles, policies).
CREATE TABLE catalog_entities (
    id              text        PRIMARY KEY,
    entity_type     text        NOT NULL,
    name            text,
    description     text,
    risk_tier       text,
    data            jsonb       NOT NULL,
    catalog_version text,
    imported_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_entities_type ON catalog_entities (entity_type, id);

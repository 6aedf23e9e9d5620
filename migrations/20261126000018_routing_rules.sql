-- Routing rules per tenant (PyHall rules JSON), as immutable versions.
-- Every receipt of a routed decision names the version in force, so a
-- version, once stored, is never changed or removed: the document a receipt
-- points at must stay the document that decided.
CREATE TABLE routing_rule_versions (
    tenant_id  text        NOT NULL REFERENCES tenants (id),
    version    integer     NOT NULL CHECK (version >= 1),
    -- The document as sent, in canonical JSON (sorted keys, no white space):
    -- `sha256` is over exactly these bytes.
    document   text        NOT NULL,
    sha256     text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    rule_count integer     NOT NULL CHECK (rule_count >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The API key that stored it (keys are revoked, never deleted).
    created_by uuid        NOT NULL,
    comment    text,
    PRIMARY KEY (tenant_id, version)
);

CREATE FUNCTION routing_rule_versions_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'routing rule versions are immutable: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER routing_rule_versions_immutable
    BEFORE UPDATE OR DELETE ON routing_rule_versions
    FOR EACH ROW EXECUTE FUNCTION routing_rule_versions_are_immutable();
CREATE TRIGGER routing_rule_versions_no_truncate
    BEFORE TRUNCATE ON routing_rule_versions
    FOR EACH STATEMENT EXECUTE FUNCTION routing_rule_versions_are_immutable();

-- Per tenant: the last version number handed out (the row lock of the
-- upsert serialises concurrent PUTs, so two never get the same number) and
-- the version in force (NULL: none; every route is denied).
CREATE TABLE routing_rules_state (
    tenant_id      text        PRIMARY KEY REFERENCES tenants (id),
    last_version   integer     NOT NULL CHECK (last_version >= 1),
    active_version integer,
    activated_at   timestamptz,
    activated_by   uuid,
    FOREIGN KEY (tenant_id, active_version) REFERENCES routing_rule_versions (tenant_id, version),
    CHECK ((active_version IS NULL) = (activated_at IS NULL)),
    CHECK (active_version IS NULL OR active_version <= last_version)
);

-- The rules in force are a decision fact: every process drops its compiled
-- copy when they change.
CREATE TRIGGER routing_rules_state_facts_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON routing_rules_state
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();

-- The tenant's golden snapshots (§5.2): cases a new rule set must pass
-- before it becomes active. Replaced as a whole.
CREATE TABLE routing_snapshots (
    tenant_id  text        PRIMARY KEY REFERENCES tenants (id),
    cases      jsonb       NOT NULL CHECK (jsonb_typeof(cases) = 'array'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by uuid        NOT NULL
);

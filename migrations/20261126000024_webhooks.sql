-- Webhooks (issue 16): a tenant's endpoints, the outbox of events, and one
-- delivery per event and endpoint.
--
-- An event is written in the transaction of the change it announces, with
-- its deliveries (fan-out at write time): the same statement finds the
-- tenant's enabled endpoints that subscribe, so nothing is written when none
-- does, and an endpoint registered later does not receive earlier events.

CREATE TABLE webhook_endpoints (
    tenant_id    text        NOT NULL REFERENCES tenants (id),
    id           text        PRIMARY KEY CHECK (id ~ '^whep_[0-9a-f]{32}$'),
    url          text        NOT NULL,
    -- Event type names, or '*' (every event that is not opt-in).
    event_types  text[]      NOT NULL CHECK (cardinality(event_types) >= 1),
    description  text,
    enabled      boolean     NOT NULL DEFAULT true,
    -- The signing secret, `whsec_<base64>`. It must sign, so it is kept,
    -- not hashed; it is never logged nor returned after the answer that
    -- creates or rotates it (docs/events.md says how it is protected).
    secret       text        NOT NULL,
    -- The secret a rotation replaced, signing beside the new one until
    -- `previous_secret_expires_at`.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    -- Since when every attempt to this endpoint has failed (NULL: the last
    -- one succeeded); past HALL_WEBHOOK_DISABLE_AFTER_DAYS it is disabled.
    failing_since timestamptz,
    -- Why it was disabled, when the registry did it.
    disabled_reason text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at, id);

-- Which endpoints subscribe to what is read by the decision path (is
-- `decision.denied` wanted?) from a copy in memory: every change is announced.
CREATE TRIGGER webhook_endpoints_facts_changed
    AFTER INSERT OR UPDATE OF enabled, event_types OR DELETE OR TRUNCATE ON webhook_endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();

-- The outbox: one row per event that at least one endpoint receives.
CREATE TABLE webhook_events (
    -- The `webhook-id` of every delivery of it, `msg_<uuidv7 hex>`.
    id          text        PRIMARY KEY CHECK (id ~ '^msg_[0-9a-f]{32}$'),
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id            text        PRIMARY KEY CHECK (id ~ '^whdl_[0-9a-f]{32}$'),
    tenant_id     text        NOT NULL,
    endpoint_id   text        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id      text        NOT NULL REFERENCES webhook_events (id),
    -- pending (to send, at next_attempt_at), delivered, failed (the
    -- schedule ran out).
    state         text        NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivered', 'failed')),
    -- When a pending delivery is due. A dispatcher that takes it moves this
    -- forward by its lease, so no other replica takes it meanwhile and a
    -- dispatcher that dies mid-attempt leaves it due again after the lease.
    next_attempt_at timestamptz,
    attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_attempt_at timestamptz,
    -- The last attempt: the HTTP status (NULL: no answer), how long it took,
    -- what went wrong without an answer, and the first KiB of the answer.
    last_status   integer,
    last_latency_ms integer,
    last_error    text,
    last_response text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id),
    CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
-- For the pruning of events no delivery refers to any more.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- Dispatchers LISTEN here: new deliveries are announced at commit, to
-- every replica. Statements that insert none announce nothing.
CREATE FUNCTION hall_webhooks_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM added) THEN
        PERFORM pg_notify('hall_webhooks', '');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_deliveries_added
    AFTER INSERT ON webhook_deliveries REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION hall_webhooks_added();

-- What the decision path reads of webhook endpoints (does an enabled
-- endpoint of the tenant name `decision.denied`?) changes only when one is
-- added or removed, enabled or disabled, or its event types change. The
-- statement trigger fired for any UPDATE naming those columns, so even a
-- description-only PATCH dropped every process's cached decision facts.
DROP TRIGGER webhook_endpoints_facts_changed ON webhook_endpoints;
CREATE TRIGGER webhook_endpoints_facts_changed
    AFTER INSERT OR DELETE OR TRUNCATE ON webhook_endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION hall_facts_changed();
CREATE TRIGGER webhook_endpoints_subscriptions_changed
    AFTER UPDATE OF enabled, event_types ON webhook_endpoints
    FOR EACH ROW
    WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled OR OLD.event_types IS DISTINCT FROM NEW.event_types)
    EXECUTE FUNCTION hall_facts_changed();

-- A tenant may make L7's REQUIRE_HUMAN advisory (WCP §5.8: a human is
-- notified, execution proceeds); L8's stays gatekeeper. Advisory decisions
-- open an approval too, as the record of what the human is told.
ALTER TABLE tenants ADD COLUMN l7_supervisor_level text NOT NULL DEFAULT 'gatekeeper'
    CHECK (l7_supervisor_level IN ('gatekeeper', 'advisory'));
ALTER TABLE approvals DROP CONSTRAINT approvals_supervisor_level_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_supervisor_level_check
    CHECK (supervisor_level IN ('advisory', 'gatekeeper', 'incident_commander'));

-- Ban reports are listed a page at a time (keyset on created_at, id),
-- filtered by hash or reporter, and a reporter's reports of the day are
-- counted against its daily quota.
CREATE INDEX ban_reports_by_time ON ban_reports (created_at, id);
CREATE INDEX ban_reports_by_reporter ON ban_reports (reporter_tenant, created_at, id);
CREATE INDEX ban_reports_by_hash ON ban_reports (sha256, created_at, id);

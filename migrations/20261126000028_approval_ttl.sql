-- A tenant's approval TTL (policy::approvals::ApprovalTtl): how long its
-- approvals wait for a human, and stay usable once approved. One hour, the
-- old constant, unless the tenant sets another; an approval keeps the
-- deadline it was given.
ALTER TABLE tenants ADD COLUMN approval_ttl_seconds integer NOT NULL DEFAULT 3600
    CHECK (approval_ttl_seconds BETWEEN 60 AND 604800);

-- A pending approval past its deadline is now stored `expired` by the
-- server's sweep, which announces it (`approval.expired`) in the same
-- transaction, once.
ALTER TABLE approvals DROP CONSTRAINT approvals_status_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_status_check
    CHECK (status IN ('pending', 'approved', 'denied', 'expired'));

-- The sweep takes the pending approvals past their deadline, every tenant's.
CREATE INDEX approvals_pending_deadline ON approvals (expires_at) WHERE status = 'pending';

-- Those that lapsed before the sweep existed are marked without an
-- announcement: they expired long before anyone subscribed to hear it.
UPDATE approvals SET status = 'expired' WHERE status = 'pending' AND expires_at <= now();

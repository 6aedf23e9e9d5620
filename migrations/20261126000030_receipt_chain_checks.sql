-- How far the background chain verifier (service::chain_check) has checked
-- each tenant's receipt chain, and the first break it found. Apart from
-- receipt_chains, whose rows the receipt writer locks on every batch: the
-- verifier never waits for the writer, nor the writer for it.
--
-- A verifier leases a row (leased_until) so that replicas do not check the
-- same chain at once, and moves verified_seq on only from the position it
-- started at, so a late verifier never moves it back or records a break
-- twice. Once broken_seq is set the chain is not checked further until an
-- operator has investigated and deletes the row (it is then checked again
-- from its first receipt).
CREATE TABLE receipt_chain_checks (
    tenant_id     text        PRIMARY KEY REFERENCES tenants (id),
    verified_seq  bigint      NOT NULL DEFAULT 0 CHECK (verified_seq >= 0),
    verified_hash text,
    verified_at   timestamptz,
    broken_seq    bigint      CHECK (broken_seq > 0),
    broken_reason text,
    broken_at     timestamptz,
    leased_until  timestamptz,
    CHECK ((broken_seq IS NULL) = (broken_reason IS NULL)),
    CHECK ((verified_seq = 0) = (verified_hash IS NULL))
);

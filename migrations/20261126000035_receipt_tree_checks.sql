-- How far the background chain verifier has checked each tenant's receipt
-- tree beside its chain (issue 14, docs/audit.md): the stored nodes up to
-- `tree_checked` leaves, and the checkpoints up to size
-- `checkpoints_checked`. Apart from `verified_seq`: the tree may lag the
-- chain (caught up later), and a checkpoint is issued after its receipts
-- were verified.
ALTER TABLE receipt_chain_checks
    ADD COLUMN tree_checked        bigint NOT NULL DEFAULT 0 CHECK (tree_checked >= 0),
    ADD COLUMN checkpoints_checked bigint NOT NULL DEFAULT 0 CHECK (checkpoints_checked >= 0);

//! The chain that checks itself (WCP §5.7: "chain breaks MUST be treated as
//! sev1 integrity events"): a background verifier on every replica
//! re-checks each tenant's new receipts — hash, link to the previous one,
//! signature against the published keys, and that the chain's recorded
//! head is where its receipts end — picking up where the last check
//! stopped, so each receipt is checked once however long the chain grows.
//! It checks the receipt tree beside the chain too (docs/audit.md): each
//! stored node the new receipts complete is the head of what is below it,
//! and each new checkpoint names the head the receipts make.
//!
//! Replicas share the work through leases on the chains
//! ([`registry::chain_checks`]). On a break the chain's first broken
//! position is recorded, `chain.integrity_failure` is written for the tenant
//! and the operator in the same transaction (once, whichever replica finds
//! it), and it is logged at error level; the chain is then left alone until
//! an operator has investigated (docs/events.md says how to re-check it).
//! Progress is in `/metrics` and `/readyz` ([`ChainCheckStatus`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use audit::{ChainCursor, ChainError, ChainHead, VerifiedSignatures};
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use registry::chain_checks::{ChainCheckSummary, ChainToCheck, StoredReceipt};
use registry::StoreError;
use webhooks::payloads::ChainIntegrityFailureEvent;

use crate::Hall;

/// Most receipts of one chain read and verified at once.
pub const CHUNK: u64 = 1000;
/// Chains one look leases: one, checked at once, so no lease waits (and
/// runs out) behind another chain's check.
const CHAINS_PER_LOOK: i64 = 1;
/// Most looks one check makes: under steady load chains are due again at
/// once, and a check must end for its summary to be taken.
const LOOKS_PER_CHECK: usize = 1000;
/// How long a leased chain stays another replica's: longer than a chunk takes.
const LEASE: Duration = Duration::from_secs(60);

/// What the verifier has done and found, for `/metrics` and `/readyz`:
/// this process's counts, and every chain's state as of its last look.
#[derive(Debug, Default)]
pub struct ChainCheckStatus {
    running: AtomicBool,
    /// Seconds between looks, as started.
    every_secs: AtomicU64,
    /// Receipts this process verified.
    verified_total: AtomicU64,
    /// Breaks this process found and recorded.
    breaks_total: AtomicU64,
    last: Mutex<Option<LastLook>>,
}

/// Every chain's state as of one look.
#[derive(Debug, Clone, Copy)]
pub struct LastLook {
    pub at: DateTime<Utc>,
    pub summary: ChainCheckSummary,
}

impl ChainCheckStatus {
    /// Whether this process runs the verifier.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Receipts this process has verified since it started.
    pub fn verified_total(&self) -> u64 {
        self.verified_total.load(Ordering::Relaxed)
    }

    /// Breaks this process has found and recorded since it started.
    pub fn breaks_total(&self) -> u64 {
        self.breaks_total.load(Ordering::Relaxed)
    }

    /// Whether `look` is older than three looks' worth of time (and at
    /// least a minute): the verifier has been failing since (the log says why).
    pub fn is_stale(&self, look: &LastLook, now: DateTime<Utc>) -> bool {
        let every = self.every_secs.load(Ordering::Relaxed);
        let limit = i64::try_from(every.saturating_mul(3).max(60)).unwrap_or(i64::MAX);
        (now - look.at).num_seconds() > limit
    }

    /// Every chain's state as of the last look, if there was one.
    pub fn last_look(&self) -> Option<LastLook> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn looked(&self, summary: ChainCheckSummary) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastLook {
            at: Utc::now(),
            summary,
        });
    }
}

/// What one chunk of a chain came to.
#[derive(Debug)]
enum Checked {
    /// Verified up to this head.
    Verified(ChainHead),
    /// Verified up to this head, then broken.
    Broken(ChainHead, ChainError),
}

/// What one look at every chain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CheckReport {
    /// Receipts verified.
    pub verified: u64,
    /// Breaks found and recorded (announced).
    pub breaks: u64,
}

impl Hall {
    /// Verifies every tenant's receipts not verified yet (the chains no
    /// other replica is checking), a chunk at a time, until none is left;
    /// records each break and announces it once. The server runs it every
    /// `HALL_CHAIN_CHECK_SECS`. Between chunks it pauses three times as long
    /// as the chunk's verifying took, so catching up uses at most about a
    /// quarter of one core.
    pub async fn check_chains(&self) -> Result<CheckReport, StoreError> {
        let mut report = CheckReport::default();
        for _ in 0..LOOKS_PER_CHECK {
            let leased = self
                .store
                .lease_chains_to_check(CHAINS_PER_LOOK, LEASE)
                .await?;
            let last_look = (leased.len() as i64) < CHAINS_PER_LOOK;
            if leased.is_empty() {
                break;
            }
            let keys = self.receipt_verifying_keys().await?;
            for chain in leased {
                let tenant = chain.tenant.clone();
                match self.check_chain(chain, &keys, &mut report).await {
                    Ok(()) => {}
                    Err(e) => {
                        // Leave it to the next look (here or on another replica).
                        let _ = self.store.release_chain_lease(&tenant).await;
                        return Err(e);
                    }
                }
            }
            if last_look {
                break;
            }
        }
        self.chain_checks
            .looked(self.store.chain_check_summary().await?);
        Ok(report)
    }

    /// Every key receipts were ever signed with, by kid.
    async fn receipt_verifying_keys(&self) -> Result<HashMap<String, VerifyingKey>, StoreError> {
        let mut keys = HashMap::new();
        for k in self.store.receipt_keys().await? {
            let key = <[u8; 32]>::try_from(k.public_key.as_slice())
                .ok()
                .and_then(|b| VerifyingKey::from_bytes(&b).ok());
            match key {
                Some(key) => {
                    keys.insert(k.kid, key);
                }
                // Its receipts will fail as signed with an unknown key.
                None => {
                    tracing::error!(kid = %k.kid, "a published receipt key is not an Ed25519 public key")
                }
            }
        }
        Ok(keys)
    }

    /// Verifies one leased chain up to its recorded head, a chunk at a time.
    async fn check_chain(
        &self,
        chain: ChainToCheck,
        keys: &HashMap<String, VerifyingKey>,
        report: &mut CheckReport,
    ) -> Result<(), StoreError> {
        let ChainToCheck {
            tenant,
            mut verified,
            recorded,
            tree_checked,
            checkpoints_checked,
            tree_size,
        } = chain;
        loop {
            let upto = recorded.length.min(verified.length + CHUNK);
            let stored = if upto > verified.length {
                self.store
                    .stored_receipts(&tenant, verified.length, upto)
                    .await?
            } else {
                Vec::new()
            };
            let started = Instant::now();
            let from = verified.clone();
            let (tenant_name, keys_now, recorded_now) =
                (tenant.to_string(), keys.clone(), recorded.clone());
            let checked = tokio::task::spawn_blocking(move || {
                check_chunk(&tenant_name, from, &stored, upto, &recorded_now, &keys_now)
            })
            .await
            .map_err(|e| StoreError::Corrupt(format!("chain check task: {e}")))?;
            let spent = started.elapsed();
            // At the recorded end: nothing may be stored past it.
            let checked = match checked {
                Checked::Verified(to) if to.length >= recorded.length => {
                    match self.store.receipt_beyond_head(&tenant).await? {
                        Some((seq, end)) => Checked::Broken(
                            to.clone(),
                            ChainError::BeyondHead {
                                index: usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX),
                                length: end,
                            },
                        ),
                        None => Checked::Verified(to),
                    }
                }
                checked => checked,
            };
            match checked {
                Checked::Verified(to) => {
                    let n = to.length.saturating_sub(verified.length);
                    let more = to.length < recorded.length;
                    if !self
                        .store
                        // Still leased: the tree is checked next.
                        .record_chain_verified(&tenant, &verified, &to, Some(LEASE))
                        .await?
                    {
                        // Another verifier moved it on: its lease ran out under us.
                        return Ok(());
                    }
                    report.verified += n;
                    self.chain_checks
                        .verified_total
                        .fetch_add(n, Ordering::Relaxed);
                    verified = to;
                    if !more {
                        break;
                    }
                }
                Checked::Broken(to, e) => {
                    let n = to.length.saturating_sub(verified.length);
                    if self
                        .record_break(&tenant, &verified, &to, recorded.length, &e, report)
                        .await?
                    {
                        report.verified += n;
                        self.chain_checks
                            .verified_total
                            .fetch_add(n, Ordering::Relaxed);
                    }
                    return Ok(());
                }
            }
            // Pace: verifying takes CPU the decisions need, so it waits
            // three times as long as it worked (a quarter of one core).
            tokio::time::sleep(spent * 3).await;
        }
        let tree = TreeToCheck {
            upto: verified.length.min(tree_size),
            nodes: tree_checked,
            checkpoints: checkpoints_checked,
        };
        self.check_tree_beside(&tenant, &verified, tree, report)
            .await
    }
}

/// How far a chain's tree has been checked, and how far it can be: the
/// stored nodes up to `nodes` leaves and the checkpoints up to size
/// `checkpoints`, of the tree's first `upto` leaves (verified receipts the
/// tree already holds).
#[derive(Debug, Clone, Copy)]
struct TreeToCheck {
    upto: u64,
    nodes: u64,
    checkpoints: u64,
}

/// Most leaves whose stored nodes one step checks.
const TREE_CHUNK: u64 = 4096;
/// Most checkpoints one step checks.
const CHECKPOINTS_PER_STEP: i64 = 500;

impl Hall {
    /// Records the break `e` in `tenant`'s chain — verified from `from` up
    /// to `to` before it, `chain_length` long — and announces it, if the
    /// chain still stands at `from` (else another verifier got there
    /// first); whether it was recorded here.
    async fn record_break(
        &self,
        tenant: &wcp::TenantId,
        from: &ChainHead,
        to: &ChainHead,
        chain_length: u64,
        e: &ChainError,
        report: &mut CheckReport,
    ) -> Result<bool, StoreError> {
        let position = e.index() as u64 + 1;
        let data = ChainIntegrityFailureEvent {
            tenant_id: tenant.to_string(),
            severity: "sev1".to_string(),
            position,
            receipt_id: e.receipt_id().map(str::to_string),
            kind: e.kind().to_string(),
            reason: e.to_string(),
            // The receipts before the break that verified.
            verified_through: if e.kind() == "tree_mismatch" {
                // Every receipt verified; the tree beside them did not.
                to.length
            } else {
                to.length.min(position - 1)
            },
            chain_length,
            detected_at: Utc::now(),
        };
        let recorded = self
            .store
            .record_chain_break(tenant, from, to, position, &e.to_string(), &data)
            .await?;
        if recorded {
            tracing::error!(
                tenant = %tenant, position, kind = e.kind(), reason = %e,
                "sev1: receipt chain integrity failure"
            );
            report.breaks += 1;
            self.chain_checks
                .breaks_total
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(recorded)
    }

    /// Checks the tree beside the tenant's verified receipts, a step at a
    /// time, from where the last check stopped: each stored node they
    /// complete is the head of the 256 nodes (or receipts) below it, and
    /// each checkpoint of a size among them names the head of the receipts.
    /// A difference is recorded (and announced) as a `tree_mismatch` break.
    /// Ends the chain's lease.
    async fn check_tree_beside(
        &self,
        tenant: &wcp::TenantId,
        verified: &ChainHead,
        mut at: TreeToCheck,
        report: &mut CheckReport,
    ) -> Result<(), StoreError> {
        loop {
            let started = Instant::now();
            let (found, next) = self.check_tree_step(tenant, at).await?;
            if let Some(e) = found {
                self.record_break(tenant, verified, verified, verified.length, &e, report)
                    .await?;
                return Ok(());
            }
            let more = next.nodes < at.upto || next.checkpoints != at.checkpoints;
            if !self
                .store
                .record_tree_checked(
                    tenant,
                    (at.nodes, at.checkpoints),
                    (next.nodes, next.checkpoints),
                    more.then_some(LEASE),
                )
                .await?
            {
                // Another verifier moved it on: its lease ran out under us.
                return Ok(());
            }
            if !more {
                return Ok(());
            }
            at = next;
            tokio::time::sleep(started.elapsed() * 3).await;
        }
    }

    /// One step of [`Hall::check_tree_beside`]: the stored nodes completed
    /// by up to [`TREE_CHUNK`] more leaves, then up to
    /// [`CHECKPOINTS_PER_STEP`] checkpoints of the leaves checked so far.
    /// The difference found, or how far it got.
    async fn check_tree_step(
        &self,
        tenant: &wcp::TenantId,
        at: TreeToCheck,
    ) -> Result<(Option<ChainError>, TreeToCheck), StoreError> {
        let store = self.store.tenant(tenant);
        let named = |index: u64, what: String| async move {
            let id = store.receipt_id_at(index + 1).await?;
            Ok::<_, StoreError>(Some(ChainError::TreeMismatch {
                index: usize::try_from(index).unwrap_or(usize::MAX),
                receipt_id: id.map(|i| i.to_string()).unwrap_or_default(),
                what,
            }))
        };
        let nodes_to = at.upto.min(at.nodes + TREE_CHUNK).max(at.nodes);
        // Lowest level first: the tile below a node is checked before it.
        let completed = audit::tree::stored_nodes_completed(at.nodes, nodes_to);
        if !completed.is_empty() {
            let below: std::collections::BTreeSet<audit::tree::NodeId> = completed
                .iter()
                .flat_map(|n| n.tile_below().nodes().collect::<Vec<_>>())
                .collect();
            let read = match store.stored_nodes(&completed).await {
                Ok(stored) => store.node_heads(&below).await.map(|heads| (stored, heads)),
                Err(e) => Err(e),
            };
            let (stored, heads) = match read {
                Ok(read) => read,
                // A stored node or receipt below is gone.
                Err(StoreError::Corrupt(why)) => {
                    let first = completed[0].leaves().0;
                    let e = named(first, format!("the receipt tree cannot be read: {why}"));
                    return Ok((e.await?, at));
                }
                Err(e) => return Err(e),
            };
            for node in &completed {
                let tile: Option<Vec<audit::merkle::Hash>> = node
                    .tile_below()
                    .nodes()
                    .map(|n| heads.get(&n).copied())
                    .collect();
                let made = tile.map(|t| audit::tree::perfect_head(&t));
                if made.is_none() || stored.get(node) != made.as_ref() {
                    let (first, count) = node.leaves();
                    let what = format!(
                        "the receipt tree's stored node at level {} index {} (receipts {} to {}) is {}",
                        node.level,
                        node.index,
                        first + 1,
                        first + count,
                        if stored.contains_key(node) {
                            "not the head of those receipts"
                        } else {
                            "missing"
                        }
                    );
                    return Ok((named(first, what).await?, at));
                }
            }
        }
        // The checkpoints of the leaves checked so far, whenever issued:
        // each must name the head the receipts make.
        let checkpoints = store
            .checkpoint_roots_between(at.checkpoints, nodes_to, CHECKPOINTS_PER_STEP)
            .await?;
        let mut checked = at.checkpoints;
        if !checkpoints.is_empty() {
            let ranges: Vec<(u64, u64)> = checkpoints.iter().map(|(size, _)| (0, *size)).collect();
            let made = match store.range_heads(&ranges).await {
                Ok(made) => made,
                Err(StoreError::Corrupt(why)) => {
                    let e = named(
                        at.checkpoints,
                        format!("the receipt tree cannot be read: {why}"),
                    );
                    return Ok((e.await?, at));
                }
                Err(e) => return Err(e),
            };
            for ((size, root), made) in checkpoints.iter().zip(made) {
                if made != *root {
                    let what = format!(
                        "the signed checkpoint of {size} receipts names a tree head that receipts 1 to {size} do not make: the tree was changed beside the chain after receipt {checked}"
                    );
                    return Ok((named(checked, what).await?, at));
                }
                checked = *size;
            }
        }
        Ok((
            None,
            TreeToCheck {
                upto: at.upto,
                nodes: nodes_to,
                checkpoints: checked,
            },
        ))
    }
}

/// Verifies `stored` — the receipts at positions `from.length + 1 ..= upto`
/// of `tenant`'s chain — from `from`, and, when `upto` is the recorded
/// head's length (or the head records fewer than were verified), that the
/// head is where they end.
fn check_chunk(
    tenant: &str,
    from: ChainHead,
    stored: &[StoredReceipt],
    upto: u64,
    recorded: &ChainHead,
    keys: &HashMap<String, VerifyingKey>,
) -> Checked {
    let mut cursor = ChainCursor::new(tenant, from);
    // The chunk's signatures at once; if one fails, each is checked alone
    // below, which names it.
    let readable: Vec<&audit::Receipt> = stored
        .iter()
        .filter_map(|r| r.receipt.as_ref().ok())
        .collect();
    let signed = VerifiedSignatures::check(&readable, keys);
    let mut rows = stored.iter();
    while cursor.verified().length < upto {
        let index = cursor.next_index();
        let expected = cursor.verified().length + 1;
        let broken = match rows.next() {
            Some(row) if row.seq == expected => match &row.receipt {
                Ok(r) => {
                    // The signed receipt first, then the columns beside it.
                    let mut next = cursor.clone();
                    match next.verify_next_with(r, keys, &signed) {
                        Err(e) => Some(e),
                        Ok(()) => match row.columns.differing_from(r) {
                            Some(column) => Some(ChainError::ColumnMismatch {
                                index,
                                receipt_id: r.content.receipt_id.clone(),
                                column,
                            }),
                            None => {
                                cursor = next;
                                None
                            }
                        },
                    }
                }
                Err(reason) => Some(ChainError::Unreadable {
                    index,
                    reason: reason.clone(),
                }),
            },
            // No row here: the next one (if any) is further on.
            _ => Some(ChainError::Missing {
                index,
                length: recorded.length,
            }),
        };
        if let Some(e) = broken {
            return Checked::Broken(cursor.verified().clone(), e);
        }
    }
    if upto == recorded.length || recorded.length < cursor.verified().length {
        if let Err(e) = cursor.verify_head(recorded) {
            return Checked::Broken(cursor.verified().clone(), e);
        }
    }
    Checked::Verified(cursor.verified().clone())
}

/// Runs [`Hall::check_chains`] every `every` in the background (a task of
/// every replica; leases keep them off each other's chains). Stops by
/// itself when the store closes at shutdown.
pub fn check_chains_forever(hall: Hall, every: Duration) {
    hall.chain_checks.running.store(true, Ordering::Relaxed);
    hall.chain_checks
        .every_secs
        .store(every.as_secs(), Ordering::Relaxed);
    crate::every(hall, every, "check the receipt chains", |hall| async move {
        hall.check_chains().await.map(|_| ())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit::{ReceiptKey, UnsignedReceipt};
    use ed25519_dalek::SigningKey;
    use registry::chain_checks::ReceiptColumns;
    use serde_json::json;

    fn content(n: u64) -> UnsignedReceipt {
        serde_json::from_value(json!({
            "receipt_id": format!("0193a1b2-0000-7000-8000-{n:012}"),
            "spec_version": "0.2.0", "tenant_id": "org.acme", "correlation_id": "c",
            "decided_at": "2026-11-24T12:00:00.000Z", "worker_id": "x.acme.w",
            "capability_id": "cap.x", "env": "dev", "data_label": "PUBLIC",
            "outcome": "ALLOW", "deny_code": null, "tier": 1, "policy_version": "p",
            "controls_verified": [], "request_hash": null, "dry_run": false,
            "prev_receipt_hash": null, "signing_key_id": ""
        }))
        .unwrap()
    }

    /// A chain of `n` receipts as stored, its head, and the keys.
    fn stored(n: u64) -> (Vec<StoredReceipt>, ChainHead, HashMap<String, VerifyingKey>) {
        let key = ReceiptKey::new(SigningKey::from_bytes(&[3u8; 32]));
        let mut head = ChainHead::GENESIS;
        let rows = (1..=n)
            .map(|seq| {
                let r = head.append(content(seq), &key);
                StoredReceipt {
                    seq,
                    columns: ReceiptColumns {
                        receipt_id: r.content.receipt_id.parse().unwrap(),
                        receipt_hash: r.receipt_hash.clone(),
                        prev_receipt_hash: r.content.prev_receipt_hash.clone(),
                        decided_at: r.content.decided_at.parse().unwrap(),
                        worker_id: r.content.worker_id.clone(),
                        capability_id: r.content.capability_id.clone(),
                        denied: r.content.outcome.is_deny(),
                        routed: false,
                        route_correlation_id: None,
                    },
                    receipt: Ok(r),
                }
            })
            .collect();
        let keys = HashMap::from([(key.kid.clone(), key.key.verifying_key())]);
        (rows, head, keys)
    }

    #[test]
    fn a_routed_flag_or_route_correlation_id_that_disagrees_with_the_receipt_is_a_break() {
        for (column, tamper) in [
            (
                "routed",
                (|c: &mut ReceiptColumns| c.routed = true) as fn(&mut ReceiptColumns),
            ),
            ("route_correlation_id", |c: &mut ReceiptColumns| {
                c.route_correlation_id = Some("not-its-id".into())
            }),
        ] {
            let (mut rows, head, keys) = stored(3);
            tamper(&mut rows[2].columns);
            let (at, e) = broken_from_start(&rows, 3, &head, &keys);
            assert_eq!(at.length, 2, "{column}: the cursor stays before it");
            assert!(
                matches!(e, ChainError::ColumnMismatch { index: 2, column: c, .. } if c == column),
                "{column}: {e}"
            );
        }
    }

    #[test]
    fn a_column_that_disagrees_with_its_signed_receipt_is_a_break() {
        let (mut rows, head, keys) = stored(3);
        rows[1].columns.worker_id = "x.acme.other".into();
        let (at, e) = broken_from_start(&rows, 3, &head, &keys);
        assert_eq!(at.length, 1, "the cursor stays before it");
        assert!(
            matches!(
                e,
                ChainError::ColumnMismatch {
                    index: 1,
                    column: "worker_id",
                    ..
                }
            ),
            "{e}"
        );
    }

    /// The break in `rows` checked from the chain's first receipt up to `upto`.
    fn broken_from_start(
        rows: &[StoredReceipt],
        upto: u64,
        head: &ChainHead,
        keys: &HashMap<String, VerifyingKey>,
    ) -> (ChainHead, ChainError) {
        broken(check_chunk(
            "org.acme",
            ChainHead::GENESIS,
            rows,
            upto,
            head,
            keys,
        ))
    }

    fn broken(c: Checked) -> (ChainHead, ChainError) {
        match c {
            Checked::Broken(h, e) => (h, e),
            Checked::Verified(h) => panic!("verified up to {h:?}"),
        }
    }

    #[test]
    fn an_intact_chunk_verifies_up_to_the_head() {
        let (rows, head, keys) = stored(4);
        match check_chunk("org.acme", ChainHead::GENESIS, &rows, 4, &head, &keys) {
            Checked::Verified(h) => assert_eq!(h, head),
            Checked::Broken(_, e) => panic!("{e}"),
        }
        // A chunk short of the head does not check the head.
        match check_chunk("org.acme", ChainHead::GENESIS, &rows[..2], 2, &head, &keys) {
            Checked::Verified(h) => assert_eq!(h.length, 2),
            Checked::Broken(_, e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_deleted_receipt_is_missing_at_its_position() {
        let (mut rows, head, keys) = stored(4);
        rows.remove(2);
        let (at, e) = broken_from_start(&rows, 4, &head, &keys);
        assert_eq!(at.length, 2);
        assert!(
            matches!(
                e,
                ChainError::Missing {
                    index: 2,
                    length: 4
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn the_newest_receipts_deleted_are_missing_though_nothing_follows_them() {
        let (mut rows, head, keys) = stored(4);
        rows.truncate(3);
        let (_, e) = broken_from_start(&rows, 4, &head, &keys);
        assert!(matches!(e, ChainError::Missing { index: 3, .. }), "{e}");
    }

    #[test]
    fn an_unreadable_body_is_a_break_not_an_error() {
        let (mut rows, head, keys) = stored(2);
        rows[1].receipt = Err("missing field `tier`".into());
        let (_, e) = broken_from_start(&rows, 2, &head, &keys);
        assert_eq!(e.kind(), "unreadable");
        assert_eq!(e.index(), 1);
    }

    #[test]
    fn a_head_cut_back_below_what_was_verified_is_a_break() {
        let (rows, head, keys) = stored(3);
        let cut = ChainHead {
            hash: rows[1]
                .receipt
                .as_ref()
                .ok()
                .map(|r| r.receipt_hash.clone()),
            length: 2,
        };
        let (_, e) = broken(check_chunk("org.acme", head, &[], 2, &cut, &keys));
        assert!(
            matches!(e, ChainError::HeadMismatch { index: 2, .. }),
            "{e}"
        );
    }
}

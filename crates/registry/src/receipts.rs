//! Durable receipts with group commit.
//!
//! Every decision's receipt goes through this process's [`ReceiptWriter`]:
//! one background task takes every receipt waiting, locks the chain rows of
//! their tenants (in tenant order, so writers in other processes cannot
//! deadlock with it), appends each receipt onto its tenant's head, inserts
//! them all and commits once. Only then does each caller get its receipt
//! back — a decision is never answered before its receipt is durable.
//! Under load, batches grow by themselves: while one commit is in flight the
//! next batch gathers.
//!
//! The store does no signing: how a receipt is linked to its head, stamped
//! with the key's id, hashed and signed is [`audit::ChainHead::append`], a
//! pure function, and the key is an opaque [`ReceiptKey`] of `audit`'s that
//! the writer only holds (and swaps on rotation). The batching loop stays
//! here, not in `service`, because group commit is one transaction whose
//! appends happen between locking the heads and inserting the rows: driving
//! it from another crate would mean handing an open transaction across, for
//! no fewer round trips. As it is, a batch costs what it always did — the
//! same statements in one transaction, every append synchronous between two
//! awaits, no allocation more than before.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use audit::{ChainHead, Receipt, UnsignedReceipt};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::idempotency::{self, IdempotencyClaim};
use crate::route_events::TelemetryRows;
use crate::tree::TreeRows;
use crate::{Store, StoreError, Unavailable};

/// Most receipts one transaction takes.
const MAX_BATCH: usize = 512;
/// Receipts waiting for the writer before callers wait for room.
const QUEUE: usize = 8192;

/// A receipt to append: everything but its place in the chain and its seal.
#[derive(Debug, Clone)]
pub struct PendingReceipt {
    pub content: UnsignedReceipt,
    /// `decided_at` as a time, for the indexed column.
    pub decided_at: chrono::DateTime<chrono::Utc>,
    pub denied: bool,
    pub deny_reason: Option<String>,
    /// The `Idempotency-Key` claim to complete with this receipt, if any.
    pub idempotency: Option<IdempotencyClaim>,
    /// A route decision's telemetry (WCP §5.4: what its envelopes add to
    /// the receipt), stored with the receipt in its transaction: both or
    /// neither. `None` for decisions about a named worker.
    pub telemetry: Option<routing::telemetry::Telemetry>,
    /// Announce this denial as `decision.denied`: set by the use case only
    /// when one of the tenant's endpoints subscribes (from its in-memory
    /// copy), so a batch without such denials costs no statement more.
    pub announce_denied: bool,
    /// The approval this decision opens (REQUIRE_HUMAN, or an advisory
    /// one; [`crate::approvals::NewApproval::opened`]): stored, and
    /// announced as `approval.pending`, in the receipt's transaction — it
    /// exists exactly when the decision does.
    pub opens: Option<crate::approvals::Approval>,
}

struct Job {
    receipt: PendingReceipt,
    done: oneshot::Sender<Result<Appended, Failed>>,
}

/// A committed receipt and where it is in its chain.
#[derive(Debug, Clone)]
pub struct Appended {
    pub receipt: Receipt,
    /// Its leaf in the tenant's Merkle tree: chain position − 1.
    pub leaf_index: u64,
}

/// Why a job got no receipt.
#[derive(Debug)]
enum Failed {
    /// Nothing of it was stored.
    NotCommitted(String),
    /// The connection was lost after COMMIT was sent: the receipt may be stored.
    Unknown(String),
}

/// Why a batch got no receipts.
#[derive(Debug)]
enum BatchError {
    /// A statement failed or COMMIT was refused: nothing of it was stored.
    NotCommitted(StoreError),
    /// The connection was lost after COMMIT was sent: it may be stored.
    Unknown(StoreError),
}

impl From<StoreError> for BatchError {
    fn from(e: StoreError) -> Self {
        BatchError::NotCommitted(e)
    }
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::NotCommitted(e.into())
    }
}

/// The signing key receipts are sealed with, and its id (`audit`'s).
pub use audit::ReceiptKey;

/// The key in force; a rotation replaces it between two batches.
type CurrentKey = Arc<RwLock<Arc<ReceiptKey>>>;

/// Appends receipts to their tenants' chains, in batches.
#[derive(Clone)]
pub struct ReceiptWriter {
    jobs: mpsc::Sender<Job>,
    key: CurrentKey,
}

impl ReceiptWriter {
    pub fn start(store: Store, key: ReceiptKey) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let key: CurrentKey = Arc::new(RwLock::new(Arc::new(key)));
        tokio::spawn(run(store, key.clone(), rx));
        Self { jobs, key }
    }

    /// The key receipts are signed with now.
    pub fn key(&self) -> Arc<ReceiptKey> {
        self.key.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Signs every receipt from the next batch on with `key`.
    pub fn set_key(&self, key: ReceiptKey) {
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }

    /// Appends one receipt and returns it sealed, once it is committed.
    pub async fn append(&self, receipt: PendingReceipt) -> Result<Receipt, StoreError> {
        self.append_at(receipt).await.map(|a| a.receipt)
    }

    /// Appends one receipt and returns it sealed, with its leaf index, once
    /// it is committed.
    pub async fn append_at(&self, receipt: PendingReceipt) -> Result<Appended, StoreError> {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send(Job { receipt, done })
            .await
            .map_err(|_| Unavailable::WriterStopped)?;
        match wait.await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(Failed::NotCommitted(e))) => Err(Unavailable::NotCommitted(e).into()),
            Ok(Err(Failed::Unknown(e))) => Err(Unavailable::CommitUnknown(e).into()),
            // The writer ended with this receipt in its queue.
            Err(_) => Err(Unavailable::WriterStopped.into()),
        }
    }
}

async fn run(store: Store, key: CurrentKey, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let key = key.read().unwrap_or_else(|p| p.into_inner()).clone();
        match commit(&store, &key, &jobs).await {
            Err(BatchError::NotCommitted(StoreError::Database(e))) if jobs.len() > 1 => {
                // The database refused something in the batch (e.g. a
                // receipt of a tenant that is not there) and stored none of
                // it: each job is tried alone, so only the bad one fails.
                tracing::warn!(error = %e, count = jobs.len(), "receipt batch refused; committing its receipts one by one");
                for job in jobs {
                    let sealed = commit(&store, &key, std::slice::from_ref(&job)).await;
                    deliver(vec![job], sealed);
                }
            }
            sealed => deliver(jobs, sealed),
        }
    }
}

/// Answers each job of a batch with its receipt or why it has none.
fn deliver(jobs: Vec<Job>, sealed: Result<Vec<Result<Appended, String>>, BatchError>) {
    match sealed {
        Ok(sealed) => {
            for (job, receipt) in jobs.into_iter().zip(sealed) {
                let _ = job.done.send(receipt.map_err(Failed::NotCommitted));
            }
        }
        Err(e) => {
            let (e, failed): (_, fn(String) -> Failed) = match e {
                BatchError::NotCommitted(e) => (e, Failed::NotCommitted),
                BatchError::Unknown(e) => (e, Failed::Unknown),
            };
            tracing::error!(error = %e, count = jobs.len(), "receipt batch failed; its decisions fail");
            for job in jobs {
                let _ = job.done.send(Err(failed(e.to_string())));
            }
        }
    }
}

/// The columns of a batch of receipt rows, for one `INSERT … SELECT unnest(…)`.
#[derive(Default)]
struct ReceiptRows {
    tenant: Vec<String>,
    seq: Vec<i64>,
    id: Vec<Uuid>,
    hash: Vec<String>,
    prev: Vec<Option<String>>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    worker: Vec<String>,
    cap: Vec<String>,
    denied: Vec<bool>,
    body: Vec<serde_json::Value>,
    reason: Vec<Option<String>>,
}

/// Why a receipt was left out of its batch.
const LOST_CLAIM: &str = "its Idempotency-Key claim was taken over after its lease ran out";

/// One transaction for the whole batch. Returns each job's sealed receipt, in
/// job order, or why it was left out (a lost idempotency claim).
async fn commit(
    store: &Store,
    key: &ReceiptKey,
    jobs: &[Job],
) -> Result<Vec<Result<Appended, String>>, BatchError> {
    let tenants: Vec<String> = {
        let mut t: Vec<String> = jobs
            .iter()
            .map(|j| j.receipt.content.tenant_id.clone())
            .collect();
        t.sort();
        t.dedup();
        t
    };
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "INSERT INTO receipt_chains (tenant_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&tenants)
    .execute(&mut *tx)
    .await?;
    // Locked in tenant order: writers in other processes take them in the same order.
    let rows = sqlx::query(
        "SELECT tenant_id, head_hash, length, tree_size, tree_edge FROM receipt_chains
         WHERE tenant_id = ANY($1) ORDER BY tenant_id FOR UPDATE",
    )
    .bind(&tenants)
    .fetch_all(&mut *tx)
    .await?;
    let mut heads: BTreeMap<String, ChainHead> = BTreeMap::new();
    let mut trees = TreeRows::default();
    for row in rows {
        let tenant: String = row.try_get("tenant_id")?;
        let length: i64 = row.try_get("length")?;
        let head = ChainHead {
            hash: row.try_get("head_hash")?,
            length: u64::try_from(length)
                .map_err(|_| StoreError::Corrupt(format!("chain length {length}")))?,
        };
        trees.start(
            &tenant,
            row.try_get("tree_size")?,
            row.try_get("tree_edge")?,
            head.length,
        );
        heads.insert(tenant, head);
    }

    // A job whose claim is no longer its own gets no receipt: the request
    // that took the key over makes the decision.
    let claims: Vec<&IdempotencyClaim> = jobs
        .iter()
        .filter_map(|j| j.receipt.idempotency.as_ref())
        .collect();
    let mut held = idempotency::lock_claims(&mut tx, &claims)
        .await?
        .into_iter();
    let mut completed = Vec::new();

    let mut sealed = Vec::with_capacity(jobs.len());
    let mut rows = ReceiptRows::default();
    let mut telemetry = TelemetryRows::default();
    let mut denied = Vec::new();
    let mut opened = Vec::new();
    for job in jobs {
        let p = &job.receipt;
        if p.idempotency.is_some() && held.next() != Some(true) {
            sealed.push(Err(LOST_CLAIM.to_string()));
            continue;
        }
        let head = heads.get_mut(&p.content.tenant_id).ok_or_else(|| {
            StoreError::Corrupt(format!("no chain row for {}", p.content.tenant_id))
        })?;
        let receipt = head.append(p.content.clone(), key);
        trees.append(&p.content.tenant_id, &receipt.receipt_hash)?;
        rows.tenant.push(receipt.content.tenant_id.clone());
        let seq = position(head)?;
        rows.seq.push(seq);
        let receipt_id = Uuid::parse_str(&receipt.content.receipt_id)
            .map_err(|e| StoreError::Corrupt(format!("receipt_id: {e}")))?;
        rows.id.push(receipt_id);
        rows.hash.push(receipt.receipt_hash.clone());
        rows.prev.push(receipt.content.prev_receipt_hash.clone());
        rows.at.push(p.decided_at);
        rows.worker.push(receipt.content.worker_id.clone());
        rows.cap.push(receipt.content.capability_id.clone());
        rows.denied.push(p.denied);
        rows.reason.push(p.deny_reason.clone());
        rows.body
            .push(serde_json::to_value(&receipt).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        if let Some(claim) = &p.idempotency {
            completed.push((claim, p.content.tenant_id.as_str(), receipt_id));
        }
        if let Some(t) = &p.telemetry {
            telemetry.add(
                &p.content.tenant_id,
                &p.content.correlation_id,
                receipt_id,
                t,
            )?;
        }
        if p.denied && p.announce_denied {
            let data = crate::webhooks::payload(&denied_data(&receipt, p))?;
            denied.push((receipt.content.tenant_id.clone(), data));
        }
        if let Some(a) = &p.opens {
            opened.push(a);
        }
        sealed.push(Ok(Appended {
            receipt,
            // Positions start at 1 (`position` is of a head just appended to).
            leaf_index: u64::try_from(seq - 1).unwrap_or_default(),
        }));
    }
    idempotency::complete_claims(&mut tx, &completed).await?;
    // The receipts, the route telemetry and the tree's new stored nodes in
    // one statement: neither costs a round trip more (the batch's round
    // trips are what its receipts wait for).
    let query = sqlx::query(
        "WITH telemetry AS (
            INSERT INTO route_telemetry (tenant_id, correlation_id, decision_id, telemetry)
            SELECT * FROM unnest($12::text[], $13::text[], $14::uuid[], $15::json[])
         ), nodes AS (
            INSERT INTO receipt_tree_nodes (tenant_id, level, index, hash)
            SELECT * FROM unnest($16::text[], $17::smallint[], $18::bigint[], $19::bytea[])
         )
         INSERT INTO receipts (tenant_id, seq, receipt_id, receipt_hash, prev_receipt_hash, decided_at,
            worker_id, capability_id, denied, body, deny_reason)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::text[],
            $6::timestamptz[], $7::text[], $8::text[], $9::boolean[], $10::jsonb[], $11::text[])",
    )
    .bind(&rows.tenant)
    .bind(&rows.seq)
    .bind(&rows.id)
    .bind(&rows.hash)
    .bind(&rows.prev)
    .bind(&rows.at)
    .bind(&rows.worker)
    .bind(&rows.cap)
    .bind(&rows.denied)
    .bind(&rows.body)
    .bind(&rows.reason);
    let query = telemetry.bind(query);
    trees.bind_nodes(query).execute(&mut *tx).await?;
    crate::webhooks::emit_each(&mut tx, ::webhooks::EventType::DecisionDenied, &denied).await?;
    crate::approvals::insert_opened(&mut tx, &opened).await?;
    let mut h_tenant = Vec::new();
    let mut h_hash = Vec::new();
    let mut h_len = Vec::new();
    let mut h_tree_size = Vec::new();
    let mut h_tree_edge = Vec::new();
    for (tenant, head) in &heads {
        // A tree not kept by this batch is written back as it was.
        let (size, edge) = trees.stored(tenant)?;
        h_tenant.push(tenant.clone());
        h_hash.push(head.hash.clone());
        h_len.push(position(head)?);
        h_tree_size.push(size);
        h_tree_edge.push(edge);
    }
    sqlx::query(
        "UPDATE receipt_chains c SET head_hash = u.head_hash, length = u.length,
            tree_size = u.tree_size, tree_edge = u.tree_edge, updated_at = now()
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[])
             AS u(tenant_id, head_hash, length, tree_size, tree_edge)
         WHERE c.tenant_id = u.tenant_id",
    )
    .bind(&h_tenant)
    .bind(&h_hash)
    .bind(&h_len)
    .bind(&h_tree_size)
    .bind(&h_tree_edge)
    .execute(&mut *tx)
    .await?;
    match tx.commit().await.map_err(StoreError::from) {
        Ok(()) => Ok(sealed),
        // COMMIT was sent and its answer lost: it may have been applied.
        Err(e @ StoreError::Unavailable(_)) => Err(BatchError::Unknown(e)),
        Err(e) => Err(BatchError::NotCommitted(e)),
    }
}

/// The `data` of `decision.denied` (docs/events.md).
fn denied_data(r: &Receipt, p: &PendingReceipt) -> ::webhooks::payloads::DecisionDeniedEvent {
    let c = &r.content;
    ::webhooks::payloads::DecisionDeniedEvent {
        tenant_id: c.tenant_id.clone(),
        receipt_id: c.receipt_id.clone(),
        receipt_hash: r.receipt_hash.clone(),
        correlation_id: c.correlation_id.clone(),
        decided_at: c.decided_at.clone(),
        worker_id: c.worker_id.clone(),
        capability_id: c.capability_id.clone(),
        env: c.env.clone(),
        data_label: c.data_label.clone(),
        deny_code: c.deny_code.clone(),
        deny_reason: p.deny_reason.clone(),
        tier: c.tier,
        dry_run: c.dry_run,
    }
}

/// The head's length as stored (`bigint`).
fn position(head: &ChainHead) -> Result<i64, StoreError> {
    i64::try_from(head.length)
        .map_err(|_| StoreError::Corrupt(format!("chain length {}", head.length)))
}

impl crate::TenantStore<'_> {
    /// The tenant's receipts in chain order, from position `after + 1`, at most `limit`.
    pub async fn receipts(
        &self,
        after: i64,
        limit: wcp::PageLimit,
    ) -> Result<Vec<(i64, Receipt)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, body FROM receipts WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(self.tenant.as_str())
        .bind(after)
        .bind(limit.as_i64())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let body: serde_json::Value = r.try_get("body")?;
                let receipt: Receipt =
                    serde_json::from_value(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((r.try_get("seq")?, receipt))
            })
            .collect()
    }
}

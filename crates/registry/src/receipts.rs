//! Durable receipts with group commit.
//!
//! Every decision's receipt goes through this process's [`ReceiptWriter`]:
//! one background task takes every receipt waiting, links each onto its
//! tenant's chain head, hashes and signs it, and stores the whole batch at
//! once. Only then does each caller get its receipt back — a decision is
//! never answered before its receipt is durable. Under load, batches grow by
//! themselves: while one batch's call is in flight the next gathers, each
//! receipt sealed as it comes onto the heads that call will leave, so the
//! next call starts as soon as the first returns.
//!
//! A batch of plain decisions costs one round trip: the writer remembers
//! each chain's head as its last commit left it, seals the batch onto it,
//! and one call of `append_receipt_batch` (migrations 36, 37) locks the chain
//! rows in tenant order, checks they are still those heads, moves them and
//! inserts the receipts and completes their idempotency claims,
//! autocommitted. A head that moved (another replica appended) or a claim
//! lost fails the call whole and the batch is sealed again under lock; a
//! batch with webhook events or approvals takes that locked transaction
//! directly. Either way no fork and no gap.
//!
//! The store does no signing: how a receipt is linked to its head, stamped
//! with the key's id, hashed and signed is [`audit::ChainHead::append`], a
//! pure function, and the key is an opaque [`ReceiptKey`] of `audit`'s that
//! the writer only holds (and swaps on rotation). The batching loop stays
//! here, not in `service`, because sealing is tied to the stored heads: the
//! heads the writer remembers, or those it locked in the transaction it
//! seals in when they moved — handing either across crates would mean
//! handing an open transaction, for no fewer round trips.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use audit::{ChainHead, Receipt, UnsignedReceipt};
use sqlx::{PgConnection, Row};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::idempotency::{self, CompletedClaims, IdempotencyClaim};
use crate::tree::TreeRows;
use crate::{has_sqlstate, Store, StoreError, Unavailable};

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
    /// The connection was lost after the batch's last statement (the
    /// autocommitted call, or COMMIT) was sent: the receipt may be stored.
    Unknown(String),
}

/// Why a batch got no receipts.
#[derive(Debug)]
enum BatchError {
    /// A statement failed or COMMIT was refused: nothing of it was stored.
    NotCommitted(StoreError),
    /// The connection was lost after its last statement was sent: it may be stored.
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

/// The writer's loop. One batch's call is in flight at a time; while it
/// runs, the receipts that arrive are sealed onto the heads it will leave
/// (the next batch), so that batch's call starts the moment the first one
/// returns, with everything that came meanwhile — the batches a writer
/// that waits would make, with the sealing no longer between two calls.
/// A next batch that cannot go this way (it holds an event or an approval
/// to write, or a contended chain's receipt; the key was rotated; the
/// call it was sealed onto failed) keeps gathering until the call in
/// flight returns, and is then sealed and committed the way [`commit`]
/// chooses.
async fn run(store: Store, key: CurrentKey, mut rx: mpsc::Receiver<Job>) {
    let mut known = KnownHeads::default();
    let mut in_flight: Option<InFlight> = None;
    let mut next = NextBatch::default();
    let mut arrived = Vec::with_capacity(MAX_BATCH);
    let mut open = true;
    loop {
        if in_flight.is_none() && !next.jobs.is_empty() {
            let batch = std::mem::take(&mut next);
            in_flight = launch(&store, &key, &mut known, batch).await;
            continue;
        }
        if !open && in_flight.is_none() {
            break;
        }
        let room = MAX_BATCH - next.jobs.len();
        tokio::select! {
            // The call first: a receipt waiting to be sealed waits less
            // than one whose answer is ready.
            biased;
            outcome = async {
                match in_flight.as_mut() {
                    Some(f) => (&mut f.call).await,
                    None => std::future::pending().await,
                }
            }, if in_flight.is_some() => {
                let Some(done) = in_flight.take() else { continue };
                let failed = match outcome {
                    Ok(Ok(())) => {
                        deliver(done.jobs, Ok(done.results));
                        continue;
                    }
                    Ok(Err(e)) => e,
                    Err(ended) => BatchError::Unknown(StoreError::Corrupt(format!(
                        "the receipt batch's call ended abnormally: {ended}"
                    ))),
                };
                // Nothing the next batch was sealed onto can be trusted.
                known.forget(&done.tenants);
                next.sealer = None;
                match failed {
                    // Refused by the database: committed again the way a
                    // batch with nothing in flight is (under lock if a head
                    // moved or a claim was lost, one by one if a receipt
                    // is refused).
                    BatchError::NotCommitted(StoreError::Database(e)) => {
                        if has_sqlstate(&e, HEAD_MOVED) {
                            known.contend(&done.tenants);
                        }
                        tracing::debug!(error = %e, "receipt batch committed again");
                        let key = current(&key);
                        let way = if needs_lock(&e) { Way::Locked } else { Way::Chosen };
                        commit_jobs(&store, &key, &mut known, done.jobs, way).await;
                    }
                    failed => deliver(done.jobs, Err(failed)),
                }
            }
            received = rx.recv_many(&mut arrived, room), if open && room > 0 => {
                if received == 0 {
                    open = false;
                } else {
                    next.add(&store, &key, &mut known, arrived.drain(..)).await;
                }
            }
        }
    }
}

/// The key in force now.
fn current(key: &CurrentKey) -> Arc<ReceiptKey> {
    key.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A batch whose call is running.
struct InFlight {
    jobs: Vec<Job>,
    results: Vec<Result<Appended, String>>,
    tenants: Vec<String>,
    call: tokio::task::JoinHandle<Result<(), BatchError>>,
}

/// The receipts that came while a call was in flight, sealed as they came
/// onto the heads that call leaves — or, once one of them cannot go that
/// way (`sealer` is `None`), only gathered, to be committed alone.
#[derive(Default)]
struct NextBatch {
    jobs: Vec<Job>,
    key: Option<Arc<ReceiptKey>>,
    sealer: Option<Sealer>,
}

impl NextBatch {
    /// Adds jobs in arrival order, sealing each if the batch still can be.
    async fn add(
        &mut self,
        store: &Store,
        key: &CurrentKey,
        known: &mut KnownHeads,
        jobs: impl Iterator<Item = Job>,
    ) {
        let jobs: Vec<Job> = jobs.collect();
        let now = current(key);
        if self.jobs.is_empty() {
            self.key = Some(now);
            self.sealer = Some(Sealer::default());
        } else if self.key.as_ref().is_some_and(|k| !Arc::ptr_eq(k, &now)) {
            // The key was rotated while this batch gathered: none of it is
            // signed with the retired key (it is sealed again, with the
            // key in force, when it is committed).
            self.sealer = None;
        }
        if self.sealer.is_some() {
            if let Err(e) = self.seal(store, known, &jobs).await {
                // The batch goes the way that reads and locks what it needs,
                // which reports this again if it persists.
                tracing::debug!(error = %e, "receipt batch not sealed ahead");
                self.sealer = None;
            }
        }
        self.jobs.extend(jobs);
    }

    async fn seal(
        &mut self,
        store: &Store,
        known: &mut KnownHeads,
        jobs: &[Job],
    ) -> Result<(), StoreError> {
        let (Some(sealer), Some(key)) = (self.sealer.as_mut(), self.key.as_ref()) else {
            return Ok(());
        };
        let mut tenants: Vec<String> = Vec::new();
        for job in jobs {
            let tenant = &job.receipt.content.tenant_id;
            if needs_transaction(&job.receipt) || known.contended(std::slice::from_ref(tenant)) {
                self.sealer = None;
                return Ok(());
            }
            if !sealer.has(tenant) && !tenants.contains(tenant) {
                tenants.push(tenant.clone());
            }
        }
        if !tenants.is_empty() {
            // Remembered heads (the call in flight's among them) or, for a
            // chain no batch of ours touched lately, as stored.
            tenants.sort();
            let heads = if tenants.iter().all(|t| known.heads.contains_key(t)) {
                known.of_known(&tenants)
            } else {
                let mut conn = store.pool().acquire().await?;
                known.of(&mut conn, &tenants).await?
            };
            for (tenant, stored) in heads {
                sealer.start(&tenant, stored);
            }
        }
        let first = self.jobs.len();
        for (i, job) in jobs.iter().enumerate() {
            // Every claim taken as held: the call fails whole (HR002) if one is not.
            sealer.add(job, first + i, key, true)?;
        }
        Ok(())
    }
}

/// Starts the batch's call, or — if it could not be sealed ahead —
/// commits it now, the way [`commit`] chooses. The heads a started call
/// will leave are remembered at once: the next batch is sealed onto them.
async fn launch(
    store: &Store,
    key: &CurrentKey,
    known: &mut KnownHeads,
    batch: NextBatch,
) -> Option<InFlight> {
    let NextBatch {
        jobs,
        key: sealed_with,
        sealer,
    } = batch;
    let key_now = current(key);
    let sealed = match sealer.map(Sealer::finish) {
        // Every job sealed, with the key still in force.
        Some(Ok(sealed))
            if sealed.results.len() == jobs.len()
                && sealed_with.is_some_and(|k| Arc::ptr_eq(&k, &key_now)) =>
        {
            sealed
        }
        _ => {
            commit_jobs(store, &key_now, known, jobs, Way::Chosen).await;
            return None;
        }
    };
    let tenants: Vec<String> = sealed.batch.before.keys().cloned().collect();
    known.remember(sealed.batch.after.clone());
    let pool = store.pool().clone();
    let batch = sealed.batch;
    let call = tokio::spawn(async move {
        let mut conn = pool.acquire().await.map_err(StoreError::from)?;
        append_batch(&mut conn, &batch).await.map_err(|e| match e {
            // Sent and its answer lost: it may have been applied.
            e @ StoreError::Unavailable(_) => BatchError::Unknown(e),
            e => BatchError::NotCommitted(e),
        })
    });
    Some(InFlight {
        jobs,
        results: sealed.results,
        tenants,
        call,
    })
}

/// Commits jobs with nothing in flight, and answers them: if the database
/// refuses the batch, each job is tried alone, so only the bad one fails.
async fn commit_jobs(
    store: &Store,
    key: &ReceiptKey,
    known: &mut KnownHeads,
    jobs: Vec<Job>,
    way: Way,
) {
    match commit(store, key, known, &jobs, way).await {
        Err(BatchError::NotCommitted(StoreError::Database(e))) if jobs.len() > 1 => {
            // The database refused something in the batch (e.g. a
            // receipt of a tenant that is not there) and stored none of
            // it: each job is tried alone, so only the bad one fails.
            tracing::warn!(error = %e, count = jobs.len(), "receipt batch refused; committing its receipts one by one");
            for job in jobs {
                let sealed = commit(store, key, known, std::slice::from_ref(&job), way).await;
                deliver(vec![job], sealed);
            }
        }
        sealed => deliver(jobs, sealed),
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
    /// The receipt as the JSON text it was sealed as, stored as that text
    /// (`json`, migration 41), with no `serde_json::Value` built for it.
    body: Vec<String>,
    reason: Vec<Option<String>>,
    /// A route decision's telemetry as JSON text (none for the others).
    telemetry: Vec<Option<String>>,
    /// Whether it is a decision of the router (`matched_rule_id`).
    routed: Vec<bool>,
    /// A route decision's correlation id, with its telemetry (none for the others).
    route_correlation: Vec<Option<String>>,
}

/// Why a receipt was left out of its batch.
const LOST_CLAIM: &str = "its Idempotency-Key claim was taken over after its lease ran out";

/// SQLSTATE of `append_receipt_batch` (migration 36) when a chain's head is
/// no longer the one the batch was linked onto.
const HEAD_MOVED: &str = "HR001";
/// SQLSTATE of `append_receipt_batch` when an idempotency claim it would
/// complete is no longer held by its token.
const CLAIM_LOST: &str = "HR002";

/// Most chain heads the writer remembers; past it, it forgets them all and
/// reads each again when it next appends to it (one query more, once).
const MAX_KNOWN_HEADS: usize = 4096;

/// How long a tenant whose head moved under this writer is written the
/// locked way (see [`KnownHeads::contend`]).
const CONTENDED_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// A chain's row in `receipt_chains`: its head and its tree.
#[derive(Debug, Clone)]
struct StoredHead {
    head: ChainHead,
    tree_size: i64,
    tree_edge: Vec<u8>,
}

/// The chains this writer appended to, as its last commit left them. A
/// batch is linked onto them without reading them first; the batch's call
/// checks each is still what is stored, and fails whole if one is not
/// (another replica appended, or the row was changed behind our back), so
/// a stale memory costs a retry, never a fork or a gap.
#[derive(Default)]
struct KnownHeads {
    heads: HashMap<String, StoredHead>,
    /// Tenants whose head moved under this writer lately (another replica
    /// appends to them too), until when: their batches go the locked way
    /// directly rather than fail the one-round-trip call and be redone.
    contended: HashMap<String, std::time::Instant>,
}

impl KnownHeads {
    /// The heads of `tenants`: those remembered, and the rest read (and
    /// their chain rows made, if missing).
    async fn of(
        &self,
        conn: &mut PgConnection,
        tenants: &[String],
    ) -> Result<BTreeMap<String, StoredHead>, StoreError> {
        let missing: Vec<String> = tenants
            .iter()
            .filter(|t| !self.heads.contains_key(*t))
            .cloned()
            .collect();
        let mut heads = if missing.is_empty() {
            BTreeMap::new()
        } else {
            read_heads(conn, &missing, false).await?
        };
        for t in tenants {
            if let Some(h) = self.heads.get(t) {
                heads.insert(t.clone(), h.clone());
            }
        }
        Ok(heads)
    }

    /// The remembered heads of `tenants`, every one of which is remembered.
    fn of_known(&self, tenants: &[String]) -> BTreeMap<String, StoredHead> {
        tenants
            .iter()
            .filter_map(|t| self.heads.get(t).map(|h| (t.clone(), h.clone())))
            .collect()
    }

    fn remember(&mut self, heads: BTreeMap<String, StoredHead>) {
        if self.heads.len() + heads.len() > MAX_KNOWN_HEADS {
            self.heads.clear();
        }
        self.heads.extend(heads);
    }

    fn forget(&mut self, tenants: &[String]) {
        for t in tenants {
            self.heads.remove(t);
        }
    }

    /// `tenants`' heads moved under this writer: for a while, lock first.
    fn contend(&mut self, tenants: &[String]) {
        let until = std::time::Instant::now() + CONTENDED_FOR;
        if self.contended.len() + tenants.len() > MAX_KNOWN_HEADS {
            self.contended.clear();
        }
        for t in tenants {
            self.contended.insert(t.clone(), until);
        }
    }

    /// Whether another writer appended to one of `tenants` lately.
    fn contended(&mut self, tenants: &[String]) -> bool {
        if self.contended.is_empty() {
            return false;
        }
        let now = std::time::Instant::now();
        self.contended.retain(|_, until| *until > now);
        tenants.iter().any(|t| self.contended.contains_key(t))
    }
}

/// The chain rows of `tenants` (made if missing), in tenant order; locked
/// (`FOR UPDATE`, inside a transaction) if `lock`.
async fn read_heads(
    conn: &mut PgConnection,
    tenants: &[String],
    lock: bool,
) -> Result<BTreeMap<String, StoredHead>, StoreError> {
    const MAKE: &str =
        "INSERT INTO receipt_chains (tenant_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING";
    const READ: &str = "SELECT tenant_id, head_hash, length, tree_size, tree_edge
         FROM receipt_chains WHERE tenant_id = ANY($1) ORDER BY tenant_id";
    const LOCK: &str = "SELECT tenant_id, head_hash, length, tree_size, tree_edge
         FROM receipt_chains WHERE tenant_id = ANY($1) ORDER BY tenant_id FOR UPDATE";
    if lock {
        // Made first, so that every row is locked in one statement, in tenant
        // order, as every writer locks them.
        sqlx::query(MAKE).bind(tenants).execute(&mut *conn).await?;
        return fetch_heads(conn, LOCK, tenants).await;
    }
    let heads = fetch_heads(conn, READ, tenants).await?;
    if heads.len() == tenants.len() {
        return Ok(heads);
    }
    sqlx::query(MAKE).bind(tenants).execute(&mut *conn).await?;
    fetch_heads(conn, READ, tenants).await
}

async fn fetch_heads(
    conn: &mut PgConnection,
    sql: &'static str,
    tenants: &[String],
) -> Result<BTreeMap<String, StoredHead>, StoreError> {
    let rows = sqlx::query(sql).bind(tenants).fetch_all(&mut *conn).await?;
    let mut heads = BTreeMap::new();
    for row in rows {
        let length: i64 = row.try_get("length")?;
        heads.insert(
            row.try_get("tenant_id")?,
            StoredHead {
                head: ChainHead {
                    hash: row.try_get("head_hash")?,
                    length: u64::try_from(length)
                        .map_err(|_| StoreError::Corrupt(format!("chain length {length}")))?,
                },
                tree_size: row.try_get("tree_size")?,
                tree_edge: row.try_get("tree_edge")?,
            },
        );
    }
    Ok(heads)
}

/// A batch linked, hashed and signed onto the heads it was given: each
/// job's receipt (or why it has none), what its call stores, and what its
/// transaction also writes on the locked way.
#[derive(Default)]
struct Sealed {
    /// Each job's receipt, or why it has none, in job order.
    results: Vec<Result<Appended, String>>,
    batch: BatchRows,
    denied: Vec<(String, serde_json::Value)>,
    /// The jobs (by index) whose approval opens with the receipt.
    opened: Vec<usize>,
}

/// What one call of `append_receipt_batch` stores: the heads it moves from
/// `before` to `after`, the receipt rows, the tree's new nodes and the
/// idempotency claims completed. Owned, so the call can run on its own
/// while the writer seals the next batch.
#[derive(Default)]
struct BatchRows {
    before: BTreeMap<String, StoredHead>,
    after: BTreeMap<String, StoredHead>,
    rows: ReceiptRows,
    trees: TreeRows,
    completed: CompletedClaims,
}

/// A batch being sealed one job at a time: each receipt linked onto its
/// chain's head as the previous one left it, hashed, signed and made a row.
/// A chain is [`started`](Self::start) from its stored head before its
/// first receipt. `sealed.batch.after` is filled by [`finish`](Self::finish)
/// from `heads`, each chain's head as its last receipt left it.
#[derive(Default)]
struct Sealer {
    heads: BTreeMap<String, ChainHead>,
    sealed: Sealed,
}

impl Sealer {
    fn has(&self, tenant: &str) -> bool {
        self.heads.contains_key(tenant)
    }

    /// `tenant`'s chain as stored, before this batch.
    fn start(&mut self, tenant: &str, stored: StoredHead) {
        self.sealed.batch.trees.start(
            tenant,
            stored.tree_size,
            stored.tree_edge.clone(),
            stored.head.length,
        );
        self.heads.insert(tenant.to_string(), stored.head.clone());
        self.sealed.batch.before.insert(tenant.to_string(), stored);
    }

    /// Seals job number `index` of the batch onto its chain; a job whose
    /// idempotency claim is not `held` gets no receipt.
    fn add(
        &mut self,
        job: &Job,
        index: usize,
        key: &ReceiptKey,
        held: bool,
    ) -> Result<(), StoreError> {
        let p = &job.receipt;
        if !held {
            self.sealed.results.push(Err(LOST_CLAIM.to_string()));
            return Ok(());
        }
        let head = self
            .heads
            .get_mut(p.content.tenant_id.as_str())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("no chain row for {}", p.content.tenant_id))
            })?;
        let (receipt, body) = head.append_with_json(p.content.clone(), key);
        let seq = position(head)?;
        let batch = &mut self.sealed.batch;
        batch
            .trees
            .append(&p.content.tenant_id, &receipt.receipt_hash)?;
        let rows = &mut batch.rows;
        rows.tenant.push(receipt.content.tenant_id.clone());
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
        rows.body.push(body);
        rows.routed.push(receipt.content.matched_rule_id.is_some());
        rows.route_correlation.push(
            p.telemetry
                .as_ref()
                .map(|_| receipt.content.correlation_id.clone()),
        );
        if let Some(claim) = &p.idempotency {
            batch.completed.add(claim, &p.content.tenant_id, receipt_id);
        }
        rows.telemetry.push(
            p.telemetry
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        if p.denied && p.announce_denied {
            let data = crate::webhooks::payload(&denied_data(&receipt, p))?;
            self.sealed
                .denied
                .push((receipt.content.tenant_id.clone(), data));
        }
        if p.opens.is_some() {
            self.sealed.opened.push(index);
        }
        self.sealed.results.push(Ok(Appended {
            receipt,
            // Positions start at 1 (`position` is of a head just appended to).
            leaf_index: u64::try_from(seq - 1).unwrap_or_default(),
        }));
        Ok(())
    }

    /// The sealed batch, with the heads it leaves.
    fn finish(self) -> Result<Sealed, StoreError> {
        let Sealer { heads, mut sealed } = self;
        for (tenant, head) in heads {
            // A tree not kept by this batch is written back as it was.
            let (tree_size, tree_edge) = sealed.batch.trees.stored(&tenant)?;
            sealed.batch.after.insert(
                tenant,
                StoredHead {
                    head,
                    tree_size,
                    tree_edge,
                },
            );
        }
        Ok(sealed)
    }
}

/// Whether a job needs the batch in an explicit transaction: an event or
/// an approval to write with its receipt.
fn needs_transaction(p: &PendingReceipt) -> bool {
    (p.denied && p.announce_denied) || p.opens.is_some()
}

/// One transaction for the whole batch. Returns each job's sealed receipt, in
/// job order, or why it was left out (a lost idempotency claim).
///
/// A batch of plain decisions is linked onto the heads the writer knows and
/// stored by one call in one round trip (`optimistic`); if a head moved or
/// a claim was lost, or a job needs more than its receipt written, the batch
/// goes the way that locks the heads and claims first (`locked`).
async fn commit(
    store: &Store,
    key: &ReceiptKey,
    known: &mut KnownHeads,
    jobs: &[Job],
    way: Way,
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
    if way == Way::Chosen
        && !jobs.iter().any(|j| needs_transaction(&j.receipt))
        && !known.contended(&tenants)
    {
        match optimistic(store, key, known, &tenants, jobs).await {
            Err(BatchError::NotCommitted(StoreError::Database(e))) if needs_lock(&e) => {
                tracing::debug!(error = %e, "receipt batch sealed again under lock");
                if has_sqlstate(&e, HEAD_MOVED) {
                    known.contend(&tenants);
                }
            }
            done => return done,
        }
    }
    locked(store, key, known, &tenants, jobs).await
}

/// How [`commit`] writes a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// In one call if it can, else locked.
    Chosen,
    /// Locked: its one-call attempt already failed on a moved head or a
    /// lost claim.
    Locked,
}

/// Whether the call failed because a head moved or a claim was lost: the
/// batch is sealed again with both locked.
fn needs_lock(e: &sqlx::Error) -> bool {
    has_sqlstate(e, HEAD_MOVED) || has_sqlstate(e, CLAIM_LOST)
}

/// The batch on the heads the writer knows, in one autocommitted call.
async fn optimistic(
    store: &Store,
    key: &ReceiptKey,
    known: &mut KnownHeads,
    tenants: &[String],
    jobs: &[Job],
) -> Result<Vec<Result<Appended, String>>, BatchError> {
    let ready = async {
        let mut conn = store.pool().acquire().await?;
        let before = known.of(&mut conn, tenants).await?;
        // Every claim taken as held: the call fails whole (HR002) if one is not.
        let sealed = seal(jobs, key, &before, &mut std::iter::repeat(true))?;
        Ok::<_, StoreError>((conn, sealed))
    }
    .await;
    let (mut conn, sealed) = match ready {
        Ok(r) => r,
        Err(e) => {
            known.forget(tenants);
            return Err(BatchError::NotCommitted(e));
        }
    };
    let sent = append_batch(&mut conn, &sealed.batch).await;
    settled(known, tenants, sent.map(|()| sealed))
}

/// The batch in a transaction that locks its heads first (and its
/// idempotency claims after them, as every writer does), then writes the
/// receipts with their claims' completion, events and approvals.
async fn locked(
    store: &Store,
    key: &ReceiptKey,
    known: &mut KnownHeads,
    tenants: &[String],
    jobs: &[Job],
) -> Result<Vec<Result<Appended, String>>, BatchError> {
    let ready = async {
        let mut tx = store.pool().begin().await?;
        let before = read_heads(&mut tx, tenants, true).await?;
        // A job whose claim is no longer its own gets no receipt: the request
        // that took the key over makes the decision.
        let claims: Vec<&IdempotencyClaim> = jobs
            .iter()
            .filter_map(|j| j.receipt.idempotency.as_ref())
            .collect();
        let mut held = idempotency::lock_claims(&mut tx, &claims)
            .await?
            .into_iter();
        let sealed = seal(jobs, key, &before, &mut held)?;
        append_batch(&mut tx, &sealed.batch).await?;
        crate::webhooks::emit_each(
            &mut tx,
            ::webhooks::EventType::DecisionDenied,
            &sealed.denied,
        )
        .await?;
        let opened: Vec<&crate::approvals::Approval> = sealed
            .opened
            .iter()
            .filter_map(|&i| jobs[i].receipt.opens.as_ref())
            .collect();
        crate::approvals::insert_opened(&mut tx, &opened).await?;
        Ok::<_, StoreError>((tx, sealed))
    }
    .await;
    let (tx, sealed) = match ready {
        Ok(r) => r,
        Err(e) => {
            known.forget(tenants);
            return Err(BatchError::NotCommitted(e));
        }
    };
    let sent = tx.commit().await.map_err(StoreError::from);
    settled(known, tenants, sent.map(|()| sealed))
}

/// The outcome of a batch once its last statement (the call alone, or
/// COMMIT) was sent: the heads it leaves are remembered, or, if it failed,
/// forgotten — and a lost connection means it may have been stored.
fn settled(
    known: &mut KnownHeads,
    tenants: &[String],
    sent: Result<Sealed, StoreError>,
) -> Result<Vec<Result<Appended, String>>, BatchError> {
    match sent {
        Ok(sealed) => {
            known.remember(sealed.batch.after);
            Ok(sealed.results)
        }
        Err(e) => {
            known.forget(tenants);
            Err(match e {
                // Sent and its answer lost: it may have been applied.
                e @ StoreError::Unavailable(_) => BatchError::Unknown(e),
                e => BatchError::NotCommitted(e),
            })
        }
    }
}

/// Links, hashes and signs each job's receipt onto `before` (skipping a job
/// whose claim `held` says was lost), with the rows to store.
fn seal(
    jobs: &[Job],
    key: &ReceiptKey,
    before: &BTreeMap<String, StoredHead>,
    held: &mut dyn Iterator<Item = bool>,
) -> Result<Sealed, StoreError> {
    let mut sealer = Sealer::default();
    for (tenant, stored) in before {
        sealer.start(tenant, stored.clone());
    }
    for (index, job) in jobs.iter().enumerate() {
        let held = job.receipt.idempotency.is_none() || held.next() == Some(true);
        sealer.add(job, index, key, held)?;
    }
    sealer.finish()
}

/// Stores a sealed batch with one call of `append_receipt_batch`
/// (migrations 36, 37, 41): checks and moves the heads from `before` to
/// `after`, inserts the receipts, their route telemetry and the tree's new
/// stored nodes — all or nothing, one round trip.
async fn append_batch(conn: &mut PgConnection, sealed: &BatchRows) -> Result<(), StoreError> {
    let mut chains = HeadColumns::default();
    for (tenant, was) in &sealed.before {
        let now = sealed
            .after
            .get(tenant)
            .ok_or_else(|| StoreError::Corrupt(format!("no head after the batch for {tenant}")))?;
        chains.tenant.push(tenant.as_str());
        chains.was_hash.push(was.head.hash.as_deref());
        chains.was_length.push(position(&was.head)?);
        chains.was_tree_size.push(was.tree_size);
        chains.was_tree_edge.push(was.tree_edge.as_slice());
        chains.now_hash.push(now.head.hash.as_deref());
        chains.now_length.push(position(&now.head)?);
        chains.now_tree_size.push(now.tree_size);
        chains.now_tree_edge.push(now.tree_edge.as_slice());
    }
    let rows = &sealed.rows;
    let query = sqlx::query(
        "SELECT append_receipt_batch(
            $1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bytea[],
            $6::text[], $7::bigint[], $8::bigint[], $9::bytea[],
            $10::text[], $11::bigint[], $12::uuid[], $13::text[], $14::text[], $15::timestamptz[],
            $16::text[], $17::text[], $18::boolean[], $19::json[], $20::text[], $21::json[],
            $22::boolean[], $23::text[],
            $24::text[], $25::smallint[], $26::bigint[], $27::bytea[],
            $28::text[], $29::text[], $30::uuid[], $31::text[], $32::uuid[], $33::jsonb[])",
    )
    .bind(&chains.tenant)
    .bind(&chains.was_hash)
    .bind(&chains.was_length)
    .bind(&chains.was_tree_size)
    .bind(&chains.was_tree_edge)
    .bind(&chains.now_hash)
    .bind(&chains.now_length)
    .bind(&chains.now_tree_size)
    .bind(&chains.now_tree_edge)
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
    .bind(&rows.reason)
    .bind(&rows.telemetry)
    .bind(&rows.routed)
    .bind(&rows.route_correlation);
    let query = sealed.trees.bind_nodes(query);
    sealed.completed.bind(query).execute(&mut *conn).await?;
    Ok(())
}

/// The chains' columns of `append_receipt_batch`: each head as the batch
/// found it and as it leaves it.
#[derive(Default)]
struct HeadColumns<'a> {
    tenant: Vec<&'a str>,
    was_hash: Vec<Option<&'a str>>,
    was_length: Vec<i64>,
    was_tree_size: Vec<i64>,
    was_tree_edge: Vec<&'a [u8]>,
    now_hash: Vec<Option<&'a str>>,
    now_length: Vec<i64>,
    now_tree_size: Vec<i64>,
    now_tree_edge: Vec<&'a [u8]>,
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

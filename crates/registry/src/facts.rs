//! In-process copies of what every decision and every credential check
//! reads: API keys, workers, tenants' decision policies and workers'
//! accepted attestations. With them a decision reads nothing from
//! PostgreSQL before it commits its receipt.
//!
//! PostgreSQL stays the truth. Triggers on the tables these come from
//! announce every change on the `hall_facts` channel, whoever makes it
//! (another replica, `hallctl`, an operator in psql); every process listens
//! and drops all its copies on each announcement. Copies are trusted only
//! while this process is listening: before the first `LISTEN`, and from the
//! moment the connection is lost until it is back, every read goes to
//! PostgreSQL. A copy is also never older than [`MAX_AGE`], whatever happens.
//!
//! A process that itself changes these tables calls [`FactsCache::invalidate`]
//! before it answers, so its own next request never sees the old state;
//! other replicas see the change as soon as PostgreSQL delivers the NOTIFY
//! (milliseconds).
//!
//! A read that races a change cannot put the old value back: each copy is
//! stored only if no announcement arrived since its read began (a
//! generation counter).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use policy::TenantPolicy;
use sqlx::postgres::PgListener;
use uuid::Uuid;
use wcp::TenantId;

use crate::attestations::{current_of, Attestation, StoredAttestation};
use crate::credentials::KeyHash;
use crate::workers::{Worker, WorkerRef};
use crate::{KeyCredential, Store, StoreError};

/// The channel the `hall_facts_changed()` triggers announce on.
pub const CHANNEL: &str = "hall_facts";
/// The oldest a copy may be, even while no change is announced.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// Entries one map holds before it starts over (bounds memory against
/// callers naming many different workers or keys).
const MAX_ENTRIES: usize = 50_000;
const RETRY: Duration = Duration::from_millis(250);

/// One map of copies, each stamped with when it was read.
struct Memo<K, V> {
    entries: RwLock<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    fn new() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, read_at)| read_at.elapsed() < MAX_AGE)
            .map(|(v, _)| v.clone())
    }

    /// Stores a copy read while the generation was `read_in`, unless the
    /// generation moved on meanwhile (the copy may predate a change).
    fn put(&self, key: K, value: V, read_in: u64, generation: &AtomicU64, read_at: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock: `invalidate` bumps the generation before it
        // clears, so a stale copy is either refused here or cleared there.
        if generation.load(Ordering::Acquire) != read_in {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (value, read_at));
    }

    fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// How often copies answered, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FactsStats {
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
}

/// This process's copies of decision facts.
pub struct FactsCache {
    store: Store,
    generation: AtomicU64,
    listening: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    credentials: Memo<[u8; 32], Option<KeyCredential>>,
    sessions: Memo<(String, Uuid), Option<KeyCredential>>,
    workers: Memo<String, Option<Arc<Worker>>>,
    /// `tenant \0 species` → the workers it may route to.
    species: Memo<String, Arc<[Arc<Worker>]>>,
    policies: Memo<String, Arc<TenantPolicy>>,
    attestations: Memo<String, Arc<[StoredAttestation]>>,
}

impl FactsCache {
    /// Copies trusted once this process listens for changes (in the background).
    pub fn start(store: Store) -> Arc<Self> {
        let this = Self::unlistened(store);
        let follower = Arc::downgrade(&this);
        tokio::spawn(follow(follower));
        this
    }

    /// Copies never trusted: every read goes to PostgreSQL (for tools and tests).
    pub fn unlistened(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            credentials: Memo::new(),
            sessions: Memo::new(),
            workers: Memo::new(),
            species: Memo::new(),
            policies: Memo::new(),
            attestations: Memo::new(),
        })
    }

    /// Copies trusted although nobody listens: only this process's own
    /// [`invalidate`](Self::invalidate) calls and [`MAX_AGE`] refresh them.
    /// For tests that show a use case drops what it changed (with a listener,
    /// PostgreSQL's NOTIFY would hide a missing call); a server [`start`]s.
    ///
    /// [`start`]: Self::start
    pub fn without_notifications(store: Store) -> Arc<Self> {
        let this = Self::unlistened(store);
        this.listening.store(true, Ordering::Release);
        this
    }

    /// Whether copies are being kept current (and so are used).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Drops every copy; reads already under way will not store theirs.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.credentials.clear();
        self.sessions.clear();
        self.workers.clear();
        self.species.clear();
        self.policies.clear();
        self.attestations.clear();
    }

    /// How many times copies were dropped so far. A copy a layer above
    /// derives from these facts (e.g. compiled routing rules) while this is
    /// `g` is current while it still is `g` and [`is_listening`] holds.
    ///
    /// [`is_listening`]: Self::is_listening
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> FactsStats {
        FactsStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.generation.load(Ordering::Relaxed),
        }
    }

    /// The copy in `memo` under `key`, or what `load` reads (then kept).
    async fn through<K, Q, V, F>(
        &self,
        memo: &Memo<K, V>,
        key: &Q,
        load: F,
        keep: impl Fn(&V) -> bool,
    ) -> Result<V, StoreError>
    where
        K: Eq + Hash + Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
        V: Clone,
        F: std::future::Future<Output = Result<V, StoreError>>,
    {
        if !self.is_listening() {
            return load.await;
        }
        if let Some(v) = memo.get(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let read_in = self.generation.load(Ordering::Acquire);
        let read_at = Instant::now();
        let value = load.await?;
        if keep(&value) && self.is_listening() {
            memo.put(
                key.to_owned(),
                value.clone(),
                read_in,
                &self.generation,
                read_at,
            );
        }
        Ok(value)
    }

    /// The credential whose secret hashes to `hash`. Unknown secrets are
    /// not remembered (anyone can send many).
    pub async fn credential_by_secret(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<KeyCredential>, StoreError> {
        self.through(
            &self.credentials,
            &hash.0,
            self.store.credential_by_secret(hash),
            Option::is_some,
        )
        .await
    }

    /// The trusted copy of the key whose secret hashes to `hash`, if this
    /// process holds one (a hit); `None` means checking it costs a query
    /// ([`credential_by_secret`](Self::credential_by_secret)).
    pub fn credential_in_memory(&self, hash: &KeyHash) -> Option<KeyCredential> {
        if !self.is_listening() {
            return None;
        }
        let found = self.credentials.get(&hash.0).flatten()?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(found)
    }

    /// The key behind a session token of `tenant`.
    pub async fn session_credential(
        &self,
        tenant: &TenantId,
        key_id: Uuid,
    ) -> Result<Option<KeyCredential>, StoreError> {
        self.through(
            &self.sessions,
            &(tenant.to_string(), key_id),
            self.store.tenant(tenant).credential_by_id(key_id),
            Option::is_some,
        )
        .await
    }

    /// The worker a decision names, whoever owns it (see
    /// [`Store::worker_for_decision`]). Absence is remembered too: a
    /// registration announces a change like any other.
    pub async fn worker(&self, worker: &WorkerRef) -> Result<Option<Arc<Worker>>, StoreError> {
        let key = worker.cache_key();
        self.through(
            &self.workers,
            key.as_str(),
            async { Ok(self.store.worker_for_decision(worker).await?.map(Arc::new)) },
            |_| true,
        )
        .await
    }

    /// A worker as `viewer` may see it (`policy::visibility::may_see`, no
    /// signatories: verification and discovery). Everything else is `None`,
    /// exactly as for a worker that does not exist.
    pub async fn visible_worker(
        &self,
        worker: &WorkerRef,
        viewer: Option<&TenantId>,
    ) -> Result<Option<Arc<Worker>>, StoreError> {
        Ok(self.worker(worker).await?.filter(|w| {
            policy::visibility::may_see(&w.tenant_id, w.record.visibility, viewer, &[])
        }))
    }

    /// The workers of `species` that `tenant` may route to
    /// (`TenantStore::workers_of_species`), in `worker_id` order. A change
    /// to workers or to tenants (signatories) is announced like any other.
    pub async fn workers_of_species(
        &self,
        tenant: &TenantId,
        species: &wcp::SpeciesId,
    ) -> Result<Arc<[Arc<Worker>]>, StoreError> {
        let key = format!("{tenant}\0{species}");
        self.through(
            &self.species,
            key.as_str(),
            async {
                let workers = self
                    .store
                    .tenant(tenant)
                    .workers_of_species(species)
                    .await?;
                Ok(workers.into_iter().map(Arc::new).collect())
            },
            |_| true,
        )
        .await
    }

    /// A tenant's decision policy (floors, signatories, attestation age).
    pub async fn decision_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Arc<TenantPolicy>, StoreError> {
        self.through(
            &self.policies,
            tenant.as_str(),
            async { Ok(Arc::new(self.store.decision_policy(tenant).await?)) },
            |_| true,
        )
        .await
    }

    /// The attestation in force for a worker at `now`. The accepted
    /// attestations are copied; which of them holds is judged afresh on
    /// every call, so a card that expires is no longer current at once.
    pub async fn current_attestation(
        &self,
        worker_registry_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Attestation>, StoreError> {
        let candidates = self
            .through(
                &self.attestations,
                worker_registry_id,
                async {
                    Ok(Arc::from(
                        self.store
                            .attestation_candidates(worker_registry_id)
                            .await?,
                    ))
                },
                |_| true,
            )
            .await?;
        Ok(current_of(&candidates, now))
    }
}

/// Listens for changes for as long as the cache lives.
async fn follow(cache: Weak<FactsCache>) {
    loop {
        let Some(this) = cache.upgrade() else { return };
        let result = listen(&this).await;
        this.listening.store(false, Ordering::Release);
        this.invalidate();
        if this.store.is_closed() {
            // Shutting down: the pool was closed on purpose.
            tracing::debug!("stopped following decision facts: the pool is closed");
            return;
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "lost the change feed of decision facts; reading PostgreSQL until it is back");
        }
        drop(this);
        tokio::time::sleep(RETRY).await;
    }
}

async fn listen(this: &FactsCache) -> Result<(), String> {
    let mut listener = PgListener::connect_with(this.store.pool())
        .await
        .map_err(|e| e.to_string())?;
    listener.listen(CHANNEL).await.map_err(|e| e.to_string())?;
    // Listening first, trusting second: nothing cached before now survives.
    this.invalidate();
    this.listening.store(true, Ordering::Release);
    loop {
        // try_recv yields None when the connection dropped (sqlx reconnects
        // on the next call): announcements may have been missed.
        match listener.try_recv().await {
            Ok(Some(_)) => this.invalidate(),
            Ok(None) => return Err("PostgreSQL LISTEN connection dropped".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_read_before_an_invalidation_is_not_kept() {
        let memo = Memo::<String, u32>::new();
        let generation = AtomicU64::new(0);
        let read_in = generation.load(Ordering::Acquire);
        // A change is announced while the read is under way.
        generation.fetch_add(1, Ordering::AcqRel);
        memo.clear();
        memo.put("k".into(), 1, read_in, &generation, Instant::now());
        assert_eq!(memo.get("k"), None);
        // A read that began after the announcement is kept.
        memo.put("k".into(), 2, 1, &generation, Instant::now());
        assert_eq!(memo.get("k"), Some(2));
    }

    #[test]
    fn copies_older_than_their_maximum_age_are_not_used() {
        let memo = Memo::<String, u32>::new();
        let generation = AtomicU64::new(0);
        let Some(long_ago) = Instant::now().checked_sub(MAX_AGE + Duration::from_millis(1)) else {
            return; // the clock started less than MAX_AGE ago; nothing to test
        };
        memo.put("k".into(), 1, 0, &generation, long_ago);
        assert_eq!(memo.get("k"), None);
    }

    #[test]
    fn a_full_map_starts_over_instead_of_growing() {
        let memo = Memo::<u32, u32>::new();
        let generation = AtomicU64::new(0);
        for i in 0..=MAX_ENTRIES as u32 {
            memo.put(i, i, 0, &generation, Instant::now());
        }
        let len = memo.entries.read().unwrap().len();
        assert!(len <= MAX_ENTRIES, "{len}");
        assert_eq!(memo.get(&(MAX_ENTRIES as u32)), Some(MAX_ENTRIES as u32));
    }
}

//! What every handler can reach: the use cases ([`service::Hall`], which
//! holds the store, the fact and ban copies and the receipt writer, once)
//! and what belongs to HTTP and this process only.

use std::sync::Arc;

use registry::bans::BanCache;
use registry::facts::FactsCache;
use registry::receipts::ReceiptWriter;
use registry::{Cache, Store};

use crate::auth::AuthConfig;
use crate::metrics::Metrics;

pub struct AppState {
    /// The use cases and what they work with: the store, this process's
    /// copies of decision facts and of the ban set, the receipt writer.
    pub hall: service::Hall,
    pub cache: Cache,
    /// Rate-limit counters of this process, used while Redis is unreachable.
    pub local_limits: Cache,
    /// Until when (Unix ms) rate limiting skips Redis after a failure, so a
    /// Redis outage does not add a timeout to every request.
    pub redis_backoff_until_ms: std::sync::atomic::AtomicU64,
    pub auth: AuthConfig,
    /// When this process last recorded each API key's use (the cached
    /// credential's `last_used_at` does not move).
    pub key_use_recorded:
        std::sync::Mutex<std::collections::HashMap<uuid::Uuid, std::time::Instant>>,
    /// Where the receipt signing key comes from (what a rotation may do).
    pub receipt_key_source: crate::receipt_keys::KeySource,
    pub metrics: Metrics,
    /// The bearer token `/metrics` requires (`HALL_METRICS_TOKEN`); `None`: public.
    pub metrics_token: Option<String>,
    /// The last readiness answer and when it was checked: `/readyz` is
    /// public and unlimited, so it asks PostgreSQL at most once a second.
    pub readiness: crate::routes::health::Readiness,
}

impl AppState {
    pub fn new(
        store: Store,
        cache: Cache,
        auth: AuthConfig,
        bans: Arc<BanCache>,
        receipts: ReceiptWriter,
    ) -> Self {
        let facts = FactsCache::start(store.clone());
        Self {
            hall: service::Hall::new(store, facts, bans, receipts),
            cache,
            local_limits: Cache::in_process(),
            redis_backoff_until_ms: std::sync::atomic::AtomicU64::new(0),
            auth,
            key_use_recorded: Default::default(),
            receipt_key_source: crate::receipt_keys::KeySource::Inline,
            metrics: Metrics::default(),
            metrics_token: None,
            readiness: Default::default(),
        }
    }
}

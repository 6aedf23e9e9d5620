//! The cache: Redis when `REDIS_URL` is set, an in-process map otherwise.
//!
//! Nothing here is the truth. Every key lives under a prefix (`hall:` by
//! default) so that several registries, or several tests, can share one Redis.
//! Callers must treat a [`CacheError`] as "unknown" and fall back to
//! PostgreSQL or fail closed; the cache never decides on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

/// Bound on every Redis round trip: a stalled Redis must not stall requests.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// The in-process map sweeps expired entries once it holds this many.
const LOCAL_SWEEP_THRESHOLD: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("invalid REDIS_URL: {0}")]
    InvalidUrl(String),
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
}

impl From<redis::RedisError> for CacheError {
    fn from(e: redis::RedisError) -> Self {
        CacheError::Unavailable(e.to_string())
    }
}

#[derive(Clone)]
pub enum Cache {
    InProcess(Arc<LocalCache>),
    Redis(RedisCache),
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Default)]
pub struct LocalCache {
    entries: Mutex<HashMap<String, LocalEntry>>,
}

struct LocalEntry {
    value: Vec<u8>,
    expires_at: Instant,
}

#[derive(Clone)]
pub struct RedisCache {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    display_url: String,
}

/// Announcements of ban-list changes (one item per announcement).
pub type ChangeStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = ()> + Send>>;

const BAN_SET_KEY: &str = "bans";
const BAN_CHANNEL: &str = "bans:changed";

impl Cache {
    /// A cache private to this process.
    pub fn in_process() -> Self {
        Cache::InProcess(Arc::new(LocalCache::default()))
    }

    /// Connects to Redis. Fails when the URL is invalid or Redis does not
    /// answer now; once connected, the connection re-establishes itself.
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(|e| CacheError::InvalidUrl(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            REDIS_TIMEOUT * 4,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| CacheError::Unavailable("timed out connecting".into()))??;
        let cache = RedisCache {
            client,
            conn,
            prefix: prefix.to_string(),
            display_url: crate::redact_url(url),
        };
        let cache = Cache::Redis(cache);
        cache.ping().await?;
        Ok(cache)
    }

    /// What start-up output and `/readyz` say about the cache.
    pub fn describe(&self) -> String {
        match self {
            Cache::InProcess(_) => "in-process cache (no REDIS_URL)".to_string(),
            Cache::Redis(r) => format!("Redis at {} (key prefix {:?})", r.display_url, r.prefix),
        }
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Cache::Redis(_))
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        match self {
            Cache::InProcess(_) => Ok(()),
            Cache::Redis(r) => {
                let mut conn = r.conn.clone();
                let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                Ok(())
            }
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::InProcess(local) => Ok(local.get(key)),
            Cache::Redis(r) => {
                let mut conn = r.conn.clone();
                Ok(conn.get(r.key(key)).await?)
            }
        }
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        match self {
            Cache::InProcess(local) => {
                local.set(key, value.to_vec(), ttl);
                Ok(())
            }
            Cache::Redis(r) => {
                let mut conn = r.conn.clone();
                let millis = ttl.as_millis().max(1) as u64;
                let _: () = redis::cmd("SET")
                    .arg(r.key(key))
                    .arg(value)
                    .arg("PX")
                    .arg(millis)
                    .query_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Cache::InProcess(local) => {
                local.lock().remove(key);
                Ok(())
            }
            Cache::Redis(r) => {
                let mut conn = r.conn.clone();
                let _: () = conn.del(r.key(key)).await?;
                Ok(())
            }
        }
    }

    /// Adds one to a counter that lives for `window` from its first increment
    /// and returns the new count and the time until the window resets: a
    /// fixed-window counter, shared by every process that shares the Redis.
    pub async fn incr_in_window(
        &self,
        key: &str,
        window: Duration,
    ) -> Result<(u64, Duration), CacheError> {
        match self {
            Cache::InProcess(local) => Ok(local.incr_in_window(key, window)),
            Cache::Redis(r) => {
                let mut conn = r.conn.clone();
                let millis = window.as_millis().max(1) as u64;
                // INCR, the expiry on first increment and the remaining time in
                // one atomic round trip.
                let (count, _, ttl): (u64, i64, i64) = redis::pipe()
                    .atomic()
                    .incr(r.key(key), 1u64)
                    .cmd("PEXPIRE")
                    .arg(r.key(key))
                    .arg(millis)
                    .arg("NX")
                    .cmd("PTTL")
                    .arg(r.key(key))
                    .query_async(&mut conn)
                    .await?;
                let reset = Duration::from_millis(ttl.clamp(0, millis as i64) as u64);
                Ok((count, reset))
            }
        }
    }
}

impl RedisCache {
    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

impl Cache {
    /// Replaces the confirmed ban set kept in Redis (no-op without Redis).
    pub async fn store_ban_set(
        &self,
        set: &std::collections::HashMap<String, String>,
    ) -> Result<(), CacheError> {
        let Cache::Redis(r) = self else { return Ok(()) };
        let mut conn = r.conn.clone();
        let key = r.key(BAN_SET_KEY);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key);
        if !set.is_empty() {
            let pairs: Vec<(&String, &String)> = set.iter().collect();
            pipe.hset_multiple(&key, &pairs);
        }
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Stores the ban set and announces the change to every process (no-op without Redis).
    pub async fn publish_ban_set(
        &self,
        set: &std::collections::HashMap<String, String>,
    ) -> Result<(), CacheError> {
        let Cache::Redis(r) = self else { return Ok(()) };
        self.store_ban_set(set).await?;
        let mut conn = r.conn.clone();
        let _: i64 = conn.publish(r.key(BAN_CHANNEL), "changed").await?;
        Ok(())
    }

    /// Subscribes to ban-list change announcements. The stream ends when the
    /// subscription is lost. Without Redis there is nothing to subscribe to.
    pub async fn subscribe_ban_changes(&self) -> Result<ChangeStream, CacheError> {
        let Cache::Redis(r) = self else {
            return Err(CacheError::Unavailable("no Redis configured".into()));
        };
        let mut pubsub = tokio::time::timeout(REDIS_TIMEOUT * 4, r.client.get_async_pubsub())
            .await
            .map_err(|_| CacheError::Unavailable("timed out subscribing".into()))??;
        pubsub.subscribe(r.key(BAN_CHANNEL)).await?;
        use futures_util::StreamExt;
        Ok(Box::pin(pubsub.into_on_message().map(|_| ())))
    }
}

impl LocalCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalEntry>> {
        // A panic while holding the lock leaves only cache entries behind; keep serving.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some(e) if e.expires_at > now => Some(e.value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= LOCAL_SWEEP_THRESHOLD {
            entries.retain(|_, e| e.expires_at > now);
        }
        entries.insert(
            key.to_string(),
            LocalEntry {
                value,
                expires_at: now + ttl,
            },
        );
    }

    fn incr_in_window(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= LOCAL_SWEEP_THRESHOLD {
            entries.retain(|_, e| e.expires_at > now);
        }
        let entry = entries
            .entry(key.to_string())
            .and_modify(|e| {
                if e.expires_at <= now {
                    e.value = 0u64.to_le_bytes().to_vec();
                    e.expires_at = now + window;
                }
            })
            .or_insert_with(|| LocalEntry {
                value: 0u64.to_le_bytes().to_vec(),
                expires_at: now + window,
            });
        let count = entry
            .value
            .as_slice()
            .try_into()
            .map(u64::from_le_bytes)
            .unwrap_or(0)
            + 1;
        entry.value = count.to_le_bytes().to_vec();
        (count, entry.expires_at.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_values_expire_after_their_ttl() {
        let cache = Cache::in_process();
        cache
            .set("k", b"v", Duration::from_millis(30))
            .await
            .unwrap();
        assert_eq!(cache.get("k").await.unwrap(), Some(b"v".to_vec()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(cache.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn in_process_window_counter_restarts_after_the_window() {
        let cache = Cache::in_process();
        let w = Duration::from_millis(40);
        assert_eq!(cache.incr_in_window("c", w).await.unwrap().0, 1);
        let (count, reset) = cache.incr_in_window("c", w).await.unwrap();
        assert_eq!(count, 2);
        assert!(reset <= w);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.incr_in_window("c", w).await.unwrap().0, 1);
    }

    #[tokio::test]
    async fn invalid_redis_url_is_reported_as_invalid() {
        let err = Cache::redis("http://not-redis", "t:").await.unwrap_err();
        assert!(matches!(err, CacheError::InvalidUrl(_)), "{err}");
    }
}

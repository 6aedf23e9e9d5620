//! Rate limiting: fixed one-minute windows per credential (or per client IP
//! without one), counted in Redis so replicas share them, and in this
//! process while Redis fails — limiting per process rather than not at all.

use std::time::Duration;

use chrono::Utc;

use crate::state::AppState;

const RATE_WINDOW: Duration = Duration::from_secs(60);

/// How long rate limiting stays off Redis after Redis failed.
const REDIS_BACKOFF: Duration = Duration::from_secs(5);

/// Routes that monitoring polls: never rate limited.
pub(super) fn exempt_from_limits(path: &str) -> bool {
    matches!(path, "/health" | "/readyz" | "/metrics")
}

/// Counts a request in its bucket: in Redis (shared by replicas), or in this
/// process while Redis is failing — limiting per process rather than not at all.
pub(super) async fn count_request(state: &AppState, bucket: &str) -> (u64, Duration) {
    use std::sync::atomic::Ordering;
    let now_ms = Utc::now().timestamp_millis().max(0) as u64;
    if state.cache.is_redis() && state.redis_backoff_until_ms.load(Ordering::Relaxed) <= now_ms {
        match state.cache.incr_in_window(bucket, RATE_WINDOW).await {
            Ok(counted) => return counted,
            Err(e) => {
                tracing::warn!(error = %e, "rate limiting falls back to this process for a while");
                state
                    .redis_backoff_until_ms
                    .store(now_ms + REDIS_BACKOFF.as_millis() as u64, Ordering::Relaxed);
            }
        }
    }
    let local = if state.cache.is_redis() {
        &state.local_limits
    } else {
        &state.cache
    };
    local
        .incr_in_window(bucket, RATE_WINDOW)
        .await
        .unwrap_or((0, RATE_WINDOW))
}

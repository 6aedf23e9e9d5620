//! Recording that an API key was used (`last_used_at`), throttled so a busy
//! key costs one write a minute rather than one per request.

use std::time::Duration;

use chrono::Utc;
use registry::KeyCredential;

use crate::state::AppState;

/// Records key use in the background, at most once a minute per key and
/// process (the stored `last_used_at` or this process's own record says
/// when it was last recorded); a failure here must not fail the request.
pub(super) fn touch(state: &AppState, cred: &KeyCredential) {
    const EVERY: Duration = Duration::from_secs(60);
    if cred
        .key
        .last_used_at
        .is_some_and(|at| Utc::now() - at < chrono::Duration::minutes(1))
    {
        return;
    }
    {
        let now = std::time::Instant::now();
        let mut recorded = state
            .key_use_recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if recorded
            .get(&cred.key.id)
            .is_some_and(|at| now.duration_since(*at) < EVERY)
        {
            return;
        }
        if recorded.len() >= 100_000 {
            recorded.retain(|_, at| now.duration_since(*at) < EVERY);
        }
        recorded.insert(cred.key.id, now);
    }
    let store = state.hall.store.clone();
    let tenant = cred.key.tenant_id.clone();
    let id = cred.key.id;
    tokio::spawn(async move {
        if let Err(e) = store.tenant(&tenant).touch_api_key(id).await {
            tracing::debug!(error = %e, "could not record API key use");
        }
    });
}

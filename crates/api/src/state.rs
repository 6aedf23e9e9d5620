//! What every handler can reach.

use std::sync::Arc;

use registry::bans::BanCache;
use registry::{Cache, Store};

use crate::auth::AuthConfig;
use crate::metrics::Metrics;

pub struct AppState {
    pub store: Store,
    pub cache: Cache,
    /// Rate-limit counters of this process, used while Redis is unreachable.
    pub local_limits: Cache,
    pub auth: AuthConfig,
    /// This process's copy of the confirmed ban set.
    pub bans: Arc<BanCache>,
    pub metrics: Metrics,
    /// Claims on `org.*` namespaces wait for the operator (HALL_ORG_CLAIMS_NEED_APPROVAL).
    pub org_claims_need_approval: bool,
}

impl AppState {
    pub fn new(store: Store, cache: Cache, auth: AuthConfig, bans: Arc<BanCache>) -> Self {
        Self {
            store,
            cache,
            local_limits: Cache::in_process(),
            auth,
            bans,
            metrics: Metrics::default(),
            org_claims_need_approval: false,
        }
    }
}

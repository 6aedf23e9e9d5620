//! What every handler can reach.

use registry::{Cache, Store};

use crate::auth::AuthConfig;
use crate::metrics::Metrics;

pub struct AppState {
    pub store: Store,
    pub cache: Cache,
    /// Rate-limit counters of this process, used while Redis is unreachable.
    pub local_limits: Cache,
    pub auth: AuthConfig,
    pub metrics: Metrics,
    /// Claims on `org.*` namespaces wait for the operator (HALL_ORG_CLAIMS_NEED_APPROVAL).
    pub org_claims_need_approval: bool,
}

impl AppState {
    pub fn new(store: Store, cache: Cache, auth: AuthConfig) -> Self {
        Self {
            store,
            cache,
            local_limits: Cache::in_process(),
            auth,
            metrics: Metrics::default(),
            org_claims_need_approval: false,
        }
    }
}

//! What every handler can reach.

use registry::{Cache, Store};

use crate::metrics::Metrics;

pub struct AppState {
    pub store: Store,
    pub cache: Cache,
    pub metrics: Metrics,
}

impl AppState {
    pub fn new(store: Store, cache: Cache) -> Self {
        Self {
            store,
            cache,
            metrics: Metrics::default(),
        }
    }
}

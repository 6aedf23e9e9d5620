//! The decision log: a tenant's decisions, newest first, filtered and paged,
//! and one decision by its receipt id. The rows are `registry::decisions`;
//! what a worker filter means is decided here, once: a WCP worker id is
//! itself, a registry id (`wrk_…`) means the WCP id of the worker it names,
//! and anything else is matched as written (so it matches nothing a
//! decision was logged under, rather than being refused).

use chrono::{DateTime, Utc};
use registry::decisions::{DecisionFilter, LoggedDecision};
use registry::workers::WorkerRef;
use registry::StoreError;
use uuid::Uuid;
use wcp::TenantId;

use crate::Hall;

/// Which of a tenant's decisions to read.
#[derive(Debug, Clone)]
pub struct DecisionLogQuery {
    /// A worker as the client named it: a WCP worker id or `wrk_…`.
    pub worker: Option<String>,
    pub capability_id: Option<String>,
    pub denied: Option<bool>,
    /// Inclusive.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive.
    pub until: Option<DateTime<Utc>>,
    /// The last receipt id of the previous page.
    pub before: Option<Uuid>,
    pub limit: wcp::PageLimit,
}

/// One page of the decision log.
#[derive(Debug, Clone)]
pub struct DecisionLogPage {
    /// Newest first.
    pub decisions: Vec<LoggedDecision>,
    /// The receipt id to continue before; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl Hall {
    /// A page of `tenant`'s decisions, newest first.
    pub async fn decision_log(
        &self,
        tenant: &TenantId,
        query: DecisionLogQuery,
    ) -> Result<DecisionLogPage, StoreError> {
        let worker_id = match query.worker {
            Some(named) => Some(self.logged_worker_id(named).await?),
            None => None,
        };
        let filter = DecisionFilter {
            worker_id,
            capability_id: query.capability_id,
            denied: query.denied,
            since: query.since,
            until: query.until,
            before: query.before,
            limit: query.limit,
        };
        let (decisions, more) = self.store.tenant(tenant).decisions(&filter).await?;
        let next_cursor = more
            .then(|| {
                decisions
                    .last()
                    .map(|d| d.receipt.content.receipt_id.clone())
            })
            .flatten();
        Ok(DecisionLogPage {
            decisions,
            next_cursor,
        })
    }

    /// One of `tenant`'s decisions; `None` when it has none with this id.
    pub async fn logged_decision(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> Result<Option<LoggedDecision>, StoreError> {
        self.store.tenant(tenant).decision(id).await
    }

    /// The WCP worker id decisions about the worker `named` are logged
    /// under (see the module's documentation).
    async fn logged_worker_id(&self, named: String) -> Result<String, StoreError> {
        Ok(match WorkerRef::parse(&named) {
            Ok(WorkerRef::Wcp(id)) => id.to_string(),
            Ok(r @ WorkerRef::Registry(_)) => self
                .store
                .worker_for_decision(&r)
                .await?
                .map(|w| w.record.worker_id.to_string())
                .unwrap_or(named),
            Err(_) => named,
        })
    }
}

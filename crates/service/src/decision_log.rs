//! The decision log: a tenant's decisions, newest first, filtered and paged,
//! and one decision by its receipt id. The rows are `registry::decisions`;
//! what a worker filter means is decided here, once: a WCP worker id is
//! itself, a registry id (`wrk_…`) means the WCP id of the worker it names,
//! and anything else is matched as written (so it matches nothing a
//! decision was logged under, rather than being refused).

use registry::decisions::{DecisionFilter, LoggedDecision};
use registry::workers::WorkerRef;
use registry::StoreError;
use uuid::Uuid;
use wcp::TenantId;

use crate::{Hall, Page};

/// A page of the decision log, newest first; the next page continues
/// before the receipt id in `next`.
pub type DecisionLogPage = Page<LoggedDecision>;

impl Hall {
    /// A page of `tenant`'s decisions matching `filter`, newest first; its
    /// `worker_id` is the worker as the client named it (a WCP worker id or
    /// `wrk_…`).
    pub async fn decision_log(
        &self,
        tenant: &TenantId,
        mut filter: DecisionFilter,
    ) -> Result<DecisionLogPage, StoreError> {
        if let Some(named) = filter.worker_id.take() {
            filter.worker_id = Some(self.logged_worker_id(named).await?);
        }
        let (decisions, more) = self.store.tenant(tenant).decisions(&filter).await?;
        let next_cursor = more
            .then(|| {
                decisions
                    .last()
                    .map(|d| d.receipt.content.receipt_id.clone())
            })
            .flatten();
        Ok(Page {
            items: decisions,
            next: next_cursor,
        })
    }

    /// `tenant`'s latest route decisions (`POST /api/v1/route`, `/api/route`
    /// without a worker), newest first: what the PyHall MCP server shows
    /// as recent dispatches.
    pub async fn recent_dispatches(
        &self,
        tenant: &TenantId,
        limit: wcp::PageLimit,
    ) -> Result<Vec<LoggedDecision>, StoreError> {
        let filter = DecisionFilter {
            worker_id: None,
            capability_id: None,
            denied: None,
            since: None,
            until: None,
            before: None,
            routed_only: true,
            limit,
        };
        Ok(self.store.tenant(tenant).decisions(&filter).await?.0)
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

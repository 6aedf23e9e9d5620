//! The worker use cases: registering one (in the seed SDK's form or as a
//! full WCP record, both parsed into a [`WorkerRecord`] before this is
//! called), reading and listing a tenant's workers, changing and revoking
//! one. Who may register under a namespace is `policy::namespaces`
//! ([`register_in`](policy::namespaces::register_in)), judged by the store
//! under the namespace's row lock; who may see a worker is
//! `policy::visibility`, applied to single workers by the facts cache
//! (`registry::facts::FactsCache::visible_worker`) and by the decision use
//! case (`crate::decide`).
//!
//! Every write drops this process's copies of decision facts after its
//! commit, so the next decision reads what was written.

use policy::namespaces::NamespaceHeld;
use registry::workers::{Worker, WorkerFilter, WorkerRef};
use registry::{Conflict, Entity, StoreError};
use wcp::{Namespace, RecordError, TenantId, WorkerId, WorkerRecord};

use crate::Hall;

/// Why a worker was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The namespace is not the tenant's to register under (and could not
    /// be claimed on the way).
    #[error("namespace {namespace} is not yours to register under: {held:?}")]
    Namespace {
        namespace: Namespace,
        held: NamespaceHeld,
    },
    /// A worker with this WCP id is registered already.
    #[error("worker {0} is already registered")]
    Exists(WorkerId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a worker could not be read, changed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// No such worker in the tenant (malformed references included).
    #[error("worker {0} not found")]
    NotFound(String),
    /// The worker is not active (`status` as stored) and cannot be changed.
    #[error("worker {worker} is {status} and cannot be changed")]
    NotActive { worker: String, status: String },
    /// The change makes an invalid record.
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for WorkerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(Entity::Worker(w)) => WorkerError::NotFound(w),
            StoreError::Conflict(Entity::Worker(worker), Conflict::Status(status)) => {
                WorkerError::NotActive { worker, status }
            }
            other => WorkerError::Store(other),
        }
    }
}

/// A page of a tenant's workers, in registration order.
#[derive(Debug, Clone)]
pub struct WorkerPage {
    pub workers: Vec<Worker>,
    /// The registry id to continue after; none on the last page.
    pub next_cursor: Option<String>,
}

impl Hall {
    /// Registers a worker of `tenant`. Its namespace must be the tenant's,
    /// approved; a free `x.*` namespace is claimed on the way. All or
    /// nothing: a refused registration leaves no rows, not even the claim.
    pub async fn register_worker(
        &self,
        tenant: &TenantId,
        record: WorkerRecord,
    ) -> Result<Worker, RegisterError> {
        let namespace = record.namespace();
        let registered = self
            .store
            .tenant(tenant)
            .register_worker(&record, |row| {
                policy::namespaces::register_in(&namespace, row, tenant)
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Entity::Worker(_), Conflict::Exists) => {
                    RegisterError::Exists(record.worker_id.clone())
                }
                other => RegisterError::Store(other),
            })?;
        Ok(
            self.wrote(registered.map_err(|held| RegisterError::Namespace {
                namespace: namespace.clone(),
                held,
            })?),
        )
    }

    /// One of `tenant`'s workers.
    pub async fn worker(
        &self,
        tenant: &TenantId,
        worker: &WorkerRef,
    ) -> Result<Worker, WorkerError> {
        self.store
            .tenant(tenant)
            .worker(worker)
            .await?
            .ok_or_else(|| WorkerError::NotFound(worker.to_string()))
    }

    /// A page of `tenant`'s workers matching `filter`.
    pub async fn list_workers(
        &self,
        tenant: &TenantId,
        filter: &WorkerFilter,
    ) -> Result<WorkerPage, WorkerError> {
        let (workers, more) = self.store.tenant(tenant).list_workers(filter).await?;
        let next_cursor = more.then(|| workers.last().map(|w| w.id.clone())).flatten();
        Ok(WorkerPage {
            workers,
            next_cursor,
        })
    }

    /// Changes an active worker of `tenant`: the fields of `patch` replace
    /// the stored ones; its identity cannot change.
    pub async fn update_worker(
        &self,
        tenant: &TenantId,
        worker: &WorkerRef,
        patch: &serde_json::Value,
    ) -> Result<Worker, WorkerError> {
        let current = self.worker(tenant, worker).await?;
        let updated = current.record.patched(patch)?;
        Ok(self.wrote(
            self.store
                .tenant(tenant)
                .update_worker(&WorkerRef::Registry(current.id), &updated)
                .await?,
        ))
    }

    /// Revokes a worker of `tenant` (again: no change). It is kept.
    pub async fn revoke_worker(
        &self,
        tenant: &TenantId,
        worker: &WorkerRef,
    ) -> Result<Worker, WorkerError> {
        Ok(self.wrote(self.store.tenant(tenant).revoke_worker(worker).await?))
    }
}

//! WCP capability discovery and the imported catalog: the capabilities a
//! viewer can find (the catalog's merged with those declared by workers the
//! viewer can see), a tenant's active workers, the catalog's entities of one
//! type, and the operator's import. Which entity types there are, and what
//! their ids start with, is `wcp::catalog`; which workers a viewer can see
//! is `policy::visibility`, applied by the store's query
//! (`registry::Store::visible_capabilities`); the rows are
//! `registry::catalog` and `registry::workers`.

use std::collections::BTreeMap;

use registry::catalog::ImportSummary;
use registry::workers::{Worker, WorkerFilter, WorkerStatus};
use registry::StoreError;
use wcp::catalog::{Catalog, CatalogEntity, EntityType};
use wcp::TenantId;

use crate::Hall;

/// A capability as discovery finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Capability {
    pub id: String,
    /// The imported catalog's entity, when the catalog defines it.
    pub entry: Option<CatalogEntity>,
    /// Active workers visible to the viewer that declare it.
    pub workers: i64,
}

impl Hall {
    /// Every capability, by id: the imported catalog's, merged with those
    /// declared by workers `viewer` can see (public ones, and its own
    /// tenant's; public ones only without a viewer).
    pub async fn capabilities(
        &self,
        viewer: Option<&TenantId>,
    ) -> Result<Vec<Capability>, StoreError> {
        let mut merged: BTreeMap<String, Capability> = self
            .store
            .catalog_entities(EntityType::CAPABILITY.as_str())
            .await?
            .into_iter()
            .map(|e| {
                let id = e.id.clone();
                let entry = Some(e);
                (
                    id.clone(),
                    Capability {
                        id,
                        entry,
                        workers: 0,
                    },
                )
            })
            .collect();
        for (id, count) in self.store.visible_capabilities(viewer).await? {
            merged
                .entry(id.clone())
                .or_insert(Capability {
                    id,
                    entry: None,
                    workers: 0,
                })
                .workers = count;
        }
        Ok(merged.into_values().collect())
    }

    /// All of `tenant`'s active workers, in the store's order, read a sweep
    /// page at a time.
    pub async fn active_workers(&self, tenant: &TenantId) -> Result<Vec<Worker>, StoreError> {
        let store = self.store.tenant(tenant);
        let mut all = Vec::new();
        let mut filter = WorkerFilter {
            status: Some(WorkerStatus::Active),
            ..WorkerFilter::all(wcp::PageLimit::max_of(wcp::PageSize::WORKER_SWEEP))
        };
        loop {
            let (page, more) = store.list_workers(&filter).await?;
            filter.after = page.last().map(|w| w.id.clone());
            all.extend(page);
            if !more {
                return Ok(all);
            }
        }
    }

    /// The imported catalog's entities of one type, by id.
    pub async fn catalog(&self, entity_type: EntityType) -> Result<Vec<CatalogEntity>, StoreError> {
        self.store.catalog_entities(entity_type.as_str()).await
    }

    /// Adds or replaces every entity of `catalog`, all or nothing.
    pub async fn import_catalog(&self, catalog: &Catalog) -> Result<ImportSummary, StoreError> {
        self.store.import_catalog(catalog).await
    }
}

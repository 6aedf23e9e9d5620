//! The imported WCP catalog.

use sqlx::Row;
use wcp::catalog::{Catalog, CatalogEntity};

use crate::{Store, StoreError};

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub inserted: u64,
    pub updated: u64,
}

impl Store {
    /// Adds or replaces every entity of `catalog`, in one transaction.
    pub async fn import_catalog(&self, catalog: &Catalog) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut summary = ImportSummary {
            inserted: 0,
            updated: 0,
        };
        for e in &catalog.entities {
            // xmax = 0 marks a freshly inserted row; otherwise the upsert updated one.
            let inserted: bool = sqlx::query_scalar(
                "INSERT INTO catalog_entities (id, entity_type, name, description, risk_tier, data, catalog_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET entity_type = EXCLUDED.entity_type, name = EXCLUDED.name,
                    description = EXCLUDED.description, risk_tier = EXCLUDED.risk_tier,
                    data = EXCLUDED.data, catalog_version = EXCLUDED.catalog_version, imported_at = now()
                 RETURNING (xmax = 0)",
            )
            .bind(&e.id)
            .bind(&e.entity_type)
            .bind(&e.name)
            .bind(&e.description)
            .bind(&e.risk_tier)
            .bind(&e.data)
            .bind(&catalog.version)
            .fetch_one(&mut *tx)
            .await?;
            if inserted {
                summary.inserted += 1;
            } else {
                summary.updated += 1;
            }
        }
        tx.commit().await?;
        Ok(summary)
    }

    /// Catalog entities of one type (e.g. `capability`), by id.
    pub async fn catalog_entities(
        &self,
        entity_type: &str,
    ) -> Result<Vec<CatalogEntity>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, entity_type, name, description, risk_tier, data FROM catalog_entities
             WHERE entity_type = $1 ORDER BY id",
        )
        .bind(entity_type)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CatalogEntity {
                    id: r.try_get("id")?,
                    entity_type: r.try_get("entity_type")?,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    risk_tier: r.try_get("risk_tier")?,
                    data: r.try_get("data")?,
                })
            })
            .collect()
    }
}

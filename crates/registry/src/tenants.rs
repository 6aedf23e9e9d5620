//! Tenants and the operator bootstrap.

use chrono::{DateTime, Utc};
use sqlx::Row;
use wcp::TenantId;

use crate::credentials::{ApiKeySecret, Scopes};
use crate::{is_unique_violation, Conflict, Entity, Store, StoreError};

/// The operator's tenant id.
pub const OPERATOR_TENANT: &str = "hall.operator";
/// Arbitrary constant naming the bootstrap's advisory lock.
const BOOTSTRAP_LOCK: i64 = 0x4841_4c4c_0001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    pub(crate) fn from_db(s: &str) -> Self {
        if s == "active" {
            TenantStatus::Active
        } else {
            TenantStatus::Suspended
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    pub status: TenantStatus,
    pub is_operator: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Tenant {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, StoreError> {
        let id: String = row.try_get("id")?;
        Ok(Self {
            id: TenantId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            display_name: row.try_get("display_name")?,
            status: TenantStatus::from_db(row.try_get::<&str, _>("status")?),
            is_operator: row.try_get("is_operator")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

const TENANT_COLUMNS: &str = "id, display_name, status, is_operator, created_at, updated_at";

/// The key the first start offers the operator.
#[derive(Debug)]
pub enum BootstrapKey {
    /// HALL_BOOTSTRAP_API_KEY.
    Supplied(ApiKeySecret),
    /// A fresh key, for when the operator does not exist yet.
    Generated(ApiKeySecret),
}

/// What the first start did about the operator.
#[derive(Debug)]
pub enum Bootstrap {
    /// The database had no operator: one was created with this key.
    Created {
        tenant: TenantId,
        key: ApiKeySecret,
        /// True when the key came from HALL_BOOTSTRAP_API_KEY.
        supplied: bool,
    },
    /// An operator already existed; nothing was changed. When a bootstrap key
    /// was supplied, whether it is one of the operator's live keys.
    Existing { supplied_key_is_live: Option<bool> },
}

impl Store {
    /// Creates the operator tenant with `key` as its first admin key, once per
    /// database. Replicas starting together serialise on an advisory lock, so
    /// exactly one of them creates it; later starts change nothing.
    pub async fn bootstrap_operator(&self, key: BootstrapKey) -> Result<Bootstrap, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut *tx)
            .await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM tenants WHERE is_operator")
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(operator) = existing {
            let supplied_key_is_live = match &key {
                BootstrapKey::Generated(_) => None,
                BootstrapKey::Supplied(key) => Some(
                    sqlx::query_scalar::<_, bool>(
                        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE tenant_id = $1
                         AND secret_hash = $2 AND revoked_at IS NULL)",
                    )
                    .bind(&operator)
                    .bind(key.hash().as_bytes())
                    .fetch_one(&mut *tx)
                    .await?,
                ),
            };
            tx.commit().await?;
            return Ok(Bootstrap::Existing {
                supplied_key_is_live,
            });
        }
        sqlx::query(
            "INSERT INTO tenants (id, display_name, is_operator) VALUES ($1, 'Registry operator', true)",
        )
        .bind(OPERATOR_TENANT)
        .execute(&mut *tx)
        .await?;
        let (key, was_supplied) = match key {
            BootstrapKey::Supplied(k) => (k, true),
            BootstrapKey::Generated(k) => (k, false),
        };
        crate::api_keys::insert_key(
            &mut tx,
            OPERATOR_TENANT,
            "bootstrap operator key",
            &key,
            &Scopes::all(),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(Bootstrap::Created {
            tenant: TenantId::parse(OPERATOR_TENANT)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            key,
            supplied: was_supplied,
        })
    }

    /// Inserts a tenant, active; [`Conflict::Exists`] when the id is taken.
    pub async fn create_tenant(&self, id: &TenantId, name: &str) -> Result<Tenant, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO tenants (id, display_name) VALUES ($1, $2) RETURNING {TENANT_COLUMNS}"
        ))
        .bind(id.as_str())
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(Entity::Tenant(id.clone()), Conflict::Exists)
            } else {
                e.into()
            }
        })?;
        Tenant::from_row(&row)
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Tenant::from_row).collect()
    }

    pub async fn tenant_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Tenant::from_row).transpose()
    }

    /// Sets a tenant's status (and `updated_at`); `None` when there is no
    /// such tenant.
    pub async fn set_tenant_status(
        &self,
        id: &TenantId,
        status: TenantStatus,
    ) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE tenants SET status = $2, updated_at = now() WHERE id = $1
             RETURNING {TENANT_COLUMNS}"
        ))
        .bind(id.as_str())
        .bind(status.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Tenant::from_row).transpose()
    }
}

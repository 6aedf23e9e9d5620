//! A tenant's routing rules as stored: immutable versions (the canonical
//! JSON document, its SHA-256, who stored it), which one is in force, and
//! the tenant's golden snapshots. The store judges nothing: the use case
//! (`service::routing_rules`) parses and checks a document before it hands
//! it here, and reads the compiled set back through its own copy.
//!
//! Version numbers come from one row per tenant (`routing_rules_state`),
//! incremented under its row lock in the transaction that inserts the
//! version, so concurrent stores get consecutive numbers, never the same.

use chrono::{DateTime, Utc};
use routing::RulesVersion;
use sqlx::Row;
use uuid::Uuid;

use crate::{StoreError, TenantStore};

/// One stored version, without its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesVersionInfo {
    pub version: RulesVersion,
    /// Hex SHA-256 of the stored canonical document.
    pub sha256: String,
    pub rule_count: u32,
    pub created_at: DateTime<Utc>,
    /// The API key that stored it.
    pub created_by: Uuid,
    pub comment: Option<String>,
    /// Whether it is the version in force.
    pub active: bool,
}

/// One stored version with its document (canonical JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRules {
    pub info: RulesVersionInfo,
    pub document: String,
}

/// The version in force and when it became so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveVersion {
    pub version: RulesVersion,
    pub sha256: String,
    pub activated_at: DateTime<Utc>,
    pub activated_by: Uuid,
}

/// A version to store: the use case has checked it.
#[derive(Debug, Clone)]
pub struct NewRulesVersion<'a> {
    /// Canonical JSON.
    pub document: &'a str,
    pub sha256: &'a str,
    pub rule_count: u32,
    pub created_by: Uuid,
    pub comment: Option<&'a str>,
    /// Make it the version in force in the same transaction.
    pub activate: bool,
}

/// What activating a version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// It is now the version in force.
    Activated,
    /// It already was; nothing changed.
    AlreadyActive,
    /// The tenant has no such version.
    NoSuchVersion,
}

/// The tenant's stored golden snapshot cases (a JSON array, as the use case
/// checked it).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshots {
    pub cases: serde_json::Value,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Uuid,
}

fn version_of(n: i32) -> Result<RulesVersion, StoreError> {
    u32::try_from(n)
        .ok()
        .and_then(RulesVersion::new)
        .ok_or_else(|| StoreError::Corrupt(format!("routing rules version {n} is not positive")))
}

fn to_db(v: RulesVersion) -> Result<i32, StoreError> {
    i32::try_from(v.get())
        .map_err(|_| StoreError::Corrupt(format!("routing rules version {v} is out of range")))
}

fn info_of(row: &sqlx::postgres::PgRow) -> Result<RulesVersionInfo, StoreError> {
    let count: i32 = row.try_get("rule_count")?;
    Ok(RulesVersionInfo {
        version: version_of(row.try_get("version")?)?,
        sha256: row.try_get("sha256")?,
        rule_count: u32::try_from(count)
            .map_err(|_| StoreError::Corrupt(format!("rule_count {count}")))?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        comment: row.try_get("comment")?,
        active: row.try_get("active")?,
    })
}

const INFO_COLUMNS: &str =
    "v.version, v.sha256, v.rule_count, v.created_at, v.created_by, v.comment,
     (s.active_version IS NOT DISTINCT FROM v.version) AS active";

impl TenantStore<'_> {
    /// Stores a new version under the next number (and makes it the one in
    /// force when asked), in one transaction.
    pub async fn store_rules_version(
        &self,
        new: NewRulesVersion<'_>,
    ) -> Result<RulesVersionInfo, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        let (version,): (i32,) = sqlx::query_as(
            "INSERT INTO routing_rules_state AS s (tenant_id, last_version) VALUES ($1, 1)
             ON CONFLICT (tenant_id) DO UPDATE SET last_version = s.last_version + 1
             RETURNING last_version",
        )
        .bind(self.tenant.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let (created_at,): (DateTime<Utc>,) = sqlx::query_as(
            "INSERT INTO routing_rule_versions
                 (tenant_id, version, document, sha256, rule_count, created_by, comment)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING created_at",
        )
        .bind(self.tenant.as_str())
        .bind(version)
        .bind(new.document)
        .bind(new.sha256)
        .bind(i32::try_from(new.rule_count).unwrap_or(i32::MAX))
        .bind(new.created_by)
        .bind(new.comment)
        .fetch_one(&mut *tx)
        .await?;
        if new.activate {
            sqlx::query(
                "UPDATE routing_rules_state
                 SET active_version = $2, activated_at = now(), activated_by = $3
                 WHERE tenant_id = $1",
            )
            .bind(self.tenant.as_str())
            .bind(version)
            .bind(new.created_by)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(RulesVersionInfo {
            version: version_of(version)?,
            sha256: new.sha256.to_string(),
            rule_count: new.rule_count,
            created_at,
            created_by: new.created_by,
            comment: new.comment.map(str::to_string),
            active: new.activate,
        })
    }

    /// The version in force, without its document; `None` when the tenant
    /// has none.
    pub async fn active_rules_version(&self) -> Result<Option<ActiveVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT s.active_version, v.sha256, s.activated_at, s.activated_by
             FROM routing_rules_state s
             JOIN routing_rule_versions v
               ON v.tenant_id = s.tenant_id AND v.version = s.active_version
             WHERE s.tenant_id = $1",
        )
        .bind(self.tenant.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(|row| {
            Ok(ActiveVersion {
                version: version_of(row.try_get("active_version")?)?,
                sha256: row.try_get("sha256")?,
                activated_at: row.try_get("activated_at")?,
                activated_by: row.try_get("activated_by")?,
            })
        })
        .transpose()
    }

    /// Every version, newest first.
    pub async fn rules_versions(&self) -> Result<Vec<RulesVersionInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {INFO_COLUMNS}
             FROM routing_rule_versions v
             LEFT JOIN routing_rules_state s ON s.tenant_id = v.tenant_id
             WHERE v.tenant_id = $1
             ORDER BY v.version DESC"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(info_of).collect()
    }

    /// One version with its document; `None` when the tenant has no such
    /// version.
    pub async fn rules_version(
        &self,
        version: RulesVersion,
    ) -> Result<Option<StoredRules>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {INFO_COLUMNS}, v.document
             FROM routing_rule_versions v
             LEFT JOIN routing_rules_state s ON s.tenant_id = v.tenant_id
             WHERE v.tenant_id = $1 AND v.version = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(to_db(version)?)
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(|row| {
            Ok(StoredRules {
                info: info_of(&row)?,
                document: row.try_get("document")?,
            })
        })
        .transpose()
    }

    /// Makes a stored version the one in force (roll back or forward).
    pub async fn activate_rules_version(
        &self,
        version: RulesVersion,
        by: Uuid,
    ) -> Result<Activation, StoreError> {
        let v = to_db(version)?;
        let mut tx = self.store.pool.begin().await?;
        // The state row's lock orders this against concurrent stores.
        let state: Option<(Option<i32>,)> = sqlx::query_as(
            "SELECT active_version FROM routing_rules_state WHERE tenant_id = $1 FOR UPDATE",
        )
        .bind(self.tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((active,)) = state else {
            return Ok(Activation::NoSuchVersion);
        };
        let exists: Option<(i32,)> = sqlx::query_as(
            "SELECT version FROM routing_rule_versions WHERE tenant_id = $1 AND version = $2",
        )
        .bind(self.tenant.as_str())
        .bind(v)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Ok(Activation::NoSuchVersion);
        }
        if active == Some(v) {
            return Ok(Activation::AlreadyActive);
        }
        sqlx::query(
            "UPDATE routing_rules_state
             SET active_version = $2, activated_at = now(), activated_by = $3
             WHERE tenant_id = $1",
        )
        .bind(self.tenant.as_str())
        .bind(v)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Activation::Activated)
    }

    /// The tenant's golden snapshot cases; `None` when it never stored any.
    pub async fn routing_snapshots(&self) -> Result<Option<StoredSnapshots>, StoreError> {
        let row = sqlx::query(
            "SELECT cases, updated_at, updated_by FROM routing_snapshots WHERE tenant_id = $1",
        )
        .bind(self.tenant.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(|row| {
            Ok(StoredSnapshots {
                cases: row.try_get("cases")?,
                updated_at: row.try_get("updated_at")?,
                updated_by: row.try_get("updated_by")?,
            })
        })
        .transpose()
    }

    /// Replaces the tenant's golden snapshot cases (a JSON array).
    pub async fn set_routing_snapshots(
        &self,
        cases: &serde_json::Value,
        by: Uuid,
    ) -> Result<StoredSnapshots, StoreError> {
        let row = sqlx::query(
            "INSERT INTO routing_snapshots (tenant_id, cases, updated_by) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO UPDATE
                 SET cases = EXCLUDED.cases, updated_at = now(), updated_by = EXCLUDED.updated_by
             RETURNING cases, updated_at, updated_by",
        )
        .bind(self.tenant.as_str())
        .bind(cases)
        .bind(by)
        .fetch_one(&self.store.pool)
        .await?;
        Ok(StoredSnapshots {
            cases: row.try_get("cases")?,
            updated_at: row.try_get("updated_at")?,
            updated_by: row.try_get("updated_by")?,
        })
    }
}

//! API keys. Only hashes are stored; a key is found by the hash of the
//! secret the client presents, and revoked rather than deleted.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;
use wcp::TenantId;

use crate::credentials::{ApiKeySecret, KeyHash, Scopes};
use crate::tenants::TenantStatus;
use crate::{is_unique_violation, Conflict, Entity, Store, StoreError, TenantStore};

/// An API key as listed: everything but the secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub prefix: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Everything needed to decide whether a presented credential is good.
#[derive(Debug, Clone)]
pub struct KeyCredential {
    pub key: ApiKey,
    pub secret_hash: Vec<u8>,
    pub tenant_status: TenantStatus,
    pub is_operator: bool,
}

const KEY_COLUMNS: &str = "k.tenant_id, k.id, k.name, k.prefix, k.scopes, k.created_at, \
     k.expires_at, k.last_used_at, k.revoked_at";

fn key_from_row(row: &sqlx::postgres::PgRow) -> Result<ApiKey, StoreError> {
    let tenant: String = row.try_get("tenant_id")?;
    let scopes: Vec<String> = row.try_get("scopes")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        tenant_id: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: Scopes::parse(&scopes)
            .map_err(|e| StoreError::Corrupt(format!("API key scopes {scopes:?}: {e:?}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn credential_from_row(row: &sqlx::postgres::PgRow) -> Result<KeyCredential, StoreError> {
    Ok(KeyCredential {
        key: key_from_row(row)?,
        secret_hash: row.try_get("secret_hash")?,
        tenant_status: TenantStatus::from_db(row.try_get::<&str, _>("tenant_status")?),
        is_operator: row.try_get("is_operator")?,
    })
}

pub(crate) async fn insert_key(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &str,
    name: &str,
    secret: &ApiKeySecret,
    scopes: &Scopes,
    expires_at: Option<DateTime<Utc>>,
) -> Result<ApiKey, StoreError> {
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys AS k (tenant_id, id, name, prefix, secret_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
    ))
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(secret.display_prefix())
    .bind(secret.hash().as_bytes())
    .bind(scopes.names())
    .bind(expires_at)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(
                Entity::ApiKey {
                    tenant: tenant.to_string(),
                    name: name.to_string(),
                },
                Conflict::Exists,
            )
        } else {
            e.into()
        }
    })?;
    key_from_row(&row)
}

impl Store {
    /// Finds the key whose secret hashes to `hash`, with its tenant's state.
    /// The only key lookup not scoped to a tenant: the secret is what names it.
    pub async fn credential_by_secret(
        &self,
        hash: &KeyHash,
    ) -> Result<Option<KeyCredential>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS}, k.secret_hash, t.status AS tenant_status, t.is_operator
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.secret_hash = $1"
        ))
        .bind(hash.as_bytes())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let cred = credential_from_row(&row)?;
        // The index found it by hash; confirm in constant time anyway.
        Ok(hash.ct_eq(&cred.secret_hash).then_some(cred))
    }
}

impl TenantStore<'_> {
    /// Inserts a key: only the hash of `secret` is stored.
    /// [`crate::Conflict::Exists`] when the tenant has a live key of this name.
    pub async fn create_api_key(
        &self,
        name: &str,
        secret: &ApiKeySecret,
        scopes: &Scopes,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApiKey, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        let key = insert_key(
            &mut tx,
            self.tenant.as_str(),
            name,
            secret,
            scopes,
            expires_at,
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 ORDER BY k.created_at, k.id"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key (idempotent). Sessions minted from it stop working with it.
    pub async fn revoke_api_key(&self, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE api_keys k SET revoked_at = COALESCE(k.revoked_at, now())
             WHERE k.tenant_id = $1 AND k.id = $2 RETURNING {KEY_COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// The key a session token names, with its tenant's state.
    pub async fn credential_by_id(&self, id: Uuid) -> Result<Option<KeyCredential>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS}, k.secret_hash, t.status AS tenant_status, t.is_operator
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.tenant_id = $1 AND k.id = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(credential_from_row).transpose()
    }

    /// Records use of a key, at most once a minute per key (no write per request).
    pub async fn touch_api_key(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = now()
             WHERE tenant_id = $1 AND id = $2
               AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }
}

//! The published receipt signing keys: every key receipts were ever signed
//! with, so that old receipts keep verifying after a rotation. The keys
//! themselves are never stored here, only their public halves.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{Store, StoreError};

/// A receipt signing key as published.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Publishes this process's receipt key (once per kid) and marks every
    /// other key retired. Retired keys stay published: old receipts verify.
    pub async fn publish_receipt_key(
        &self,
        kid: &str,
        public_key: &[u8; 32],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let added = sqlx::query("INSERT INTO receipt_signing_keys (kid, public_key) VALUES ($1, $2) ON CONFLICT (kid) DO NOTHING")
            .bind(kid)
            .bind(&public_key[..])
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if added {
            // Every tenant's receipts are signed with it from now on.
            let data = ::webhooks::payloads::KeyRotatedEvent {
                kid: kid.to_string(),
                algorithm: "Ed25519".to_string(),
            };
            crate::webhooks::emit(
                &mut tx,
                crate::webhooks::Audience::Everyone,
                ::webhooks::EventType::KeyRotated,
                &data,
            )
            .await?;
        }
        sqlx::query("UPDATE receipt_signing_keys SET retired_at = now() WHERE kid <> $1 AND retired_at IS NULL")
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE receipt_signing_keys SET retired_at = NULL WHERE kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every key receipts were ever signed with.
    pub async fn receipt_keys(&self) -> Result<Vec<PublishedKey>, StoreError> {
        let rows = sqlx::query("SELECT kid, public_key, created_at, retired_at FROM receipt_signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PublishedKey {
                    kid: r.try_get("kid")?,
                    public_key: r.try_get("public_key")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: r.try_get("retired_at")?,
                })
            })
            .collect()
    }
}

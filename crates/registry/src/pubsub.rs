//! Announcements between replicas over PostgreSQL `LISTEN`/`NOTIFY`: a
//! change one replica makes (a receipt key rotation) reaches the others
//! without polling.

use crate::{Store, StoreError};

impl Store {
    /// A connection listening on `channel` (for announcements between replicas).
    pub async fn listen(&self, channel: &str) -> Result<sqlx::postgres::PgListener, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(channel).await?;
        Ok(listener)
    }

    /// Announces `payload` on `channel` to every listening replica.
    pub async fn announce(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

//! The telemetry envelopes of route decisions (WCP §5.4), stored after the
//! decision's receipt commits and read back by correlation id.

use serde_json::Value;
use uuid::Uuid;

use crate::{StoreError, TenantStore};

/// One stored envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteEvent {
    pub decision_id: Uuid,
    pub event_id: String,
    pub envelope: Value,
}

impl TenantStore<'_> {
    /// Stores a decision's envelopes, in their order. Storing them again
    /// (a retry) changes nothing.
    pub async fn record_route_events(
        &self,
        decision_id: Uuid,
        correlation_id: &str,
        envelopes: &[Value],
    ) -> Result<(), StoreError> {
        let seqs: Vec<i16> = (0..envelopes.len())
            .map(|i| i16::try_from(i).unwrap_or(i16::MAX))
            .collect();
        let ids: Vec<String> = envelopes
            .iter()
            .map(|e| e["event_id"].as_str().unwrap_or_default().to_string())
            .collect();
        sqlx::query(
            "INSERT INTO route_events (tenant_id, correlation_id, decision_id, seq, event_id, envelope)
             SELECT $1, $2, $3, * FROM unnest($4::smallint[], $5::text[], $6::jsonb[])
             ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant.as_str())
        .bind(correlation_id)
        .bind(decision_id)
        .bind(&seqs)
        .bind(&ids)
        .bind(envelopes)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }

    /// This tenant's envelopes with `correlation_id`, oldest first, at most `limit`.
    pub async fn route_events(
        &self,
        correlation_id: &str,
        limit: i64,
    ) -> Result<Vec<RouteEvent>, StoreError> {
        let rows: Vec<(Uuid, String, Value)> = sqlx::query_as(
            "SELECT decision_id, event_id, envelope FROM route_events
             WHERE tenant_id = $1 AND correlation_id = $2
             ORDER BY created_at, decision_id, seq
             LIMIT $3",
        )
        .bind(self.tenant.as_str())
        .bind(correlation_id)
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(decision_id, event_id, envelope)| RouteEvent {
                decision_id,
                event_id,
                envelope,
            })
            .collect())
    }
}

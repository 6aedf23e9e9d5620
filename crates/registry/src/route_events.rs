//! The telemetry envelopes of route decisions (WCP §5.4), stored by the
//! receipt writer in the transaction of the decision's receipt
//! (`receipts::PendingReceipt::route_events`) and read back by correlation id.

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

/// The envelopes of one receipt batch, as columns for one `INSERT`.
#[derive(Default)]
pub(crate) struct EventRows {
    tenant: Vec<String>,
    correlation: Vec<String>,
    decision: Vec<Uuid>,
    seq: Vec<i16>,
    event_id: Vec<String>,
    envelope: Vec<Value>,
}

impl EventRows {
    /// Adds one decision's envelopes, in their order.
    pub(crate) fn add(
        &mut self,
        tenant: &str,
        correlation_id: &str,
        decision: Uuid,
        envelopes: &[Value],
    ) {
        for (seq, e) in envelopes.iter().enumerate() {
            self.tenant.push(tenant.to_string());
            self.correlation.push(correlation_id.to_string());
            self.decision.push(decision);
            self.seq.push(i16::try_from(seq).unwrap_or(i16::MAX));
            self.event_id
                .push(e["event_id"].as_str().unwrap_or_default().to_string());
            self.envelope.push(e.clone());
        }
    }

    /// Inserts them in the batch's transaction (nothing when there are none).
    pub(crate) async fn insert(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ) -> Result<(), StoreError> {
        if self.tenant.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO route_events (tenant_id, correlation_id, decision_id, seq, event_id, envelope)
             SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::smallint[], $5::text[], $6::jsonb[])",
        )
        .bind(&self.tenant)
        .bind(&self.correlation)
        .bind(&self.decision)
        .bind(&self.seq)
        .bind(&self.event_id)
        .bind(&self.envelope)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

impl TenantStore<'_> {
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

//! The telemetry envelopes of route decisions (WCP §5.4), stored by the
//! receipt writer in the transaction of the decision's receipt
//! (`receipts::PendingReceipt::telemetry`) and read back by correlation id.
//! One row per decision holds its envelopes as one JSON array: a route
//! writes one row and one index entry, not one per envelope.

use serde_json::value::RawValue;
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

/// A route decision's envelopes, encoded once as one JSON array: the text
/// stored is the text answered.
#[derive(Debug, Clone)]
pub struct RouteTelemetry(Box<RawValue>);

impl RouteTelemetry {
    /// The envelopes in their order (`None` when there are none).
    pub fn of(envelopes: &[Value]) -> Option<Self> {
        if envelopes.is_empty() {
            return None;
        }
        // Encoding a `serde_json::Value` cannot fail (string keys only).
        serde_json::value::to_raw_value(envelopes)
            .ok()
            .map(RouteTelemetry)
    }

    /// The JSON array.
    pub fn into_json(self) -> Box<RawValue> {
        self.0
    }
}

/// The telemetry of one receipt batch, as columns for one `INSERT`.
#[derive(Default)]
pub(crate) struct TelemetryRows {
    tenant: Vec<String>,
    correlation: Vec<String>,
    decision: Vec<Uuid>,
    envelopes: Vec<String>,
}

impl TelemetryRows {
    /// Adds one decision's envelopes.
    pub(crate) fn add(
        &mut self,
        tenant: &str,
        correlation_id: &str,
        decision: Uuid,
        telemetry: &RouteTelemetry,
    ) {
        self.tenant.push(tenant.to_string());
        self.correlation.push(correlation_id.to_string());
        self.decision.push(decision);
        self.envelopes.push(telemetry.0.get().to_string());
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
            "INSERT INTO route_telemetry (tenant_id, correlation_id, decision_id, envelopes)
             SELECT t, c, d, e::json FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[])
                 AS u(t, c, d, e)",
        )
        .bind(&self.tenant)
        .bind(&self.correlation)
        .bind(&self.decision)
        .bind(&self.envelopes)
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
        // Each decision has at least one envelope: `limit` rows are enough.
        let rows: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT decision_id, envelopes::text FROM route_telemetry
             WHERE tenant_id = $1 AND correlation_id = $2
             ORDER BY created_at, decision_id
             LIMIT $3",
        )
        .bind(self.tenant.as_str())
        .bind(correlation_id)
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        let mut events = Vec::new();
        for (decision_id, text) in rows {
            let envelopes: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
                StoreError::Corrupt(format!("telemetry of decision {decision_id}: {e}"))
            })?;
            for envelope in envelopes {
                let event_id = envelope["event_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                events.push(RouteEvent {
                    decision_id,
                    event_id,
                    envelope,
                });
            }
        }
        events.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(events)
    }
}

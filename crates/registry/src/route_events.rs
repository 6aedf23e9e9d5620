//! The telemetry envelopes of route decisions (WCP §5.4), stored by the
//! receipt writer in the transaction of the decision's receipt
//! (`receipts::PendingReceipt::telemetry`) and read back by correlation id.
//! The receipt (version 3) records every field the envelopes share, so a
//! decision's row holds only what they add (`routing::telemetry::Telemetry`,
//! about a hundred bytes of JSON); reading joins the receipt and rebuilds the
//! envelopes (`routing::telemetry::Envelopes`), the same definition the
//! answer is written with.

use routing::telemetry::{EnvelopeCommon, Envelopes, Telemetry};
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

/// The fields every envelope of a routed decision shares, as its receipt
/// records them.
pub fn envelope_common(receipt: &audit::UnsignedReceipt) -> EnvelopeCommon {
    EnvelopeCommon {
        decision_id: receipt.receipt_id.clone(),
        timestamp: receipt.decided_at.clone(),
        correlation_id: receipt.correlation_id.clone(),
        tenant_id: receipt.tenant_id.clone(),
        capability_id: receipt.capability_id.clone(),
        matched_rule_id: receipt
            .matched_rule_id
            .clone()
            .unwrap_or_else(|| routing::route::NO_MATCH.to_string()),
        selected_worker_species_id: receipt.selected_worker_species_id.clone(),
        rules_version: receipt.rules_version.clone(),
        dry_run: receipt.dry_run,
    }
}

/// The telemetry of one receipt batch, as columns for one `INSERT`.
#[derive(Default)]
pub(crate) struct TelemetryRows {
    tenant: Vec<String>,
    correlation: Vec<String>,
    decision: Vec<Uuid>,
    telemetry: Vec<String>,
}

impl TelemetryRows {
    /// Adds one decision's envelopes.
    pub(crate) fn add(
        &mut self,
        tenant: &str,
        correlation_id: &str,
        decision: Uuid,
        telemetry: &Telemetry,
    ) -> Result<(), StoreError> {
        self.tenant.push(tenant.to_string());
        self.correlation.push(correlation_id.to_string());
        self.decision.push(decision);
        self.telemetry.push(
            serde_json::to_string(telemetry).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        Ok(())
    }

    /// Binds them as parameters 21–24 of the receipt batch's call
    /// (`receipts::append_batch`), which inserts them (none: empty arrays).
    pub(crate) fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.tenant)
            .bind(&self.correlation)
            .bind(&self.decision)
            .bind(&self.telemetry)
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
        let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT t.decision_id, t.telemetry::text, r.body::text
             FROM route_telemetry t
             JOIN receipts r ON r.tenant_id = t.tenant_id AND r.receipt_id = t.decision_id
             WHERE t.tenant_id = $1 AND t.correlation_id = $2
             ORDER BY t.created_at, t.decision_id
             LIMIT $3",
        )
        .bind(self.tenant.as_str())
        .bind(correlation_id)
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        let mut events = Vec::new();
        for (decision_id, telemetry, body) in rows {
            let corrupt = |e: serde_json::Error| {
                StoreError::Corrupt(format!("telemetry of decision {decision_id}: {e}"))
            };
            let telemetry: Telemetry = serde_json::from_str(&telemetry).map_err(corrupt)?;
            let receipt: audit::Receipt = serde_json::from_str(&body).map_err(corrupt)?;
            let envelopes = Envelopes {
                common: envelope_common(&receipt.content),
                telemetry,
            };
            for (event_id, envelope) in envelopes.event_ids().iter().zip(envelopes.to_values()) {
                events.push(RouteEvent {
                    decision_id,
                    event_id: event_id.to_string(),
                    envelope,
                });
            }
        }
        events.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(events)
    }
}

//! The telemetry envelopes of route decisions (WCP §5.4), stored by the
//! receipt writer in the receipt's own row (`receipts.route_telemetry`,
//! from `receipts::PendingReceipt::telemetry`) and read back by correlation
//! id. The receipt (version 3) records every field the envelopes share, so
//! the column holds only what they add (`routing::telemetry::Telemetry`,
//! about a hundred bytes of JSON); reading rebuilds the envelopes from both
//! (`routing::telemetry::Envelopes`), the same definition the answer is
//! written with.

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

/// A tenant's (`$1`) routed decisions with one correlation id (`$2`),
/// oldest first, at most `$3`. Public so that a test can check its plan.
pub const EVENTS_BY_CORRELATION: &str = "SELECT receipt_id, route_telemetry::text, body::text
     FROM receipts
     WHERE hashtextextended(route_correlation_id, hashtextextended(tenant_id, 0))
           = hashtextextended($2, hashtextextended($1, 0))
       AND route_correlation_id IS NOT NULL
       AND tenant_id = $1 AND route_correlation_id = $2
     ORDER BY decided_at, receipt_id
     LIMIT $3";

impl TenantStore<'_> {
    /// This tenant's envelopes with `correlation_id`, oldest first, at most `limit`.
    pub async fn route_events(
        &self,
        correlation_id: &str,
        limit: i64,
    ) -> Result<Vec<RouteEvent>, StoreError> {
        // Each decision has at least one envelope: `limit` rows are enough.
        // The partial index receipts_route_telemetry_by_correlation_hash
        // (migrations 38, 41) holds exactly these rows, by the hash of their
        // tenant and correlation id, in the order read; the tenant and the
        // id itself are matched on each row too.
        let rows: Vec<(Uuid, String, String)> = sqlx::query_as(EVENTS_BY_CORRELATION)
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

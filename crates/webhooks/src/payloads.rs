//! What each event's `data` holds: one type per payload shape, which the
//! registry fills in to write an event and the OpenAPI document describes
//! (its top-level `webhooks`), so the two cannot drift apart.
//! docs/events.md lists them with when each is sent and to whom.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `approval.pending` and `approval.expired`: a human approval (WCP §5.8).
// No `deny_unknown_fields` on the approval payloads: `ApprovalResolvedEvent`
// flattens this one, which serde cannot combine with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalEvent {
    pub tenant_id: String,
    pub approval_id: Uuid,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    /// `advisory`, `gatekeeper` or `incident_commander`.
    pub supervisor_level: String,
    pub worker_id: String,
    /// `wrk_…`
    pub worker_registry_id: String,
    pub capability_id: String,
    pub env: String,
    pub data_label: String,
    /// What the human is asked, in words.
    pub reason: String,
    /// The decision (its receipt id) that opened it.
    pub decision_id: Uuid,
    pub correlation_id: String,
    pub created_at: DateTime<Utc>,
    /// When it lapses unanswered.
    pub expires_at: DateTime<Utc>,
}

/// `approval.resolved`: a human approved or denied it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalResolvedEvent {
    #[serde(flatten)]
    pub approval: ApprovalEvent,
    /// Who answered (the API key's name or the session's user).
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
}

/// `ban.reported`: a package hash reported for the ban list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanReportedEvent {
    pub report_id: String,
    /// 64 lowercase hex.
    pub sha256: String,
    pub reason: String,
    pub evidence_url: Option<String>,
    pub source: String,
    /// The reporting tenant; null for the operator's own.
    pub reporter_tenant: Option<String>,
    /// `pending` when reported.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// `ban.confirmed` and `ban.lifted`: the public ban list's entry (the
/// operator's review note is not sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BanEvent {
    pub sha256: String,
    pub reason: String,
    pub source: String,
    pub report_id: Option<String>,
    pub reported_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    /// Set on `ban.lifted`.
    pub lifted_at: Option<DateTime<Utc>>,
    pub lift_reason: Option<String>,
}

/// `worker.registered` and `worker.revoked`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerEvent {
    pub tenant_id: String,
    /// `wrk_…`
    pub worker_registry_id: String,
    pub worker_id: String,
    /// `active` or `revoked`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `attestation.submitted` and `attestation.approved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttestationEvent {
    pub tenant_id: String,
    pub attestation_id: String,
    pub worker_id: String,
    pub worker_registry_id: String,
    /// `hash` or `card`.
    pub kind: String,
    pub sha256: String,
    /// As judged: `attested`, `pending`, `denied`, …
    pub status: String,
    pub reason: Option<String>,
    /// The namespace key that signed the card.
    pub signed_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
}

/// `namespace.claimed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceEvent {
    pub tenant_id: String,
    pub namespace: String,
    /// `claimed`, or `pending` while it waits for the operator.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// `key.rotated`: receipts are signed with this key from now on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRotatedEvent {
    /// The key's id (`signing_key_id` on receipts; `GET /api/v1/keys`).
    pub kid: String,
    /// `Ed25519`.
    pub algorithm: String,
}

/// `decision.denied` (opt-in): a denied decision, from its receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionDeniedEvent {
    pub tenant_id: String,
    pub receipt_id: String,
    pub receipt_hash: String,
    pub correlation_id: String,
    /// As the receipt records it (RFC 3339).
    pub decided_at: String,
    pub worker_id: String,
    pub capability_id: String,
    pub env: String,
    pub data_label: String,
    pub deny_code: Option<String>,
    pub deny_reason: Option<String>,
    pub tier: u8,
    pub dry_run: bool,
}

/// `endpoint.disabled`: the registry disabled one of the tenant's
/// endpoints after its attempts failed for days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointDisabledEvent {
    pub tenant_id: String,
    /// `whep_…`
    pub endpoint_id: String,
    pub url: String,
    /// Since when every attempt has failed.
    pub failing_since: DateTime<Utc>,
    pub reason: String,
}

/// `chain.integrity_failure` (sev1): the background verifier found a break
/// in the tenant's receipt chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainIntegrityFailureEvent {
    pub tenant_id: String,
    /// `sev1`.
    pub severity: String,
    /// The chain position (from 1) of the first broken receipt.
    pub position: u64,
    /// That receipt's id, when there is one to name.
    pub receipt_id: Option<String>,
    /// `hash_mismatch`, `broken_link`, `bad_signature`, `unknown_key`,
    /// `wrong_tenant`, `missing`, `unreadable`, `head_mismatch`,
    /// `beyond_head`, `column_mismatch` or `tree_mismatch` (the receipt tree
    /// beside the chain — a stored node, or a checkpoint's head — is not
    /// what the receipts make).
    pub kind: String,
    /// The break, in words.
    pub reason: String,
    /// How many receipts before it verified.
    pub verified_through: u64,
    /// The chain's length as recorded when it was checked.
    pub chain_length: u64,
    pub detected_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolved_approval_is_the_approval_flat_with_who_resolved_it() {
        let at: DateTime<Utc> = "2026-11-26T07:00:00Z".parse().unwrap();
        let resolved = ApprovalResolvedEvent {
            approval: ApprovalEvent {
                tenant_id: "org.acme".into(),
                approval_id: Uuid::nil(),
                status: "approved".into(),
                supervisor_level: "gatekeeper".into(),
                worker_id: "x.acme.w".into(),
                worker_registry_id: "wrk_1".into(),
                capability_id: "cap.data.write.v1".into(),
                env: "prod".into(),
                data_label: "PUBLIC".into(),
                reason: "REQUIRE_HUMAN".into(),
                decision_id: Uuid::nil(),
                correlation_id: "c".into(),
                created_at: at,
                expires_at: at,
            },
            resolved_by: Some("alice".into()),
            resolution_note: None,
        };
        let v = serde_json::to_value(&resolved).unwrap();
        assert_eq!(v["status"], "approved");
        assert_eq!(v["resolved_by"], "alice");
        assert!(v["resolution_note"].is_null() && v.get("resolution_note").is_some());
        assert!(v.get("approval").is_none(), "flattened: {v}");
        assert_eq!(
            serde_json::from_value::<ApprovalResolvedEvent>(v).unwrap(),
            resolved
        );
    }

    #[test]
    fn a_payload_with_a_field_it_does_not_have_is_refused() {
        let v = serde_json::json!({"kid": "rk_1", "algorithm": "Ed25519", "extra": 1});
        assert!(serde_json::from_value::<KeyRotatedEvent>(v).is_err());
    }
}

//! The human-approval steps of a decision (REQUIRE_HUMAN, WCP §5.8): using
//! an approval the caller brought, opening a gatekeeper approval for a human
//! to resolve, opening an advisory one, and what the answer says about them.

use chrono::{SecondsFormat, Utc};
use policy::{Facts, Request};
use registry::approvals::{Approval, ApprovalSubject, NewApproval, SupervisorLevel, Unusable};
use registry::workers::Worker;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use registry::StoreError;

use super::DecideError;
use crate::Hall;

/// What the human is asked to approve (WCP §5.8 `escalation_context`).
fn escalation_context(
    hall: &Hall,
    w: &Worker,
    facts: &Facts,
    decision: &policy::Decision,
) -> serde_json::Value {
    serde_json::json!({
        "worker_id": w.record.worker_id.to_string(),
        "capability_id": facts.request.capability.to_string(),
        "env": facts.request.env.to_string(),
        "data_label": facts.request.data_label.to_string(),
        "tenant_id": facts.request.tenant.to_string(),
        "tier": decision.tier,
        "blast_score": w.record.blast_radius.as_ref().map(|(b, _)| b.score()),
        "risk_tier": w.record.risk_tier.map(|r| r.to_string()),
        "policy_version": hall.policy.version,
        "reason": decision.deny_reason,
    })
}

/// What an approval for this request covers.
fn approval_subject(w: &Worker, r: &Request) -> ApprovalSubject {
    ApprovalSubject {
        worker_registry_id: w.id.clone(),
        worker_id: w.record.worker_id.clone(),
        capability_id: r.capability.clone(),
        env: r.env,
        data_label: r.data_label,
    }
}

/// A REQUIRE_HUMAN outcome: the approval the caller brought lets the
/// decision through if it is approved and for exactly this request;
/// otherwise a pending approval is opened (or the caller's still-pending one
/// kept) for a human to resolve.
pub(super) struct HumanStep {
    pub decision: policy::Decision,
    pub approval_id: Option<Uuid>,
    pub pending: Option<Approval>,
    /// Whether `pending` is opened by this decision (stored with its receipt).
    pub opens: bool,
}

/// The decision being made, as the approval step needs it.
pub(crate) struct InFlight<'a> {
    /// The approval the caller brought, if any.
    pub brought: Option<Uuid>,
    pub receipt_id: Uuid,
    pub correlation_id: &'a str,
    pub dry_run: bool,
}

pub(super) async fn require_human(
    hall: &Hall,
    w: &Worker,
    mut facts: Facts,
    mut decision: policy::Decision,
    this: InFlight<'_>,
) -> Result<HumanStep, DecideError> {
    let context = escalation_context(hall, w, &facts, &decision);
    let reason = decision.deny_reason.clone().unwrap_or_default();
    let (answer, reason) = ask_human(hall, w, &facts.request, reason, context, this).await?;
    decision.deny_reason = decision.deny_reason.map(|_| reason);
    Ok(match answer {
        HumanAnswer::Approved(id) => {
            facts.human_approval = true;
            HumanStep {
                decision: policy::decide(&hall.policy, &facts),
                approval_id: Some(id),
                pending: None,
                opens: false,
            }
        }
        HumanAnswer::Waiting { approval, opens } => HumanStep {
            decision,
            approval_id: Some(approval.id),
            pending: Some(*approval),
            opens,
        },
        HumanAnswer::NotOpened => HumanStep {
            decision,
            approval_id: None,
            pending: None,
            opens: false,
        },
    })
}

/// What became of a REQUIRE_HUMAN ([`ask_human`]).
pub(crate) enum HumanAnswer {
    /// The approval the caller brought is approved for exactly this
    /// request, and is now used by this decision.
    Approved(Uuid),
    /// A human has yet to approve: the caller's still-pending approval, or
    /// (`opens`) a new one, which the decision's receipt opens: it is
    /// stored, and announced, in the receipt's transaction.
    Waiting {
        approval: Box<Approval>,
        opens: bool,
    },
    /// A dry run opens nothing and uses nothing (§5.5).
    NotOpened,
}

/// The approval steps of a REQUIRE_HUMAN, for a decision about a named
/// worker and for the router alike: the approval the caller brought lets
/// the decision through if it is approved and for exactly this request;
/// otherwise a gatekeeper approval is opened (or the caller's still-pending
/// one kept) for a human to resolve. Returns the reason, completed with why
/// a brought approval did not serve.
pub(crate) async fn ask_human(
    hall: &Hall,
    w: &Worker,
    request: &Request,
    mut reason: String,
    escalation_context: serde_json::Value,
    this: InFlight<'_>,
) -> Result<(HumanAnswer, String), StoreError> {
    let InFlight {
        brought,
        receipt_id,
        correlation_id,
        dry_run,
    } = this;
    let store = hall.store.tenant(&request.tenant);
    let subject = approval_subject(w, request);
    if let (Some(id), false) = (brought, dry_run) {
        match store.use_approval(id, &subject, receipt_id).await? {
            Ok(_) => return Ok((HumanAnswer::Approved(id), reason)),
            Err(Unusable::Pending) => {
                if let Some(a) = store.approval(id).await? {
                    reason = format!("{reason}; approval {id} is still waiting for a human");
                    let waiting = HumanAnswer::Waiting {
                        approval: Box::new(a),
                        opens: false,
                    };
                    return Ok((waiting, reason));
                }
            }
            Err(why) => reason = format!("{reason}; approval {id} cannot be used: {why}"),
        }
    }
    if dry_run {
        return Ok((HumanAnswer::NotOpened, reason));
    }
    let ttl = hall
        .facts
        .decision_policy(&request.tenant)
        .await?
        .approval_ttl;
    let opened = NewApproval {
        id: Uuid::new_v4(),
        supervisor_level: SupervisorLevel::Gatekeeper,
        subject,
        reason: reason.clone(),
        escalation_context,
        decision_id: receipt_id,
        correlation_id: correlation_id.to_string(),
        ttl,
    }
    .opened(&request.tenant, Utc::now());
    let waiting = HumanAnswer::Waiting {
        approval: Box::new(opened),
        opens: true,
    };
    Ok((waiting, reason))
}

/// Advisory REQUIRE_HUMAN: the call proceeds; the approval it opens is the
/// record of what a human is told, to review after the fact. Returned to
/// be opened with the decision's receipt (`PendingReceipt::opens`).
pub(crate) async fn open_advisory(
    hall: &Hall,
    w: &Worker,
    facts: &Facts,
    decision: &policy::Decision,
    receipt_id: Uuid,
    correlation_id: &str,
) -> Result<Approval, DecideError> {
    let tenant = &facts.request.tenant;
    let ttl = hall.facts.decision_policy(tenant).await?.approval_ttl;
    Ok(NewApproval {
        id: Uuid::new_v4(),
        supervisor_level: SupervisorLevel::Advisory,
        subject: approval_subject(w, &facts.request),
        reason: "REQUIRE_HUMAN (advisory): restricted data or over-threshold blast in \
                 production; allowed, a human is notified"
            .into(),
        escalation_context: escalation_context(hall, w, facts, decision),
        decision_id: receipt_id,
        correlation_id: correlation_id.to_string(),
        ttl,
    }
    .opened(tenant, Utc::now()))
}

/// What a decision's answer carries besides its receipt: the human-approval
/// fields. Kept with an idempotency key (as JSON, in
/// `decision_idempotency`), so a replay answers the same: renaming a field
/// here forgets it in the keys already stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Supervision {
    /// Advisory REQUIRE_HUMAN: allowed, and a human is notified.
    pub advisory: bool,
    /// Serialized `advisory`, `gatekeeper` or `incident_commander`.
    pub level: Option<SupervisorLevel>,
    pub pending_approval_id: Option<String>,
    pub approval_expires_at: Option<String>,
    pub escalation_context: Option<serde_json::Value>,
}

impl Supervision {
    pub(crate) fn new(advisory: bool, pending: Option<Approval>) -> Self {
        let level = pending
            .as_ref()
            .map(|a| a.supervisor_level)
            .unwrap_or(SupervisorLevel::l7(advisory));
        Self {
            advisory,
            level: Some(level),
            pending_approval_id: pending.as_ref().map(|a| a.id.to_string()),
            approval_expires_at: pending
                .as_ref()
                .map(|a| a.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            escalation_context: pending.map(|a| a.escalation_context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_is_stored_in_the_same_json_shape() {
        let s = Supervision::new(true, None);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "advisory": true,
                "level": "advisory",
                "pending_approval_id": null,
                "approval_expires_at": null,
                "escalation_context": null,
            })
        );
        assert_eq!(serde_json::from_value::<Supervision>(v).unwrap(), s);
        let stored = serde_json::json!({"advisory": false, "level": "incident_commander",
            "pending_approval_id": null, "approval_expires_at": null, "escalation_context": null});
        let back: Supervision = serde_json::from_value(stored).unwrap();
        assert_eq!(back.level, Some(SupervisorLevel::IncidentCommander));
        assert_eq!(
            Supervision::new(false, None).level,
            Some(SupervisorLevel::Gatekeeper)
        );
    }
}

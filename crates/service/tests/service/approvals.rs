//! The approval use cases: a human answers a pending approval once,
//! escalates a gatekeeper's, and never sees another tenant's.

use audit::Outcome;
use policy::approvals::{ApprovalStatus, SupervisorLevel};
use registry::approvals::Approval;
use serde_json::json;
use service::approvals::{Answer, ApprovalError, ResolveCommand};
use uuid::Uuid;
use wcp::{DataLabel, Env, TenantId};

use crate::fixture::{command, key_of, Fixture};

const GATEKEPT: &str = "x.acme.gk";
const EVERY_ANSWER: [Answer; 3] = [Answer::Approve, Answer::Deny, Answer::Escalate];

/// Tenant `org.acme` with a tier-8 worker, and the approval a decision
/// about it in prod opened: a human must approve.
async fn waiting() -> (Fixture, TenantId, Uuid) {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, GATEKEPT, 8, json!({})).await;
    f.attest_card(&acme, GATEKEPT, &"a".repeat(64)).await;
    let (outcome, opened) = ask(&f, &acme, None).await;
    assert_eq!(outcome, Outcome::Deny);
    (f, acme, opened.expect("an approval is opened"))
}

/// A decision about the tier-8 worker in prod bringing `approval`: its
/// outcome, and the approval it opened.
async fn ask(f: &Fixture, tenant: &TenantId, approval: Option<Uuid>) -> (Outcome, Option<Uuid>) {
    let mut c = command(tenant, GATEKEPT, Env::Prod, DataLabel::Public);
    c.approval = approval;
    let d = f.hall.decide(key_of(tenant), c, None).await.unwrap();
    let opened = d
        .supervision
        .pending_approval_id
        .map(|id| id.parse().unwrap());
    (d.decision.receipt.content.outcome, opened)
}

fn by_alice(tenant: &TenantId, approval: Uuid, answer: Answer) -> ResolveCommand {
    ResolveCommand {
        tenant: tenant.clone(),
        approval,
        answer,
        by: "alice (key 1)".into(),
        note: Some("checked the change ticket".into()),
    }
}

async fn answered(f: &Fixture, tenant: &TenantId, id: Uuid, answer: Answer) -> Approval {
    let command = by_alice(tenant, id, answer);
    f.hall.resolve_approval(command).await.unwrap()
}

/// The error of an answer that must not apply.
async fn refused(f: &Fixture, tenant: &TenantId, id: Uuid, answer: Answer) -> ApprovalError {
    let command = by_alice(tenant, id, answer);
    f.hall.resolve_approval(command).await.unwrap_err()
}

async fn status(f: &Fixture, tenant: &TenantId, id: Uuid) -> ApprovalStatus {
    f.hall.approval(tenant, id).await.unwrap().status
}

#[tokio::test]
async fn an_approved_approval_lets_exactly_one_matching_decision_through() {
    let (f, acme, id) = waiting().await;
    let pending = f.hall.pending_approvals(&acme).await.unwrap();
    assert_eq!(pending.iter().map(|a| a.id).collect::<Vec<_>>(), vec![id]);

    let a = answered(&f, &acme, id, Answer::Approve).await;
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.resolved_by.as_deref(), Some("alice (key 1)"));
    assert_eq!(
        a.resolution_note.as_deref(),
        Some("checked the change ticket")
    );
    assert!(a.resolved_at.is_some());
    assert!(f.hall.pending_approvals(&acme).await.unwrap().is_empty());

    assert_eq!(ask(&f, &acme, Some(id)).await.0, Outcome::Allow);
    let (again, reopened) = ask(&f, &acme, Some(id)).await;
    assert_eq!(again, Outcome::Deny, "used once");
    assert_ne!(reopened, Some(id));
}

#[tokio::test]
async fn a_resolved_approval_cannot_be_resolved_again() {
    let (f, acme, id) = waiting().await;

    let denied = answered(&f, &acme, id, Answer::Deny).await;
    assert_eq!(denied.status, ApprovalStatus::Denied);
    for then in EVERY_ANSWER {
        let err = refused(&f, &acme, id, then).await;
        assert!(
            matches!(err, ApprovalError::NotPending { id: i, status: ApprovalStatus::Denied } if i == id),
            "{then:?}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("approval {id} is denied, not pending")
        );
    }
    assert_eq!(
        status(&f, &acme, id).await,
        ApprovalStatus::Denied,
        "the first answer stands"
    );
    assert_eq!(ask(&f, &acme, Some(id)).await.0, Outcome::Deny);
}

#[tokio::test]
async fn of_two_humans_answering_at_once_one_is_told_it_is_no_longer_pending() {
    let (f, acme, id) = waiting().await;
    let (yes, no) = tokio::join!(
        f.hall
            .resolve_approval(by_alice(&acme, id, Answer::Approve)),
        f.hall.resolve_approval(by_alice(&acme, id, Answer::Deny)),
    );
    let (won, lost) = match (yes, no) {
        (Ok(a), Err(e)) | (Err(e), Ok(a)) => (a, e),
        other => panic!("exactly one answer applies: {other:?}"),
    };
    assert!(
        matches!(lost, ApprovalError::NotPending { status, .. } if status == won.status),
        "{lost:?}"
    );
    assert_eq!(status(&f, &acme, id).await, won.status);
}

#[tokio::test]
async fn only_a_gatekeeper_approval_escalates_and_it_stays_pending() {
    let (f, acme, id) = waiting().await;

    let up = answered(&f, &acme, id, Answer::Escalate).await;
    assert_eq!(up.supervisor_level, SupervisorLevel::IncidentCommander);
    assert_eq!(up.status, ApprovalStatus::Pending);
    assert_eq!(up.resolved_at, None, "not answered yet");
    let err = refused(&f, &acme, id, Answer::Escalate).await;
    assert!(
        matches!(
            err,
            ApprovalError::NotGatekeeper {
                level: SupervisorLevel::IncidentCommander,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("approval {id} is at incident_commander; only gatekeeper approvals escalate")
    );
    // The incident commander still answers it.
    let a = answered(&f, &acme, id, Answer::Approve).await;
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.supervisor_level, SupervisorLevel::IncidentCommander);
}

#[tokio::test]
async fn an_expired_approval_cannot_be_answered() {
    let (f, acme, id) = waiting().await;
    f.sql(&format!(
        "UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = '{id}'"
    ))
    .await;

    assert_eq!(status(&f, &acme, id).await, ApprovalStatus::Expired);
    assert!(f.hall.pending_approvals(&acme).await.unwrap().is_empty());
    for then in EVERY_ANSWER {
        let err = refused(&f, &acme, id, then).await;
        assert!(
            matches!(
                err,
                ApprovalError::NotPending {
                    status: ApprovalStatus::Expired,
                    ..
                }
            ),
            "{then:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn another_tenants_approval_is_not_there() {
    let (f, acme, id) = waiting().await;
    let other = f.create_tenant("org.other").await;

    assert!(matches!(
        f.hall.approval(&other, id).await,
        Err(ApprovalError::NotFound(i)) if i == id
    ));
    assert!(f.hall.pending_approvals(&other).await.unwrap().is_empty());
    for then in EVERY_ANSWER {
        let err = refused(&f, &other, id, then).await;
        assert!(
            matches!(err, ApprovalError::NotFound(i) if i == id),
            "{err:?}"
        );
        assert_eq!(err.to_string(), format!("approval {id} not found"));
    }
    assert_eq!(
        status(&f, &acme, id).await,
        ApprovalStatus::Pending,
        "untouched"
    );
}

//! The approval use cases: a human answers a pending approval once,
//! escalates a gatekeeper's, and never sees another tenant's.

use audit::Outcome;
use policy::approvals::{ApprovalStatus, Resolution, SupervisorLevel};
use serde_json::json;
use service::approvals::{Answer, ApprovalError, ResolveCommand};
use uuid::Uuid;
use wcp::{DataLabel, Env, TenantId};

use crate::fixture::{command, key_of, Fixture};

const GATEKEPT: &str = "x.acme.gk";

/// A tier-8 worker of `tenant` asked for in prod: a human must approve.
async fn needs_a_human(f: &Fixture, tenant: &TenantId) {
    f.register(tenant, GATEKEPT, 8, json!({})).await;
    f.attest_card(tenant, GATEKEPT, &"a".repeat(64)).await;
}

/// A decision that needs a human: the approval it opened.
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

fn answer(tenant: &TenantId, approval: Uuid, answer: Answer) -> ResolveCommand {
    ResolveCommand {
        tenant: tenant.clone(),
        approval,
        answer,
        by: "alice (key 1)".into(),
        note: Some("checked the change ticket".into()),
    }
}

const APPROVE: Answer = Answer::Resolve(Resolution::Approve);
const DENY: Answer = Answer::Resolve(Resolution::Deny);

#[tokio::test]
async fn an_approved_approval_lets_exactly_one_matching_decision_through() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    needs_a_human(&f, &acme).await;
    let (outcome, opened) = ask(&f, &acme, None).await;
    assert_eq!(outcome, Outcome::Deny);
    let id = opened.expect("an approval is opened");
    assert_eq!(
        f.hall
            .pending_approvals(&acme)
            .await
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect::<Vec<_>>(),
        vec![id]
    );

    let a = f
        .hall
        .resolve_approval(answer(&acme, id, APPROVE))
        .await
        .unwrap();
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.resolved_by.as_deref(), Some("alice (key 1)"));
    assert_eq!(
        a.resolution_note.as_deref(),
        Some("checked the change ticket")
    );
    assert!(f.hall.pending_approvals(&acme).await.unwrap().is_empty());

    assert_eq!(ask(&f, &acme, Some(id)).await.0, Outcome::Allow);
    let (again, reopened) = ask(&f, &acme, Some(id)).await;
    assert_eq!(again, Outcome::Deny, "used once");
    assert_ne!(reopened, Some(id));
}

#[tokio::test]
async fn a_resolved_approval_cannot_be_resolved_again() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    needs_a_human(&f, &acme).await;
    let id = ask(&f, &acme, None).await.1.unwrap();

    let denied = f
        .hall
        .resolve_approval(answer(&acme, id, DENY))
        .await
        .unwrap();
    assert_eq!(denied.status, ApprovalStatus::Denied);
    for then in [APPROVE, DENY, Answer::Escalate] {
        let err = f
            .hall
            .resolve_approval(answer(&acme, id, then))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApprovalError::NotPending { id: i, status: ApprovalStatus::Denied } if i == id),
            "{then:?}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("approval {id} is denied, not pending")
        );
    }
    let stored = f.hall.approval(&acme, id).await.unwrap();
    assert_eq!(
        stored.status,
        ApprovalStatus::Denied,
        "the first answer stands"
    );
    assert_eq!(ask(&f, &acme, Some(id)).await.0, Outcome::Deny);
}

#[tokio::test]
async fn only_a_gatekeeper_approval_escalates_and_it_stays_pending() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    needs_a_human(&f, &acme).await;
    let id = ask(&f, &acme, None).await.1.unwrap();

    let up = f
        .hall
        .resolve_approval(answer(&acme, id, Answer::Escalate))
        .await
        .unwrap();
    assert_eq!(up.supervisor_level, SupervisorLevel::IncidentCommander);
    assert_eq!(up.status, ApprovalStatus::Pending);
    let err = f
        .hall
        .resolve_approval(answer(&acme, id, Answer::Escalate))
        .await
        .unwrap_err();
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
    let a = f
        .hall
        .resolve_approval(answer(&acme, id, APPROVE))
        .await
        .unwrap();
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.supervisor_level, SupervisorLevel::IncidentCommander);
}

#[tokio::test]
async fn an_expired_approval_cannot_be_answered() {
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    needs_a_human(&f, &acme).await;
    let id = ask(&f, &acme, None).await.1.unwrap();
    f.sql(&format!(
        "UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = '{id}'"
    ))
    .await;

    assert_eq!(
        f.hall.approval(&acme, id).await.unwrap().status,
        ApprovalStatus::Expired
    );
    assert!(f.hall.pending_approvals(&acme).await.unwrap().is_empty());
    for then in [APPROVE, DENY, Answer::Escalate] {
        let err = f
            .hall
            .resolve_approval(answer(&acme, id, then))
            .await
            .unwrap_err();
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
    let f = Fixture::start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    needs_a_human(&f, &acme).await;
    let id = ask(&f, &acme, None).await.1.unwrap();

    assert!(matches!(
        f.hall.approval(&other, id).await,
        Err(ApprovalError::NotFound(i)) if i == id
    ));
    assert!(f.hall.pending_approvals(&other).await.unwrap().is_empty());
    for then in [APPROVE, DENY, Answer::Escalate] {
        let err = f
            .hall
            .resolve_approval(answer(&other, id, then))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApprovalError::NotFound(i) if i == id),
            "{err:?}"
        );
        assert_eq!(err.to_string(), format!("approval {id} not found"));
    }
    assert_eq!(
        f.hall.approval(&acme, id).await.unwrap().status,
        ApprovalStatus::Pending,
        "untouched"
    );
}

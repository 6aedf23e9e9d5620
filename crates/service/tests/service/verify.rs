//! Verifying a worker: its standing, its attestation in force and a ban on it.

use registry::workers::WorkerRef;
use serde_json::json;
use service::bans::{PackageHash, ReportCommand};
use service::{Caller, Verified, VerifiedStatus};
use wcp::TenantId;

use crate::fixture::Fixture;

const SHA: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

fn named(id: &str) -> WorkerRef {
    WorkerRef::parse(id).unwrap()
}

/// Whether verify knows `id` as `viewer` asks.
async fn visible(f: &Fixture, id: &str, viewer: Option<&TenantId>) -> bool {
    f.hall
        .verify_worker(&named(id), viewer)
        .await
        .unwrap()
        .is_some()
}

/// What verify says of `id` to anyone (no credential); the worker must be there.
async fn verified(f: &Fixture, id: &str) -> Verified {
    f.hall
        .verify_worker(&named(id), None)
        .await
        .unwrap()
        .expect("visible to anyone")
}

#[tokio::test]
async fn an_attested_worker_is_active_then_banned_with_its_hash_then_revoked() {
    let (f, acme, _) = Fixture::acme_and_other().await;
    let w = f
        .register(&acme, "x.acme.w", 1, json!({"visibility": "public"}))
        .await;
    let unattested = verified(&f, "x.acme.w").await;
    assert_eq!(unattested.status, VerifiedStatus::Active);
    assert!(unattested.current.is_none());

    f.attest_card(&acme, "x.acme.w", SHA).await;
    let v = verified(&f, &w.id).await;
    assert_eq!(v.status, VerifiedStatus::Active);
    assert_eq!(v.current.as_ref().map(|a| a.sha256.as_str()), Some(SHA));
    assert_eq!(v.ban_reason, None);

    let operator = Caller {
        tenant: &acme,
        operator: true,
        admin: true,
        key_id: uuid::Uuid::nil(),
    };
    let report = f
        .hall
        .report_hash(
            operator,
            ReportCommand {
                sha256: PackageHash::parse(SHA).unwrap(),
                reason: "exfiltrates credentials".into(),
                evidence_url: None,
            },
        )
        .await
        .unwrap();
    f.hall.confirm_report(&report.id, None).await.unwrap();
    let banned = verified(&f, "x.acme.w").await;
    assert_eq!(banned.status, VerifiedStatus::Banned);
    assert_eq!(
        banned.ban_reason.as_deref(),
        Some("exfiltrates credentials")
    );

    f.hall
        .revoke_worker(&acme, &named("x.acme.w"))
        .await
        .unwrap();
    let revoked = verified(&f, "x.acme.w").await;
    assert_eq!(
        revoked.status,
        VerifiedStatus::Revoked,
        "revoked whatever its hash"
    );
}

#[tokio::test]
async fn a_private_worker_is_verified_by_its_own_tenant_only() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    f.register(&acme, "x.acme.w", 1, json!({"visibility": "private"}))
        .await;
    assert!(visible(&f, "x.acme.w", Some(&acme)).await);
    assert!(!visible(&f, "x.acme.w", Some(&other)).await);
    assert!(!visible(&f, "x.acme.w", None).await);
    assert!(!visible(&f, "x.acme.nobody", Some(&acme)).await);
}

#[test]
fn a_revoked_worker_is_revoked_whatever_its_ban() {
    use registry::workers::WorkerStatus;
    assert_eq!(
        VerifiedStatus::of(WorkerStatus::Revoked, true),
        VerifiedStatus::Revoked
    );
    assert_eq!(
        VerifiedStatus::of(WorkerStatus::Active, true),
        VerifiedStatus::Banned
    );
    assert_eq!(
        VerifiedStatus::of(WorkerStatus::Active, false),
        VerifiedStatus::Active
    );
    assert_eq!(VerifiedStatus::Banned.as_str(), "banned");
}

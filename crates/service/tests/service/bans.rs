//! The ban-list use cases: a report bans nothing until the operator
//! confirms it, a report is reviewed once, and a confirmed or lifted ban
//! counts for the next decision at once.

use std::time::{Duration, Instant};

use audit::Outcome;
use policy::ban_review::ReportStatus;
use registry::bans::ReportFilter;
use serde_json::json;
use service::bans::{LiftError, PackageHash, ReportCommand, ReportError, ReviewError};
use service::Caller;
use wcp::TenantId;

use crate::fixture::{key_of, Fixture};

const WORKER: &str = "x.acme.w";

fn hash(c: char) -> PackageHash {
    PackageHash::parse(&c.to_string().repeat(64)).unwrap()
}

fn report(sha256: &PackageHash) -> ReportCommand {
    ReportCommand {
        sha256: sha256.clone(),
        reason: "exfiltrates credentials".into(),
        evidence_url: Some("https://example.com/advisory".into()),
    }
}

fn operator(t: &TenantId) -> Caller<'_> {
    Caller {
        tenant: t,
        operator: true,
        admin: true,
        key_id: uuid::Uuid::nil(),
    }
}

/// A fixture whose ban cache answers from its in-memory copy, as a server's
/// does once it follows changes.
async fn following() -> Fixture {
    let f = Fixture::start().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f.hall.bans.is_subscribed() {
        assert!(Instant::now() < deadline, "the ban cache never subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f
}

async fn decide(f: &Fixture, tenant: &TenantId) -> (Outcome, Option<String>) {
    f.outcome(tenant, WORKER).await
}

/// Every report, oldest first, on the first page.
fn all_reports() -> ReportFilter {
    ReportFilter {
        status: None,
        sha256: None,
        reporter: None,
        after: None,
        limit: wcp::PageLimit::default_of(wcp::PageSize::BANS),
    }
}

/// The bans in force, as the ban list's first page shows them.
async fn live_bans(f: &Fixture) -> Vec<registry::bans::Ban> {
    f.hall
        .live_bans(wcp::PageLimit::default_of(wcp::PageSize::BANS))
        .await
        .unwrap()
}

#[tokio::test]
async fn confirming_a_report_bans_the_hash_for_decisions_at_once() {
    let f = following().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, WORKER, 1, json!({})).await;
    let sha = hash('b');
    f.attest_card(&acme, WORKER, sha.as_str()).await;
    assert_eq!(decide(&f, &acme).await.0, Outcome::Allow);

    let filed = f
        .hall
        .report_hash(key_of(&acme), report(&sha))
        .await
        .unwrap();
    assert_eq!(filed.status, ReportStatus::Pending);
    assert_eq!(filed.source, "community");
    assert_eq!(filed.reporter_tenant.as_ref(), Some(&acme));
    assert_eq!(
        decide(&f, &acme).await.0,
        Outcome::Allow,
        "a report alone bans nothing"
    );
    assert!(live_bans(&f).await.is_empty());

    let (confirmed, ban) = f
        .hall
        .confirm_report(&filed.id, Some("reproduced".into()))
        .await
        .unwrap();
    assert_eq!(confirmed.status, ReportStatus::Confirmed);
    assert_eq!(confirmed.review_note.as_deref(), Some("reproduced"));
    assert_eq!(ban.sha256, sha.as_str());
    assert_eq!(ban.report_id.as_deref(), Some(filed.id.as_str()));
    assert_eq!(
        decide(&f, &acme).await,
        (Outcome::Deny, Some(policy::deny::HASH_BANNED.to_string())),
        "the very next decision"
    );
    let live = live_bans(&f).await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].sha256, sha.as_str());
}

#[tokio::test]
async fn lifting_a_ban_lets_the_worker_be_allowed_again() {
    let f = following().await;
    let acme = f.create_tenant("org.acme").await;
    let op = f.create_tenant("org.ops").await;
    f.register(&acme, WORKER, 1, json!({})).await;
    let sha = hash('c');
    f.attest_card(&acme, WORKER, sha.as_str()).await;
    let filed = f
        .hall
        .report_hash(operator(&op), report(&sha))
        .await
        .unwrap();
    assert_eq!(filed.source, "operator");
    f.hall.confirm_report(&filed.id, None).await.unwrap();
    assert_eq!(decide(&f, &acme).await.0, Outcome::Deny);
    assert!(f.hall.ban_history(&sha).await.unwrap().banned);

    let lifted = f
        .hall
        .lift_ban(&sha, Some("false positive".into()))
        .await
        .unwrap();
    assert!(lifted.lifted_at.is_some());
    assert_eq!(lifted.lift_reason.as_deref(), Some("false positive"));
    assert_eq!(
        decide(&f, &acme).await.0,
        Outcome::Allow,
        "the very next decision"
    );
    let history = f.hall.ban_history(&sha).await.unwrap();
    assert!(!history.banned);
    assert_eq!(history.bans.len(), 1, "a lifted ban stays in the history");
    assert!(live_bans(&f).await.is_empty());

    let err = f.hall.lift_ban(&sha, None).await.unwrap_err();
    assert!(
        matches!(&err, LiftError::NoLiveBan(s) if *s == sha),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("ban on {sha} not found"));
}

#[tokio::test]
async fn a_report_is_reviewed_once() {
    let f = following().await;
    let acme = f.create_tenant("org.acme").await;
    let first = f
        .hall
        .report_hash(key_of(&acme), report(&hash('d')))
        .await
        .unwrap();
    let second = f
        .hall
        .report_hash(key_of(&acme), report(&hash('e')))
        .await
        .unwrap();

    f.hall.confirm_report(&first.id, None).await.unwrap();
    let rejected = f
        .hall
        .reject_report(&second.id, Some("no evidence".into()))
        .await
        .unwrap();
    assert_eq!(rejected.status, ReportStatus::Rejected);

    for (id, status) in [
        (&first.id, ReportStatus::Confirmed),
        (&second.id, ReportStatus::Rejected),
    ] {
        let again = [
            f.hall.confirm_report(id, None).await.map(|_| ()),
            f.hall.reject_report(id, None).await.map(|_| ()),
        ];
        for err in again {
            let err = err.unwrap_err();
            assert!(
                matches!(&err, ReviewError::AlreadyReviewed { status: s, .. } if *s == status),
                "{err:?}"
            );
            assert_eq!(err.to_string(), format!("report {id} is already {status}"));
        }
    }
    assert!(
        !f.hall.ban_history(&hash('e')).await.unwrap().banned,
        "a rejected report bans nothing"
    );
    assert_eq!(live_bans(&f).await.len(), 1);

    let err = f.hall.confirm_report("rpt_nope", None).await.unwrap_err();
    assert!(
        matches!(&err, ReviewError::NotFound(id) if id == "rpt_nope"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "report rpt_nope not found");

    let hall = &f.hall;
    let listed = |status| async move {
        hall.ban_reports(&ReportFilter {
            status,
            ..all_reports()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| (r.id, r.status))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(None).await,
        vec![
            (first.id.clone(), ReportStatus::Confirmed),
            (second.id.clone(), ReportStatus::Rejected)
        ],
        "oldest first"
    );
    assert_eq!(
        listed(Some(ReportStatus::Rejected)).await,
        vec![(second.id.clone(), ReportStatus::Rejected)]
    );
    assert!(listed(Some(ReportStatus::Pending)).await.is_empty());
}

#[tokio::test]
async fn a_tenant_files_at_most_its_daily_quota_of_reports_and_the_operator_is_not_counted() {
    let mut f = following().await;
    f.hall.ban_reports_per_day = 3;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    let op = f.create_tenant("org.op").await;
    for c in ['1', '2', '3'] {
        f.hall
            .report_hash(key_of(&acme), report(&hash(c)))
            .await
            .unwrap();
    }
    let err = f
        .hall
        .report_hash(key_of(&acme), report(&hash('4')))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReportError::QuotaExceeded { reports_per_day: 3 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("3 ban reports today"), "{err}");
    // Another tenant has a quota of its own; the operator has none.
    f.hall
        .report_hash(key_of(&other), report(&hash('1')))
        .await
        .unwrap();
    for c in ['5', '6', '7', '8'] {
        f.hall
            .report_hash(operator(&op), report(&hash(c)))
            .await
            .unwrap();
    }
    let all = f.hall.ban_reports(&all_reports()).await.unwrap();
    assert_eq!(all.items.len(), 8, "the refused report was not stored");
    assert_eq!(all.next, None);
}

#[tokio::test]
async fn the_review_list_pages_by_cursor_and_filters_by_status_hash_and_reporter() {
    let f = following().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    let mut filed = Vec::new();
    for (who, c) in [
        (&acme, '1'),
        (&other, '1'),
        (&acme, '2'),
        (&other, '3'),
        (&acme, '4'),
    ] {
        let r = f
            .hall
            .report_hash(key_of(who), report(&hash(c)))
            .await
            .unwrap();
        filed.push(r.id);
    }
    f.hall.reject_report(&filed[2], None).await.unwrap();

    let hall = &f.hall;
    let ids = |filter: ReportFilter| async move {
        let page = hall.ban_reports(&filter).await.unwrap();
        (
            page.items.into_iter().map(|r| r.id).collect::<Vec<_>>(),
            page.next,
        )
    };
    // Pages of two, oldest first, each continuing after the last.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = ids(ReportFilter {
            after: after.clone(),
            limit: wcp::PageLimit::parse(Some(2), wcp::PageSize::BANS).unwrap(),
            ..all_reports()
        })
        .await;
        assert!(page.len() <= 2);
        seen.extend(page);
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, filed);

    let (by_hash, _) = ids(ReportFilter {
        sha256: Some(hash('1').to_string()),
        ..all_reports()
    })
    .await;
    assert_eq!(by_hash, vec![filed[0].clone(), filed[1].clone()]);
    let (by_reporter, _) = ids(ReportFilter {
        reporter: Some(other.clone()),
        ..all_reports()
    })
    .await;
    assert_eq!(by_reporter, vec![filed[1].clone(), filed[3].clone()]);
    let (pending_of_acme, _) = ids(ReportFilter {
        status: Some(ReportStatus::Pending),
        reporter: Some(acme.clone()),
        ..all_reports()
    })
    .await;
    assert_eq!(pending_of_acme, vec![filed[0].clone(), filed[4].clone()]);
}

#[test]
fn a_package_hash_is_64_hex_characters_held_lowercase() {
    let upper = format!("  {}  ", "AB".repeat(32));
    assert_eq!(
        PackageHash::parse(&upper).unwrap().as_str(),
        "ab".repeat(32)
    );
    for bad in ["", "ab", &"g".repeat(64), &"a".repeat(65)] {
        assert!(PackageHash::parse(bad).is_err(), "{bad:?}");
    }
}

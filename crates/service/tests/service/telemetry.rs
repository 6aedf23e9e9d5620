//! The SDKs' usage counts: summed per tenant, id and day.

use chrono::Utc;
use wcp::telemetry::UsageReport;

use crate::fixture::Fixture;

fn report(entries: &[(&str, i64)]) -> UsageReport {
    UsageReport::parse(entries.iter().map(|(id, n)| (id.to_string(), *n)).collect()).unwrap()
}

#[tokio::test]
async fn reported_counts_add_up_per_day_and_stay_with_their_tenant() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let accepted = f
        .hall
        .report_usage(
            &acme,
            &report(&[("wrk.doc.summarizer", 2), ("x.acme.w", 1)]),
        )
        .await
        .unwrap();
    assert_eq!(accepted, 2);
    f.hall
        .report_usage(&acme, &report(&[("wrk.doc.summarizer", 5)]))
        .await
        .unwrap();

    let today = Utc::now().date_naive();
    let mut counts: Vec<_> = f
        .hall
        .daily_counts(&acme, None)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.worker_id, c.day, c.count))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("wrk.doc.summarizer".to_string(), today, 7),
            ("x.acme.w".to_string(), today, 1)
        ]
    );
    assert!(f.hall.daily_counts(&other, None).await.unwrap().is_empty());
    let tomorrow = today + chrono::Duration::days(1);
    assert!(
        f.hall
            .daily_counts(&acme, Some(tomorrow))
            .await
            .unwrap()
            .is_empty(),
        "nothing from a day after today"
    );
}

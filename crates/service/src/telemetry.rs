//! Usage counts the SDKs report, summed per tenant, id and UTC day, and a
//! tenant's daily totals. What a report may carry is `wcp::telemetry`; the
//! rows are `registry::telemetry`.

use chrono::{NaiveDate, Utc};
use registry::telemetry::DailyCount;
use registry::StoreError;
use wcp::telemetry::UsageReport;
use wcp::TenantId;

use crate::Hall;

/// How many days back the daily totals start when no day is given.
pub const DEFAULT_DAYS: i64 = 30;

impl Hall {
    /// Adds the report's counts to `tenant`'s totals for today (UTC);
    /// answers how many entries were added.
    pub async fn report_usage(
        &self,
        tenant: &TenantId,
        report: &UsageReport,
    ) -> Result<usize, StoreError> {
        self.store
            .tenant(tenant)
            .add_decision_counts(report.counts())
            .await?;
        Ok(report.len())
    }

    /// `tenant`'s daily totals from `since` (by default [`DEFAULT_DAYS`]
    /// days ago, UTC), newest day first.
    pub async fn daily_counts(
        &self,
        tenant: &TenantId,
        since: Option<NaiveDate>,
    ) -> Result<Vec<DailyCount>, StoreError> {
        let since =
            since.unwrap_or_else(|| Utc::now().date_naive() - chrono::Duration::days(DEFAULT_DAYS));
        self.store.tenant(tenant).decision_counts(since).await
    }
}

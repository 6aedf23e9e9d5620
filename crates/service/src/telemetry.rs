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

/// Why a report was not added.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The report would take the tenant's day above its quota of ids.
    #[error(
        "this report would take today's usage totals above {ids_per_day} different worker ids \
         for your tenant; ids already reported today still count"
    )]
    QuotaExceeded { ids_per_day: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Hall {
    /// Adds the report's counts to `tenant`'s totals for today (UTC), within
    /// the day's quota of different ids ([`Hall::telemetry_ids_per_day`]);
    /// answers how many entries were added. All or nothing.
    pub async fn report_usage(
        &self,
        tenant: &TenantId,
        report: &UsageReport,
    ) -> Result<usize, UsageError> {
        let ids_per_day = self.telemetry_ids_per_day;
        let added = self
            .store
            .tenant(tenant)
            .add_decision_counts(report.counts(), |known, new| {
                wcp::telemetry::within_daily_ids(known, new, ids_per_day)
            })
            .await?;
        if !added {
            return Err(UsageError::QuotaExceeded { ids_per_day });
        }
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

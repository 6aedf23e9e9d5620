//! Usage counts reported by the SDKs: summed per tenant, id and UTC day.

use chrono::NaiveDate;

use crate::{StoreError, TenantStore};

/// One day's count for one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyCount {
    pub worker_id: String,
    pub day: NaiveDate,
    pub count: i64,
}

impl TenantStore<'_> {
    /// Adds `counts` (id, count) to today's totals, in one statement.
    pub async fn add_decision_counts(&self, counts: &[(String, i64)]) -> Result<(), StoreError> {
        let (ids, ns): (Vec<&str>, Vec<i64>) =
            counts.iter().map(|(id, n)| (id.as_str(), *n)).unzip();
        sqlx::query(
            "INSERT INTO decision_telemetry (tenant_id, worker_id, day, count)
             SELECT $1, u.id, (now() AT TIME ZONE 'UTC')::date, sum(u.n)
             FROM unnest($2::text[], $3::bigint[]) AS u(id, n) GROUP BY u.id
             ON CONFLICT (tenant_id, day, worker_id)
             DO UPDATE SET count = decision_telemetry.count + excluded.count, updated_at = now()",
        )
        .bind(self.tenant.as_str())
        .bind(&ids)
        .bind(&ns)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }

    /// Daily totals from `since` on, newest day first.
    pub async fn decision_counts(&self, since: NaiveDate) -> Result<Vec<DailyCount>, StoreError> {
        let rows: Vec<(String, NaiveDate, i64)> = sqlx::query_as(
            "SELECT worker_id, day, count FROM decision_telemetry
             WHERE tenant_id = $1 AND day >= $2 ORDER BY day DESC, worker_id LIMIT 10000",
        )
        .bind(self.tenant.as_str())
        .bind(since)
        .fetch_all(&self.store.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(worker_id, day, count)| DailyCount {
                worker_id,
                day,
                count,
            })
            .collect())
    }
}

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
    /// Adds `counts` (id, count) to today's totals, if `admit(known today,
    /// new ids)` says the day may hold the ids it adds; `Ok(false)` when it
    /// says no, and nothing is written. The tenant's reports are counted
    /// and added one at a time (a transaction-scoped advisory lock), so two
    /// reports cannot both pass on the same room.
    pub async fn add_decision_counts(
        &self,
        counts: &[(String, i64)],
        admit: impl FnOnce(u64, u64) -> bool,
    ) -> Result<bool, StoreError> {
        let (ids, ns): (Vec<&str>, Vec<i64>) =
            counts.iter().map(|(id, n)| (id.as_str(), *n)).unzip();
        let mut tx = self.store.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('hall_telemetry:' || $1, 0))")
            .bind(self.tenant.as_str())
            .execute(&mut *tx)
            .await?;
        let (known, new): (i64, i64) = sqlx::query_as(
            "SELECT
               (SELECT count(*) FROM decision_telemetry
                WHERE tenant_id = $1 AND day = (now() AT TIME ZONE 'UTC')::date),
               (SELECT count(DISTINCT u.id) FROM unnest($2::text[]) AS u(id)
                WHERE NOT EXISTS (SELECT 1 FROM decision_telemetry t
                  WHERE t.tenant_id = $1 AND t.day = (now() AT TIME ZONE 'UTC')::date
                    AND t.worker_id = u.id))",
        )
        .bind(self.tenant.as_str())
        .bind(&ids)
        .fetch_one(&mut *tx)
        .await?;
        let count =
            |n: i64| u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("count {n}")));
        if !admit(count(known)?, count(new)?) {
            return Ok(false);
        }
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
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

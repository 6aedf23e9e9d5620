//! The ban list: reports, the operator's review, confirmed bans, and the
//! caches every process keeps of the confirmed set.
//!
//! PostgreSQL is the truth. A trigger on `bans` announces every change on
//! `hall_bans` in the changing transaction, whoever makes it, and every
//! process LISTENs. With Redis, the confirmed set is also kept in Redis (a
//! hash, `<prefix>bans`) and changes are announced on `<prefix>bans:changed`
//! too — a faster path, never the only one. Each process holds an in-memory
//! copy that it trusts only while it LISTENs and only for [`MAX_AGE`] after
//! PostgreSQL last confirmed it: every [`RECONCILE`] a cheap digest of the
//! table (live count, newest id, newest lift) is compared with the copy's,
//! and a difference reloads it — so a lost announcement costs at most a few
//! seconds. Otherwise it asks PostgreSQL, and when that fails too the ban
//! status is unknown and callers must fail closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sqlx::postgres::PgListener;
use sqlx::Row;
use uuid::Uuid;
use wcp::TenantId;

pub use policy::ban_review::{ReportStatus, Review};

use crate::cache::Cache;
use crate::webhooks::Audience;
use crate::{Store, StoreError, Unavailable};
use ::webhooks::EventType;

const PG_CHANNEL: &str = "hall_bans";
const RETRY: Duration = Duration::from_millis(250);
/// The oldest the in-memory copy may be without PostgreSQL confirming it.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// How often the copy is compared with PostgreSQL.
pub const RECONCILE: Duration = Duration::from_secs(2);

/// What changes whenever the live set can have changed: live bans, the
/// newest ban's id, the newest lift.
type Digest = (i64, i64, Option<DateTime<Utc>>);

#[derive(Debug, Clone)]
pub struct BanReport {
    pub id: String,
    pub sha256: String,
    pub reason: String,
    pub evidence_url: Option<String>,
    pub source: String,
    pub reporter_tenant: Option<TenantId>,
    pub status: ReportStatus,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A report to file.
#[derive(Debug, Clone, Copy)]
pub struct NewReport<'a> {
    /// 64 lowercase hex.
    pub sha256: &'a str,
    pub reason: &'a str,
    pub evidence_url: Option<&'a str>,
    /// `operator` or `community`.
    pub source: &'a str,
    pub reporter: Option<&'a TenantId>,
}

/// Which reports a listing selects, and where it starts.
#[derive(Debug, Clone)]
pub struct ReportFilter {
    pub status: Option<ReportStatus>,
    /// 64 lowercase hex.
    pub sha256: Option<String>,
    pub reporter: Option<TenantId>,
    /// The id of the last report of the previous page.
    pub after: Option<String>,
    pub limit: wcp::PageLimit,
}

/// A report as reviewed, and the live ban on its hash when it was confirmed.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub report: BanReport,
    pub ban: Option<Ban>,
}

#[derive(Debug, Clone)]
pub struct Ban {
    pub sha256: String,
    pub reason: String,
    pub source: String,
    pub report_id: Option<String>,
    pub reported_at: DateTime<Utc>,
    pub confirmed_at: DateTime<Utc>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lift_reason: Option<String>,
}

const REPORT_COLUMNS: &str = "id, sha256, reason, evidence_url, source, reporter_tenant, status, \
     reviewed_at, review_note, created_at";
const BAN_COLUMNS: &str =
    "sha256, reason, source, report_id, reported_at, confirmed_at, lifted_at, lift_reason";

fn report_from_row(row: &sqlx::postgres::PgRow) -> Result<BanReport, StoreError> {
    let reporter: Option<String> = row.try_get("reporter_tenant")?;
    let status: String = row.try_get("status")?;
    Ok(BanReport {
        id: row.try_get("id")?,
        sha256: row.try_get("sha256")?,
        reason: row.try_get("reason")?,
        evidence_url: row.try_get("evidence_url")?,
        source: row.try_get("source")?,
        reporter_tenant: reporter
            .map(|t| TenantId::parse(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status: ReportStatus::from_name(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("ban report status {status:?}")))?,
        reviewed_at: row.try_get("reviewed_at")?,
        review_note: row.try_get("review_note")?,
        created_at: row.try_get("created_at")?,
    })
}

fn ban_from_row(row: &sqlx::postgres::PgRow) -> Result<Ban, StoreError> {
    Ok(Ban {
        sha256: row.try_get("sha256")?,
        reason: row.try_get("reason")?,
        source: row.try_get("source")?,
        report_id: row.try_get("report_id")?,
        reported_at: row.try_get("reported_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        lifted_at: row.try_get("lifted_at")?,
        lift_reason: row.try_get("lift_reason")?,
    })
}

/// Bans the hash of a confirmed report (keeping a live ban already there)
/// and announces the change at commit; the live ban.
async fn ban_hash(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    report: &BanReport,
) -> Result<Ban, StoreError> {
    sqlx::query(
        "INSERT INTO bans (sha256, reason, source, report_id, reported_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) WHERE lifted_at IS NULL DO NOTHING",
    )
    .bind(&report.sha256)
    .bind(&report.reason)
    .bind(&report.source)
    .bind(&report.id)
    .bind(report.created_at)
    .execute(&mut **tx)
    .await?;
    let ban = sqlx::query(&format!(
        "SELECT {BAN_COLUMNS} FROM bans WHERE sha256 = $1 AND lifted_at IS NULL"
    ))
    .bind(&report.sha256)
    .fetch_one(&mut **tx)
    .await?;
    let ban = ban_from_row(&ban)?;
    Ok(ban)
}

/// The `data` of `ban.reported` (docs/events.md).
fn report_data(r: &BanReport) -> ::webhooks::payloads::BanReportedEvent {
    ::webhooks::payloads::BanReportedEvent {
        report_id: r.id.clone(),
        sha256: r.sha256.clone(),
        reason: r.reason.clone(),
        evidence_url: r.evidence_url.clone(),
        source: r.source.clone(),
        reporter_tenant: r.reporter_tenant.as_ref().map(TenantId::to_string),
        status: r.status.as_str().to_string(),
        created_at: r.created_at,
    }
}

/// The `data` of `ban.confirmed` and `ban.lifted` (docs/events.md).
fn ban_data(b: &Ban) -> ::webhooks::payloads::BanEvent {
    ::webhooks::payloads::BanEvent {
        sha256: b.sha256.clone(),
        reason: b.reason.clone(),
        source: b.source.clone(),
        report_id: b.report_id.clone(),
        reported_at: b.reported_at,
        confirmed_at: b.confirmed_at,
        lifted_at: b.lifted_at,
        lift_reason: b.lift_reason.clone(),
    }
}

impl Store {
    /// Files a report; it stays out of the ban list until confirmed.
    /// `admit` is asked, under a lock per reporter, how many reports the
    /// reporter filed today (UTC, none counted without a reporter); `None`
    /// when it says no.
    pub async fn report_hash(
        &self,
        report: &NewReport<'_>,
        admit: impl FnOnce(u64) -> bool,
    ) -> Result<Option<BanReport>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let filed: i64 = match report.reporter {
            None => 0,
            Some(reporter) => {
                sqlx::query(
                    "SELECT pg_advisory_xact_lock(hashtextextended('hall_ban_reports:' || $1, 0))",
                )
                .bind(reporter.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query_scalar(
                    "SELECT count(*) FROM ban_reports WHERE reporter_tenant = $1
                     AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
                )
                .bind(reporter.as_str())
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let filed =
            u64::try_from(filed).map_err(|_| StoreError::Corrupt(format!("count {filed}")))?;
        if !admit(filed) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO ban_reports (id, sha256, reason, evidence_url, source, reporter_tenant)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {REPORT_COLUMNS}"
        ))
        .bind(format!("rpt_{}", Uuid::now_v7().simple()))
        .bind(report.sha256)
        .bind(report.reason)
        .bind(report.evidence_url)
        .bind(report.source)
        .bind(report.reporter.map(|t| t.as_str()))
        .fetch_one(&mut *tx)
        .await?;
        let report = report_from_row(&row)?;
        crate::webhooks::emit(
            &mut tx,
            Audience::Operator {
                and: report.reporter_tenant.as_ref(),
            },
            EventType::BanReported,
            &report_data(&report),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(report))
    }

    /// The reports `filter` selects, oldest first, at most its limit; and
    /// whether more follow.
    pub async fn ban_reports(
        &self,
        filter: &ReportFilter,
    ) -> Result<(Vec<BanReport>, bool), StoreError> {
        let limit = filter.limit.as_i64();
        let rows = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM ban_reports
             WHERE ($1::text IS NULL OR status = $1)
               AND ($2::text IS NULL OR sha256 = $2)
               AND ($3::text IS NULL OR reporter_tenant = $3)
               AND ($4::text IS NULL
                    OR (created_at, id) > (SELECT created_at, id FROM ban_reports WHERE id = $4))
             ORDER BY created_at, id LIMIT $5"
        ))
        .bind(filter.status.map(ReportStatus::as_str))
        .bind(filter.sha256.as_deref())
        .bind(filter.reporter.as_ref().map(TenantId::as_str))
        .bind(filter.after.as_deref())
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut reports = rows
            .iter()
            .map(report_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let more = reports.len() as i64 > limit;
        reports.truncate(filter.limit.get() as usize);
        Ok((reports, more))
    }

    pub async fn ban_report(&self, id: &str) -> Result<Option<BanReport>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM ban_reports WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(report_from_row).transpose()
    }

    /// Moves a report from status `from` to `to` (the rule is
    /// `policy::ban_review`) with the reviewer's note, atomically: only while
    /// it is still `from`. A report moved to `confirmed` bans its hash in the
    /// same transaction (unless a live ban is there already), announced on
    /// PostgreSQL's channel at commit. `None` when the report was not `from`
    /// (any more).
    pub async fn review_report(
        &self,
        id: &str,
        from: ReportStatus,
        to: ReportStatus,
        note: Option<&str>,
    ) -> Result<Option<Reviewed>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE ban_reports SET status = $4, reviewed_at = now(), review_note = $2
             WHERE id = $1 AND status = $3 RETURNING {REPORT_COLUMNS}"
        ))
        .bind(id)
        .bind(note)
        .bind(from.as_str())
        .bind(to.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let report = report_from_row(&row)?;
        let ban = if to == ReportStatus::Confirmed {
            let ban = ban_hash(&mut tx, &report).await?;
            // Every tenant hears of it: what the public ban list shows, and
            // not the operator's review note, which only the operator reads.
            let data = ban_data(&ban);
            crate::webhooks::emit(&mut tx, Audience::Everyone, EventType::BanConfirmed, &data)
                .await?;
            Some(ban)
        } else {
            None
        };
        tx.commit().await?;
        Ok(Some(Reviewed { report, ban }))
    }

    /// Lifts the live ban on `sha256`; the row is kept as history. `None`
    /// when there is no live ban on it.
    pub async fn lift_ban(
        &self,
        sha256: &str,
        reason: Option<&str>,
    ) -> Result<Option<Ban>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE bans SET lifted_at = now(), lift_reason = $2
             WHERE sha256 = $1 AND lifted_at IS NULL RETURNING {BAN_COLUMNS}"
        ))
        .bind(sha256)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let ban = ban_from_row(&row)?;
        crate::webhooks::emit(
            &mut tx,
            Audience::Everyone,
            EventType::BanLifted,
            &ban_data(&ban),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(ban))
    }

    /// Live bans, newest first.
    pub async fn live_bans(&self, limit: wcp::PageLimit) -> Result<Vec<Ban>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BAN_COLUMNS} FROM bans WHERE lifted_at IS NULL
             ORDER BY confirmed_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit.as_i64())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ban_from_row).collect()
    }

    /// Every ban of `sha256`, live and lifted, oldest first.
    pub async fn ban_history(&self, sha256: &str) -> Result<Vec<Ban>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BAN_COLUMNS} FROM bans WHERE sha256 = $1 ORDER BY id"
        ))
        .bind(sha256)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(ban_from_row).collect()
    }

    /// The live ban reason of `sha256`, straight from PostgreSQL.
    async fn live_ban_reason(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT reason FROM bans WHERE sha256 = $1 AND lifted_at IS NULL")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| StoreError::from(Unavailable::Database(e)))
    }

    async fn ban_digest(&self) -> Result<Digest, StoreError> {
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE lifted_at IS NULL), coalesce(max(id), 0), max(lifted_at)
             FROM bans",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::from(Unavailable::Database(e)))
    }

    async fn live_ban_set(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT sha256, reason FROM bans WHERE lifted_at IS NULL")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| StoreError::from(Unavailable::Database(e)))?;
        Ok(rows.into_iter().collect())
    }
}

/// This process's view of the confirmed ban set.
pub struct BanCache {
    store: Store,
    cache: Cache,
    /// The set, the digest it was loaded under, and when PostgreSQL last
    /// confirmed it.
    copy: RwLock<Copy>,
    /// True while PostgreSQL announcements are heard, with a fresh copy loaded.
    subscribed: AtomicBool,
}

struct Copy {
    set: HashMap<String, String>,
    digest: Digest,
    confirmed_at: Instant,
}

impl BanCache {
    /// Loads the set and starts following changes in the background.
    pub async fn start(store: Store, cache: Cache) -> Result<Arc<Self>, StoreError> {
        let digest = store.ban_digest().await?;
        let set = store.live_ban_set().await?;
        let this = Arc::new(Self {
            copy: RwLock::new(Copy {
                set,
                digest,
                confirmed_at: Instant::now(),
            }),
            store,
            cache,
            subscribed: AtomicBool::new(false),
        });
        tokio::spawn(follow(Arc::downgrade(&this)));
        tokio::spawn(reconcile(Arc::downgrade(&this)));
        if this.cache.is_redis() {
            tokio::spawn(follow_redis(Arc::downgrade(&this)));
        }
        Ok(this)
    }

    /// Whether the in-memory copy is being kept current.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    /// The ban reason of `sha256` if it is banned. `Err` means the status is
    /// unknown (the copy is not trusted and PostgreSQL unreachable): fail closed.
    pub async fn ban_reason(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        if self.is_subscribed() {
            let copy = self.copy.read().unwrap_or_else(|p| p.into_inner());
            if copy.confirmed_at.elapsed() < MAX_AGE {
                return Ok(copy.set.get(sha256).cloned());
            }
        }
        self.store.live_ban_reason(sha256).await
    }

    /// Called after this process changed the ban list: reloads its own copy
    /// and tells the others through Redis (PostgreSQL announced it already,
    /// in the same transaction).
    pub async fn changed(&self) {
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "reloading the ban set after a change failed");
        }
        if let Err(e) = self.cache.publish_ban_set(&self.snapshot()).await {
            tracing::warn!(error = %e, "could not announce the ban change through Redis");
        }
    }

    fn snapshot(&self) -> HashMap<String, String> {
        self.copy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .set
            .clone()
    }

    /// Reloads the copy. The digest is read first: a change between the two
    /// reads leaves an older digest, which the next reconcile sees differ.
    async fn reload(&self) -> Result<(), StoreError> {
        let digest = self.store.ban_digest().await?;
        let set = self.store.live_ban_set().await?;
        *self.copy.write().unwrap_or_else(|p| p.into_inner()) = Copy {
            set,
            digest,
            confirmed_at: Instant::now(),
        };
        Ok(())
    }

    /// Compares the copy with PostgreSQL: confirms it when the digest is
    /// the same, reloads it when not.
    async fn reconcile_once(&self) -> Result<(), StoreError> {
        let digest = self.store.ban_digest().await?;
        {
            let mut copy = self.copy.write().unwrap_or_else(|p| p.into_inner());
            if copy.digest == digest {
                copy.confirmed_at = Instant::now();
                return Ok(());
            }
        }
        tracing::info!("the ban set differed from PostgreSQL's; reloaded");
        self.reload().await
    }
}

/// Compares the copy with PostgreSQL every [`RECONCILE`] for as long as the
/// cache lives: a lost announcement is found within seconds.
async fn reconcile(cache: std::sync::Weak<BanCache>) {
    loop {
        tokio::time::sleep(RECONCILE).await;
        let Some(this) = cache.upgrade() else { return };
        if this.store.is_closed() {
            return;
        }
        if let Err(e) = this.reconcile_once().await {
            tracing::warn!(error = %e, "could not compare the ban set with PostgreSQL");
        }
    }
}

/// Follows PostgreSQL's announcements for as long as the cache lives.
async fn follow(cache: std::sync::Weak<BanCache>) {
    loop {
        let Some(this) = cache.upgrade() else { return };
        let result = follow_postgres(&this).await;
        this.subscribed.store(false, Ordering::Release);
        if this.store.is_closed() {
            // Shutting down: the pool was closed on purpose.
            tracing::debug!("stopped following ban-list changes: the pool is closed");
            return;
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "ban-list subscription lost; answering from PostgreSQL until it is back");
        }
        drop(this);
        tokio::time::sleep(RETRY).await;
    }
}

/// Follows Redis's announcements too (the fast path between replicas), for
/// as long as the cache lives; losing them loses nothing PostgreSQL says.
async fn follow_redis(cache: std::sync::Weak<BanCache>) {
    loop {
        let Some(this) = cache.upgrade() else { return };
        if this.store.is_closed() {
            return;
        }
        if let Err(e) = follow_redis_once(&this).await {
            tracing::debug!(error = %e, "Redis ban-change subscription lost; PostgreSQL still announces");
        }
        drop(this);
        tokio::time::sleep(RETRY).await;
    }
}

async fn follow_redis_once(this: &BanCache) -> Result<(), String> {
    let mut messages = this
        .cache
        .subscribe_ban_changes()
        .await
        .map_err(|e| e.to_string())?;
    // The set in Redis may have missed changes made while Redis was away.
    let _ = this.cache.store_ban_set(&this.snapshot()).await;
    while messages.next().await.is_some() {
        this.reload().await.map_err(|e| e.to_string())?;
    }
    Err("Redis closed the subscription".into())
}

async fn follow_postgres(this: &BanCache) -> Result<(), String> {
    let mut listener = PgListener::connect_with(this.store.pool())
        .await
        .map_err(|e| e.to_string())?;
    listener
        .listen(PG_CHANNEL)
        .await
        .map_err(|e| e.to_string())?;
    this.reload().await.map_err(|e| e.to_string())?;
    this.subscribed.store(true, Ordering::Release);
    loop {
        // try_recv yields None when the connection dropped (sqlx reconnects on
        // the next call): changes may have been missed, so start over.
        match listener.try_recv().await {
            Ok(Some(_)) => {
                if let Err(e) = this.reload().await {
                    return Err(e.to_string());
                }
            }
            Ok(None) => return Err("PostgreSQL LISTEN connection dropped".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

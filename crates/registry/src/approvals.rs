//! Human approvals (WCP §5.8), tenant-scoped: the decision that needs a
//! human opens one, a human resolves or escalates it, and an approved one
//! is used by exactly one matching decision before it expires.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::Row;
use uuid::Uuid;
use wcp::{CapabilityId, DataLabel, Env, TenantId, WorkerId};

pub use policy::approvals::{
    Answer, ApprovalStatus, ApprovalTtl, Stage, SupervisorLevel, Unusable,
};

use crate::webhooks::Audience;
use crate::{Store, StoreError, TenantStore};
use ::webhooks::payloads::{ApprovalEvent, ApprovalResolvedEvent};
use ::webhooks::EventType;

/// What a decision asked for: an approval is good for this and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSubject {
    /// `wrk_…`
    pub worker_registry_id: String,
    pub worker_id: WorkerId,
    pub capability_id: CapabilityId,
    pub env: Env,
    pub data_label: DataLabel,
}

#[derive(Debug, Clone)]
pub struct Approval {
    pub id: Uuid,
    pub tenant_id: String,
    pub subject: ApprovalSubject,
    pub supervisor_level: SupervisorLevel,
    /// As it reads now ([`ApprovalStatus::seen`]): `expired` once a pending
    /// or unused approved one is past `expires_at`.
    pub status: ApprovalStatus,
    pub reason: String,
    pub escalation_context: serde_json::Value,
    pub decision_id: Uuid,
    pub correlation_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub used_at: Option<DateTime<Utc>>,
    pub used_by_decision: Option<Uuid>,
}

impl Approval {
    /// Where it stands for a human's answer.
    pub fn stage(&self) -> Stage {
        Stage {
            status: self.status,
            level: self.supervisor_level,
        }
    }
}

/// A new pending approval.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub id: Uuid,
    pub supervisor_level: SupervisorLevel,
    pub subject: ApprovalSubject,
    pub reason: String,
    pub escalation_context: serde_json::Value,
    pub decision_id: Uuid,
    pub correlation_id: String,
    /// The tenant's TTL: it waits for a human until now + this.
    pub ttl: ApprovalTtl,
}

const COLUMNS: &str = "tenant_id, id, worker_registry_id, worker_id, capability_id, env, \
     data_label, supervisor_level, status, reason, escalation_context, decision_id, \
     correlation_id, created_at, expires_at, resolved_at, resolved_by, resolution_note, \
     used_at, used_by_decision";

/// A stored value read back into its type; a value that does not parse
/// breaks an invariant of the rows.
fn stored<T, E: std::fmt::Display>(
    row: &sqlx::postgres::PgRow,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    let raw: String = row.try_get(column)?;
    parse(&raw).map_err(|e| StoreError::Corrupt(format!("approvals.{column} {raw:?}: {e}")))
}

fn named<T>(from_name: fn(&str) -> Option<T>) -> impl FnOnce(&str) -> Result<T, &'static str> {
    move |s| from_name(s).ok_or("unknown name")
}

fn from_row(row: &sqlx::postgres::PgRow) -> Result<Approval, StoreError> {
    let status = stored(row, "status", named(ApprovalStatus::from_name))?;
    let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
    let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
    Ok(Approval {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        subject: ApprovalSubject {
            worker_registry_id: row.try_get("worker_registry_id")?,
            worker_id: stored(row, "worker_id", WorkerId::parse)?,
            capability_id: stored(row, "capability_id", CapabilityId::parse)?,
            env: stored(row, "env", Env::parse)?,
            data_label: stored(row, "data_label", DataLabel::parse)?,
        },
        supervisor_level: stored(row, "supervisor_level", named(SupervisorLevel::from_name))?,
        status: status.seen(used_at.is_some(), expires_at, Utc::now()),
        reason: row.try_get("reason")?,
        escalation_context: row.try_get("escalation_context")?,
        decision_id: row.try_get("decision_id")?,
        correlation_id: row.try_get("correlation_id")?,
        created_at: row.try_get("created_at")?,
        expires_at,
        resolved_at: row.try_get("resolved_at")?,
        resolved_by: row.try_get("resolved_by")?,
        resolution_note: row.try_get("resolution_note")?,
        used_at,
        used_by_decision: row.try_get("used_by_decision")?,
    })
}

/// The `data` of an approval's webhook events (docs/events.md).
fn event_data(a: &Approval) -> ApprovalEvent {
    ApprovalEvent {
        tenant_id: a.tenant_id.clone(),
        approval_id: a.id,
        status: a.status.as_str().to_string(),
        supervisor_level: a.supervisor_level.as_str().to_string(),
        worker_id: a.subject.worker_id.to_string(),
        worker_registry_id: a.subject.worker_registry_id.clone(),
        capability_id: a.subject.capability_id.to_string(),
        env: a.subject.env.to_string(),
        data_label: a.subject.data_label.to_string(),
        reason: a.reason.clone(),
        decision_id: a.decision_id,
        correlation_id: a.correlation_id.clone(),
        created_at: a.created_at,
        expires_at: a.expires_at,
    }
}

impl NewApproval {
    /// The approval as it is stored when opened at `at` for `tenant`:
    /// pending until `at` + the TTL. Times are kept to the microsecond, as
    /// PostgreSQL stores them, so the decision's answer says what a later
    /// read says.
    pub fn opened(&self, tenant: &TenantId, at: DateTime<Utc>) -> Approval {
        let created_at = at.trunc_subsecs(6);
        Approval {
            id: self.id,
            tenant_id: tenant.to_string(),
            subject: self.subject.clone(),
            supervisor_level: self.supervisor_level,
            status: ApprovalStatus::Pending,
            reason: self.reason.clone(),
            escalation_context: self.escalation_context.clone(),
            decision_id: self.decision_id,
            correlation_id: self.correlation_id.clone(),
            created_at,
            expires_at: created_at + self.ttl.duration(),
            resolved_at: None,
            resolved_by: None,
            resolution_note: None,
            used_at: None,
            used_by_decision: None,
        }
    }
}

/// Stores newly opened approvals ([`NewApproval::opened`]) and writes an
/// `approval.pending` for each, in the caller's transaction: the receipt
/// writer's, so an approval exists, and is announced, exactly when the
/// decision that opened it has its receipt.
pub(crate) async fn insert_opened(
    conn: &mut sqlx::PgConnection,
    opened: &[&Approval],
) -> Result<(), StoreError> {
    if opened.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Approval) -> String| opened.iter().map(|a| f(a)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO approvals (tenant_id, id, worker_registry_id, worker_id, capability_id, env,
             data_label, supervisor_level, reason, escalation_context, decision_id, correlation_id,
             created_at, expires_at)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],
             $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::uuid[], $12::text[],
             $13::timestamptz[], $14::timestamptz[])",
    )
    .bind(column(|a| a.tenant_id.clone()))
    .bind(opened.iter().map(|a| a.id).collect::<Vec<_>>())
    .bind(column(|a| a.subject.worker_registry_id.clone()))
    .bind(column(|a| a.subject.worker_id.to_string()))
    .bind(column(|a| a.subject.capability_id.to_string()))
    .bind(column(|a| a.subject.env.to_string()))
    .bind(column(|a| a.subject.data_label.to_string()))
    .bind(column(|a| a.supervisor_level.as_str().to_string()))
    .bind(column(|a| a.reason.clone()))
    .bind(
        opened
            .iter()
            .map(|a| &a.escalation_context)
            .collect::<Vec<_>>(),
    )
    .bind(opened.iter().map(|a| a.decision_id).collect::<Vec<_>>())
    .bind(column(|a| a.correlation_id.clone()))
    .bind(opened.iter().map(|a| a.created_at).collect::<Vec<_>>())
    .bind(opened.iter().map(|a| a.expires_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let events: Vec<(String, serde_json::Value)> = opened
        .iter()
        .map(|a| {
            Ok((
                a.tenant_id.clone(),
                crate::webhooks::payload(&event_data(a))?,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    crate::webhooks::emit_each(conn, EventType::ApprovalPending, &events).await
}

impl TenantStore<'_> {
    /// Opens a pending approval on its own, with its `approval.pending`
    /// webhook event in the same transaction. (A decision's approval is
    /// opened with its receipt instead: `PendingReceipt::opens`.)
    pub async fn open_approval(&self, new: &NewApproval) -> Result<Approval, StoreError> {
        let approval = new.opened(self.tenant, Utc::now());
        let mut tx = self.store.pool.begin().await?;
        insert_opened(&mut tx, &[&approval]).await?;
        tx.commit().await?;
        Ok(approval)
    }

    pub async fn approval(&self, id: Uuid) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Approvals waiting for a human (unexpired), oldest first.
    pub async fn pending_approvals(&self, limit: i64) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM approvals
             WHERE tenant_id = $1 AND status = $3 AND expires_at > now()
             ORDER BY created_at, id LIMIT $2"
        ))
        .bind(self.tenant.as_str())
        .bind(limit)
        .bind(ApprovalStatus::Pending.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Moves an approval from `from` to `to` (a human's answer; the rules
    /// are `policy::approvals`), recording who did it, atomically: only
    /// while it is still stored at `from` and before its deadline. A status
    /// change is stamped `resolved_at`; an approved approval is usable for
    /// `ttl` (the tenant's) from this moment. `None` when the row was not at
    /// `from` (any more): answered, or expired, meanwhile.
    pub async fn answer_approval(
        &self,
        id: Uuid,
        from: Stage,
        to: Stage,
        by: &str,
        note: Option<&str>,
        ttl: ApprovalTtl,
    ) -> Result<Option<Approval>, StoreError> {
        let mut tx = self.store.pool.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE approvals SET status = $5, supervisor_level = $6, resolved_by = $7,
                resolution_note = $8,
                resolved_at = CASE WHEN $5 <> $3 THEN now() ELSE resolved_at END,
                expires_at = CASE WHEN $5 <> $3 AND $5 = $9 THEN now() + $10 ELSE expires_at END
             WHERE tenant_id = $1 AND id = $2 AND status = $3 AND supervisor_level = $4
               AND expires_at > now()
             RETURNING {COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(from.status.as_str())
        .bind(from.level.as_str())
        .bind(to.status.as_str())
        .bind(to.level.as_str())
        .bind(by)
        .bind(note)
        .bind(ApprovalStatus::Approved.as_str())
        .bind(ttl.duration())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let approval = from_row(&row)?;
        // An escalation keeps it waiting (at a higher level): only a
        // human's yes or no resolves it.
        if to.status != from.status {
            let data = ApprovalResolvedEvent {
                approval: event_data(&approval),
                resolved_by: approval.resolved_by.clone(),
                resolution_note: approval.resolution_note.clone(),
            };
            crate::webhooks::emit(
                &mut tx,
                Audience::Tenant(self.tenant),
                EventType::ApprovalResolved,
                &data,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(approval))
    }

    /// Gives back an approval `decision_id` used but could not record (its
    /// receipt failed to commit): the human's yes is not lost to an outage.
    /// An approval whose decision's receipt is stored stays used, whatever
    /// the caller believes (a COMMIT whose answer was lost may have applied).
    pub async fn release_approval(&self, id: Uuid, decision_id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE approvals SET used_at = NULL, used_by_decision = NULL
             WHERE tenant_id = $1 AND id = $2 AND used_by_decision = $3
               AND NOT EXISTS (SELECT 1 FROM receipts WHERE tenant_id = $1 AND receipt_id = $3)",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(decision_id)
        .execute(&self.store.pool)
        .await?;
        Ok(())
    }

    /// Uses an approved approval for one decision about `subject`: it is
    /// marked used, atomically, so two decisions cannot both use it.
    pub async fn use_approval(
        &self,
        id: Uuid,
        subject: &ApprovalSubject,
        decision_id: Uuid,
    ) -> Result<Result<Approval, Unusable>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE approvals SET used_at = now(), used_by_decision = $8
             WHERE tenant_id = $1 AND id = $2 AND status = $9 AND used_at IS NULL
               AND expires_at > now() AND worker_registry_id = $3 AND capability_id = $4
               AND env = $5 AND data_label = $6 AND worker_id = $7
             RETURNING {COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(&subject.worker_registry_id)
        .bind(subject.capability_id.as_str())
        .bind(subject.env.as_str())
        .bind(subject.data_label.as_str())
        .bind(subject.worker_id.as_str())
        .bind(decision_id)
        .bind(ApprovalStatus::Approved.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        if let Some(row) = row {
            return Ok(Ok(from_row(&row)?));
        }
        let why = match self.approval(id).await? {
            None => Unusable::NotFound,
            Some(a) => Unusable::of(a.status, a.used_at.is_some(), a.subject == *subject),
        };
        Ok(Err(why))
    }
}

impl Store {
    /// Marks up to `limit` pending approvals past their deadline (every
    /// tenant's) `expired`, each with its `approval.expired` webhook event,
    /// in one transaction: each is announced once, when it is marked. Safe
    /// with several replicas sweeping at once: a row another sweep (or a
    /// human's answer) holds is skipped, and only a row still stored
    /// `pending` is taken. Returns the approvals marked, oldest deadline
    /// first; fewer than `limit` means none is left.
    pub async fn expire_lapsed_approvals(&self, limit: i64) -> Result<Vec<Approval>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "WITH due AS (
                 SELECT tenant_id, id FROM approvals
                 WHERE status = $1 AND expires_at <= now()
                 ORDER BY expires_at LIMIT $2
                 FOR UPDATE SKIP LOCKED)
             UPDATE approvals a SET status = $3
             FROM due WHERE a.tenant_id = due.tenant_id AND a.id = due.id
             RETURNING a.*",
        )
        .bind(ApprovalStatus::Pending.as_str())
        .bind(limit)
        .bind(ApprovalStatus::Expired.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut expired = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        expired.sort_by_key(|a| (a.expires_at, a.id));
        for approval in &expired {
            let tenant = TenantId::parse(&approval.tenant_id).map_err(|e| {
                StoreError::Corrupt(format!("approvals.tenant_id {:?}: {e}", approval.tenant_id))
            })?;
            crate::webhooks::emit(
                &mut tx,
                Audience::Tenant(&tenant),
                EventType::ApprovalExpired,
                &event_data(approval),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(expired)
    }
}

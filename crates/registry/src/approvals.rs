//! Human approvals (WCP §5.8), tenant-scoped: the decision that needs a
//! human opens one, a human resolves or escalates it, and an approved one
//! is used by exactly one matching decision before it expires.

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{Conflict, Entity, Refusal, StoreError, TenantStore};

/// How long a pending approval waits for a human, and how long an approved
/// one stays usable after the human said yes.
pub const APPROVAL_TTL: chrono::Duration = chrono::Duration::hours(1);

/// Who must act (WCP §5.8 supervisor levels this registry uses). Stored
/// and serialized by name: `advisory`, `gatekeeper`, `incident_commander`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorLevel {
    /// A human is told; execution proceeds (L7, when the owner chose it).
    Advisory,
    /// A human must approve before execution.
    Gatekeeper,
    /// Escalated: a human takes full control.
    IncidentCommander,
}

impl SupervisorLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SupervisorLevel::Advisory => "advisory",
            SupervisorLevel::Gatekeeper => "gatekeeper",
            SupervisorLevel::IncidentCommander => "incident_commander",
        }
    }

    /// The level named `s` ([`SupervisorLevel::as_str`]), if any.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::Advisory, Self::Gatekeeper, Self::IncidentCommander]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    /// L7's REQUIRE_HUMAN level as a tenant chose it: advisory or gatekeeper.
    pub fn l7(advisory: bool) -> Self {
        if advisory {
            Self::Advisory
        } else {
            Self::Gatekeeper
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Self::from_name(s).ok_or_else(|| StoreError::Corrupt(format!("supervisor level {s:?}")))
    }
}

/// What a decision asked for: an approval is good for this and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalSubject {
    pub worker_registry_id: String,
    pub worker_id: String,
    pub capability_id: String,
    pub env: String,
    pub data_label: String,
}

#[derive(Debug, Clone)]
pub struct Approval {
    pub id: Uuid,
    pub tenant_id: String,
    pub subject: ApprovalSubject,
    pub supervisor_level: SupervisorLevel,
    /// `pending`, `approved`, `denied`, or `expired` (pending or approved past `expires_at`).
    pub status: String,
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
}

/// A human's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Approve,
    Deny,
}

/// Why an approval a decision names does not let it through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    NotFound,
    Pending,
    Denied,
    Expired,
    AlreadyUsed,
    OtherRequest,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unusable::NotFound => "no such approval for this tenant",
            Unusable::Pending => "it is still waiting for a human",
            Unusable::Denied => "a human denied it",
            Unusable::Expired => "it expired",
            Unusable::AlreadyUsed => "it was already used by another decision",
            Unusable::OtherRequest => {
                "it approves a different worker, capability, env or data label"
            }
        })
    }
}

const COLUMNS: &str = "tenant_id, id, worker_registry_id, worker_id, capability_id, env, \
     data_label, supervisor_level, status, reason, escalation_context, decision_id, \
     correlation_id, created_at, expires_at, resolved_at, resolved_by, resolution_note, \
     used_at, used_by_decision";

fn from_row(row: &sqlx::postgres::PgRow) -> Result<Approval, StoreError> {
    let level: String = row.try_get("supervisor_level")?;
    let status: String = row.try_get("status")?;
    let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
    let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
    let live = status == "pending" || (status == "approved" && used_at.is_none());
    Ok(Approval {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        subject: ApprovalSubject {
            worker_registry_id: row.try_get("worker_registry_id")?,
            worker_id: row.try_get("worker_id")?,
            capability_id: row.try_get("capability_id")?,
            env: row.try_get("env")?,
            data_label: row.try_get("data_label")?,
        },
        supervisor_level: SupervisorLevel::parse(&level)?,
        status: if live && expires_at <= Utc::now() {
            "expired".into()
        } else {
            status
        },
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

impl TenantStore<'_> {
    /// Opens a pending approval.
    pub async fn open_approval(&self, new: &NewApproval) -> Result<Approval, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO approvals (tenant_id, id, worker_registry_id, worker_id, capability_id,
                env, data_label, reason, escalation_context, decision_id, correlation_id, expires_at,
                supervisor_level)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + $12, $13)
             RETURNING {COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(new.id)
        .bind(&new.subject.worker_registry_id)
        .bind(&new.subject.worker_id)
        .bind(&new.subject.capability_id)
        .bind(&new.subject.env)
        .bind(&new.subject.data_label)
        .bind(&new.reason)
        .bind(&new.escalation_context)
        .bind(new.decision_id)
        .bind(&new.correlation_id)
        .bind(APPROVAL_TTL)
        .bind(new.supervisor_level.as_str())
        .fetch_one(&self.store.pool)
        .await?;
        from_row(&row)
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
             WHERE tenant_id = $1 AND status = 'pending' AND expires_at > now()
             ORDER BY created_at, id LIMIT $2"
        ))
        .bind(self.tenant.as_str())
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// A human's answer to a pending, unexpired approval. An approval is
    /// usable for [`APPROVAL_TTL`] from the moment it is approved.
    pub async fn resolve_approval(
        &self,
        id: Uuid,
        resolution: Resolution,
        by: &str,
        note: Option<&str>,
    ) -> Result<Approval, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE approvals SET status = $3, resolved_at = now(), resolved_by = $4,
                resolution_note = $5,
                expires_at = CASE WHEN $3 = 'approved' THEN now() + $6 ELSE expires_at END
             WHERE tenant_id = $1 AND id = $2 AND status = 'pending' AND expires_at > now()
             RETURNING {COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(match resolution {
            Resolution::Approve => "approved",
            Resolution::Deny => "denied",
        })
        .bind(by)
        .bind(note)
        .bind(APPROVAL_TTL)
        .fetch_optional(&self.store.pool)
        .await?;
        match row {
            Some(row) => from_row(&row),
            None => Err(self.not_pending(id).await),
        }
    }

    /// Raises a pending approval from gatekeeper to incident commander.
    pub async fn escalate_approval(
        &self,
        id: Uuid,
        by: &str,
        note: Option<&str>,
    ) -> Result<Approval, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE approvals SET supervisor_level = 'incident_commander', resolved_by = $3,
                resolution_note = $4
             WHERE tenant_id = $1 AND id = $2 AND status = 'pending' AND expires_at > now()
               AND supervisor_level = 'gatekeeper'
             RETURNING {COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(by)
        .bind(note)
        .fetch_optional(&self.store.pool)
        .await?;
        match row {
            Some(row) => from_row(&row),
            None => match self.approval(id).await? {
                Some(a) if a.status == "pending" => Err(StoreError::Refused(
                    Refusal::EscalateFrom(id, a.supervisor_level),
                )),
                _ => Err(self.not_pending(id).await),
            },
        }
    }

    async fn not_pending(&self, id: Uuid) -> StoreError {
        match self.approval(id).await {
            Ok(Some(a)) => StoreError::Conflict(Entity::Approval(id), Conflict::Status(a.status)),
            Ok(None) => StoreError::NotFound(Entity::Approval(id)),
            Err(e) => e,
        }
    }

    /// Gives back an approval `decision_id` used but could not record (its
    /// receipt failed to commit): the human's yes is not lost to an outage.
    pub async fn release_approval(&self, id: Uuid, decision_id: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE approvals SET used_at = NULL, used_by_decision = NULL
             WHERE tenant_id = $1 AND id = $2 AND used_by_decision = $3",
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
             WHERE tenant_id = $1 AND id = $2 AND status = 'approved' AND used_at IS NULL
               AND expires_at > now() AND worker_registry_id = $3 AND capability_id = $4
               AND env = $5 AND data_label = $6 AND worker_id = $7
             RETURNING {COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(&subject.worker_registry_id)
        .bind(&subject.capability_id)
        .bind(&subject.env)
        .bind(&subject.data_label)
        .bind(&subject.worker_id)
        .bind(decision_id)
        .fetch_optional(&self.store.pool)
        .await?;
        if let Some(row) = row {
            return Ok(Ok(from_row(&row)?));
        }
        let why = match self.approval(id).await? {
            None => Unusable::NotFound,
            Some(a) if a.subject != *subject => Unusable::OtherRequest,
            Some(a) if a.used_at.is_some() => Unusable::AlreadyUsed,
            Some(a) => match a.status.as_str() {
                "pending" => Unusable::Pending,
                "denied" => Unusable::Denied,
                _ => Unusable::Expired,
            },
        };
        Ok(Err(why))
    }
}

//! Human approvals (WCP §5.8) as a human sees them: the ones waiting, one
//! by id, and resolving one — approve, deny or escalate. A decision that
//! needs a human opens them ([`crate::decide`]); the state machine (which
//! answer applies to which status) is `policy::approvals`, the rows
//! `registry::approvals`. Every approval belongs to one tenant: each use case
//! here works in the tenant it is given and never sees another's.

pub use policy::approvals::Answer;
use policy::approvals::{self as rules, ApprovalStatus, Refused, SupervisorLevel};
use registry::approvals::Approval;
use registry::StoreError;
use uuid::Uuid;
use wcp::TenantId;

use crate::Hall;

/// At most this many pending approvals are listed, oldest first.
pub const PENDING_LIMIT: i64 = 500;

/// How often an answer is tried on an approval that keeps changing under it.
const ATTEMPTS: usize = 3;

/// A human's answer to one approval of `tenant`.
#[derive(Debug, Clone)]
pub struct ResolveCommand {
    pub tenant: TenantId,
    pub approval: Uuid,
    pub answer: Answer,
    /// Who answers (kept with the approval).
    pub by: String,
    /// Why (kept with the approval).
    pub note: Option<String>,
}

/// Why an approval could not be read or answered.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// No such approval in this tenant.
    #[error("approval {0} not found")]
    NotFound(Uuid),
    /// It was answered already, or expired.
    #[error("approval {id} is {status}, not pending")]
    NotPending { id: Uuid, status: ApprovalStatus },
    /// Only a gatekeeper approval escalates.
    #[error("approval {id} is at {level}; only gatekeeper approvals escalate")]
    NotGatekeeper { id: Uuid, level: SupervisorLevel },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalError {
    fn refused(id: Uuid, why: Refused) -> Self {
        match why {
            Refused::NotPending(status) => ApprovalError::NotPending { id, status },
            Refused::NotGatekeeper(level) => ApprovalError::NotGatekeeper { id, level },
        }
    }
}

impl Hall {
    /// `tenant`'s approvals waiting for a human (unexpired), oldest first.
    pub async fn pending_approvals(&self, tenant: &TenantId) -> Result<Vec<Approval>, StoreError> {
        self.store
            .tenant(tenant)
            .pending_approvals(PENDING_LIMIT)
            .await
    }

    /// One approval of `tenant`, as it reads now.
    pub async fn approval(&self, tenant: &TenantId, id: Uuid) -> Result<Approval, ApprovalError> {
        self.store
            .tenant(tenant)
            .approval(id)
            .await?
            .ok_or(ApprovalError::NotFound(id))
    }

    /// A human's answer: the approval as it reads after it. Only a pending
    /// approval is answered, and only once: of two humans answering at the
    /// same time, one gets [`ApprovalError::NotPending`].
    pub async fn resolve_approval(
        &self,
        command: ResolveCommand,
    ) -> Result<Approval, ApprovalError> {
        let ResolveCommand {
            tenant,
            approval: id,
            answer,
            by,
            note,
        } = command;
        let stored = self.store.tenant(&tenant);
        // An approved approval is usable for the tenant's TTL from the yes.
        let ttl = self.facts.decision_policy(&tenant).await?.approval_ttl;
        // Read, apply the rule, write only if the row is still what was
        // read. When it is not (another human answered or escalated it in
        // between), the rule judges it again as it is now.
        for _ in 0..ATTEMPTS {
            let current = self.approval(&tenant, id).await?;
            let to = apply_rule(&current, answer)?;
            let answered =
                stored.answer_approval(id, current.stage(), to, &by, note.as_deref(), ttl);
            if let Some(resolved) = answered.await? {
                tracing::info!(approval = %id, status = %resolved.status, by = %by, "approval resolved");
                return Ok(resolved);
            }
        }
        // The rule allows it, yet the store refused each time: the
        // database's clock saw the deadline pass.
        Err(ApprovalError::NotPending {
            id,
            status: ApprovalStatus::Expired,
        })
    }
}

/// At most this many lapsed approvals are marked expired per transaction.
pub const EXPIRE_BATCH: i64 = 100;

impl Hall {
    /// Marks every pending approval past its deadline (every tenant's)
    /// `expired`, announcing each once (`approval.expired`, in the
    /// transaction that marks it), in batches. The server runs it every
    /// `HALL_APPROVAL_SWEEP_SECS`; replicas may run it at once. Returns how
    /// many were marked.
    pub async fn expire_lapsed_approvals(&self) -> Result<usize, StoreError> {
        let mut marked = 0;
        loop {
            let batch = self.store.expire_lapsed_approvals(EXPIRE_BATCH).await?;
            for a in &batch {
                tracing::info!(approval = %a.id, tenant = %a.tenant_id,
                    expires_at = %a.expires_at, "approval expired");
            }
            marked += batch.len();
            if (batch.len() as i64) < EXPIRE_BATCH {
                return Ok(marked);
            }
        }
    }
}

/// Runs [`Hall::expire_lapsed_approvals`] every `every` in the background
/// (a task of every replica: sweeps at once on several replicas take
/// different rows). Stops by itself when the store closes at shutdown.
pub fn sweep_lapsed_approvals(hall: Hall, every: std::time::Duration) {
    crate::every(
        hall,
        every,
        "mark lapsed approvals expired",
        |hall| async move { hall.expire_lapsed_approvals().await.map(|_| ()) },
    );
}

/// Where `answer` moves `a`, per the state machine.
fn apply_rule(a: &Approval, answer: Answer) -> Result<rules::Stage, ApprovalError> {
    rules::answer(a.stage(), answer).map_err(|why| ApprovalError::refused(a.id, why))
}

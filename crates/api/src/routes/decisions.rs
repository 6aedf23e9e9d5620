//! Decisions: the governance chain for one capability invocation, its signed
//! receipt, the decision log, the published receipt keys and the receipt
//! export auditors verify offline.

use actix_web::{web, HttpRequest, HttpResponse};
use audit::{Receipt, UnsignedReceipt};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use policy::{AttestationFact, BanFact, Facts, Request, WorkerFact};
use registry::decisions::{DecisionFilter, LoggedDecision};
use registry::idempotency::IdempotencyClaim;
use registry::receipts::PendingReceipt;
use registry::workers::{Worker, WorkerRef, WorkerStatus};
use registry::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use wcp::{CapabilityId, DataLabel, Env, TenantId, Visibility};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::idempotency::{self, IdempotencyKey};
use crate::routes::{resource, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/decisions", &["GET", "POST"])
            .route(web::get().to(query_decisions))
            .route(web::post().to(make_decision)),
    )
    .service(resource("/api/v1/decisions/{id}", &["GET"]).route(web::get().to(get_decision)))
    .service(resource("/api/route", &["POST"]).route(web::post().to(route)))
    .service(resource("/api/v1/keys", &["GET"]).route(web::get().to(keys)))
    .service(resource("/api/v1/keys/rotate", &["POST"]).route(web::post().to(rotate_key)))
    .service(resource("/api/v1/audit/receipts", &["GET"]).route(web::get().to(export_receipts)));
}

// `wcp::Env::parse` reads the field; these two types only document it.

/// An environment as a request gives it: a WCP environment (`dev`, `stage`,
/// `prod`, `edge`) or an alias (`development`, `staging`, `production`),
/// matched in any case. Answers and receipts carry the WCP value.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum EnvName {
    Dev,
    Stage,
    Prod,
    Edge,
    Development,
    Staging,
    Production,
}

/// A data label, matched in any case; answers and receipts carry it in capitals.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "UPPERCASE")]
#[allow(dead_code)]
pub enum DataLabelName {
    Public,
    Internal,
    Restricted,
}

/// A decision request. `worker_id`, `capability` (or `capability_id`), `env`
/// and `data_label` are required: the registry never picks an environment or
/// a clearance for the caller (see docs/decisions.md).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct DecisionRequest {
    /// The registry id (`wrk_` + 32 hex) or the WCP worker id
    /// (`<namespace>.<name>`).
    #[schema(example = "x.myagent.my-agent")]
    pub worker_id: String,
    /// The capability to decide on (`cap.…`). Required, here or as `capability_id`.
    #[schema(example = "cap.data.read.v1")]
    pub capability: Option<String>,
    /// Accepted as a synonym of `capability` (the local Hall server's field).
    pub capability_id: Option<String>,
    /// Required. `dev`, `stage`, `prod` or `edge`, in any case; `development`,
    /// `staging` and `production` are accepted as aliases. The answer and the
    /// receipt record the canonical value.
    #[schema(example = "dev", value_type = EnvName)]
    pub env: String,
    /// Required. `PUBLIC`, `INTERNAL` or `RESTRICTED`, in any case; the answer
    /// and the receipt record it in capitals.
    #[schema(example = "PUBLIC", value_type = DataLabelName)]
    pub data_label: String,
    /// The requesting tenant. Default: the caller's; another tenant is
    /// refused (403) except to the operator, whose key must name one (400
    /// `tenant_required` without it).
    #[schema(example = "org.acme")]
    pub tenant_id: Option<String>,
    /// Generated when absent.
    pub correlation_id: Option<String>,
    /// SHA-256 (64 lowercase hex) of the caller's request, bound into the receipt.
    pub request_hash: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// An approved human approval (WCP §5.8) for exactly this request, from
    /// an earlier decision's `pending_approval_id`. Used once.
    pub approval_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// The decision id (its receipt id, a UUIDv7).
    pub id: String,
    pub decided_at: String,
    pub worker_id: String,
    pub capability_id: String,
    pub env: String,
    pub data_label: String,
    pub tenant_id: String,
    pub correlation_id: String,
    pub denied: bool,
    pub deny_code: Option<String>,
    pub deny_reason: Option<String>,
    /// Effective policy tier (0–8).
    pub tier: u8,
    /// The receipt hash (hex): verifiable offline with `/api/v1/keys`.
    pub proof: String,
    #[schema(value_type = Object)]
    pub receipt: Receipt,
    /// True when a human must approve (REQUIRE_HUMAN, WCP §5.8). The decision
    /// is denied (`DENY_REQUIRES_HUMAN_APPROVAL`) until a human approves
    /// `pending_approval_id` and the call is repeated with `approval_id`.
    pub supervisor_required: bool,
    /// `gatekeeper` (a human must approve before execution).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supervisor_level: Option<String>,
    /// The approval waiting for a human (none for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_approval_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<String>,
    /// What the human is asked to approve.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub escalation_context: Option<serde_json::Value>,
}

impl From<LoggedDecision> for DecisionView {
    fn from(d: LoggedDecision) -> Self {
        let r = d.receipt;
        Self {
            id: r.content.receipt_id.clone(),
            decided_at: r.content.decided_at.clone(),
            worker_id: r.content.worker_id.clone(),
            capability_id: r.content.capability_id.clone(),
            env: r.content.env.clone(),
            data_label: r.content.data_label.clone(),
            tenant_id: r.content.tenant_id.clone(),
            correlation_id: r.content.correlation_id.clone(),
            denied: r.content.outcome == "DENY",
            deny_code: r.content.deny_code.clone(),
            deny_reason: d.deny_reason,
            tier: r.content.tier,
            proof: r.receipt_hash.clone(),
            supervisor_required: r.content.deny_code.as_deref()
                == Some(policy::deny::REQUIRES_HUMAN_APPROVAL),
            supervisor_level: None,
            pending_approval_id: r
                .content
                .approval_id
                .clone()
                .filter(|_| r.content.outcome == "DENY"),
            approval_expires_at: None,
            escalation_context: None,
            receipt: r,
        }
    }
}

/// A refused field: `rest` completes the sentence that starts with its name.
fn bad(field: &str, rest: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field} {rest}"))
}

/// A refused field whose error already names it.
fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_field", e.to_string())
}

/// A decision request, parsed: every field a domain value, the requesting
/// tenant settled. Nothing is looked up or claimed before this exists.
struct DecisionCommand {
    worker: WorkerRef,
    /// The worker as the caller named it (the receipt's `worker_id` when
    /// the registry does not know it).
    worker_named: String,
    capability: CapabilityId,
    env: Env,
    data_label: DataLabel,
    tenant: TenantId,
    correlation_id: String,
    request_hash: Option<String>,
    dry_run: bool,
    /// An approval the caller brought (WCP §5.8).
    approval: Option<Uuid>,
}

impl DecisionCommand {
    fn parse(principal: &Principal, body: DecisionRequest) -> Result<Self, ApiError> {
        let worker =
            WorkerRef::parse(&body.worker_id).map_err(|e| invalid(e.field("worker_id")))?;
        let capability = match (body.capability.as_deref(), body.capability_id.as_deref()) {
            (Some(c), _) => CapabilityId::parse(c).map_err(|e| invalid(e.field("capability")))?,
            (None, Some(c)) => {
                CapabilityId::parse(c).map_err(|e| invalid(e.field("capability_id")))?
            }
            (None, None) => {
                return Err(bad(
                    "capability",
                    "is required: the cap.… id to decide on, e.g. cap.data.read.v1 \
                     (capability_id is accepted for it)",
                ))
            }
        };
        let env = Env::parse(&body.env).map_err(invalid)?;
        let data_label = DataLabel::parse(&body.data_label).map_err(invalid)?;
        let tenant = match body.tenant_id.as_deref() {
            // The operator's own tenant has no workers and signs for none:
            // a decision for it is always DENY_UNKNOWN_TENANT. The operator
            // decides on a tenant's behalf, so it must say which.
            None if principal.operator => {
                return Err(ApiError::bad_request(
                    "tenant_required",
                    "a decision with the operator's key must name the tenant it is made for: \
                     send tenant_id, or use an API key of that tenant",
                ))
            }
            None => principal.tenant_id.clone(),
            Some(t) => {
                let t = TenantId::parse(t).map_err(|e| invalid(e.field("tenant_id")))?;
                if t != principal.tenant_id && !principal.operator {
                    return Err(ApiError::new(
                        actix_web::http::StatusCode::FORBIDDEN,
                        "forbidden",
                        format!(
                            "tenant_id {t} is not your tenant ({}); a key decides for its own \
                             tenant only",
                            principal.tenant_id
                        ),
                    ));
                }
                t
            }
        };
        let correlation_id = match body.correlation_id {
            Some(c)
                if !c.is_empty() && c.len() <= 128 && c.chars().all(|ch| ch.is_ascii_graphic()) =>
            {
                c
            }
            Some(_) => {
                return Err(bad(
                    "correlation_id",
                    "must be 1 to 128 printable ASCII characters without spaces",
                ))
            }
            None => Uuid::new_v4().to_string(),
        };
        if let Some(h) = &body.request_hash {
            if !attestation::package::is_sha256_hex(h) {
                return Err(bad(
                    "request_hash",
                    "must be a SHA-256 as 64 lowercase hex characters",
                ));
            }
        }
        let approval = body
            .approval_id
            .as_deref()
            .map(|a| {
                Uuid::parse_str(a).map_err(|_| {
                    bad(
                        "approval_id",
                        "must be the UUID an earlier decision gave as its pending approval",
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            worker,
            worker_named: body.worker_id,
            capability,
            env,
            data_label,
            tenant,
            correlation_id,
            request_hash: body.request_hash,
            dry_run: body.dry_run,
            approval,
        })
    }
}

/// The facts of a decision about a worker that is not there (or not yours to see).
fn unknown_worker(request: Request) -> Facts {
    Facts {
        request,
        worker: None,
        ban: BanFact::Clear,
        attestation: None,
        owner_policy: Default::default(),
        human_approval: false,
        now: Utc::now(),
    }
}

/// The facts of a decision about a known worker: its owner's policy and its
/// current attestation are read together, then the ban status of its hash.
async fn gather(
    state: &AppState,
    w: &Worker,
    owner_policy: policy::TenantPolicy,
    current: Option<registry::attestations::Attestation>,
    request: Request,
) -> Facts {
    let ban = match &current {
        None => BanFact::Clear,
        Some(a) => match state.bans.ban_reason(&a.sha256).await {
            Ok(None) => BanFact::Clear,
            Ok(Some(reason)) => BanFact::Banned(reason),
            Err(e) => {
                tracing::warn!(error = %e, "ban status unknown; the decision fails closed");
                BanFact::Unknown
            }
        },
    };
    let r = &w.record;
    Facts {
        request,
        worker: Some(WorkerFact {
            owner: w.tenant_id.clone(),
            revoked: w.status == WorkerStatus::Revoked,
            policy_tier: r.policy_tier,
            capabilities: r.capabilities.clone(),
            allowed_environments: r.allowed_environments.clone(),
            max_data_label: r.max_data_label,
            required_controls: r.required_controls.clone(),
            currently_implements: r.currently_implements.clone(),
            blast_score: r.blast_radius.as_ref().map(|(b, _)| b.score()),
        }),
        ban,
        attestation: current.map(|a| AttestationFact {
            signed: a.kind == "card",
            accepted_at: a.approved_at.unwrap_or(a.created_at),
        }),
        owner_policy,
        human_approval: false,
        now: Utc::now(),
    }
}

/// What the human is asked to approve (WCP §5.8 `escalation_context`).
fn escalation_context(
    state: &AppState,
    w: &Worker,
    facts: &Facts,
    decision: &policy::Decision,
) -> serde_json::Value {
    serde_json::json!({
        "worker_id": w.record.worker_id.to_string(),
        "capability_id": facts.request.capability.to_string(),
        "env": facts.request.env.to_string(),
        "data_label": facts.request.data_label.to_string(),
        "tenant_id": facts.request.tenant.to_string(),
        "tier": decision.tier,
        "blast_score": w.record.blast_radius.as_ref().map(|(b, _)| b.score()),
        "risk_tier": w.record.risk_tier.map(|r| r.to_string()),
        "policy_version": state.policy.version,
        "reason": decision.deny_reason,
    })
}

/// What an approval for this request covers.
fn approval_subject(w: &Worker, r: &Request) -> registry::approvals::ApprovalSubject {
    registry::approvals::ApprovalSubject {
        worker_registry_id: w.id.clone(),
        worker_id: w.record.worker_id.to_string(),
        capability_id: r.capability.to_string(),
        env: r.env.to_string(),
        data_label: r.data_label.to_string(),
    }
}

/// A REQUIRE_HUMAN outcome: the approval the caller brought lets the
/// decision through if it is approved and for exactly this request;
/// otherwise a pending approval is opened (or the caller's still-pending one
/// kept) for a human to resolve.
struct HumanStep {
    decision: policy::Decision,
    approval_id: Option<Uuid>,
    pending: Option<registry::approvals::Approval>,
}

/// The decision being made, as the approval step needs it.
struct InFlight<'a> {
    /// The approval the caller brought, if any.
    brought: Option<Uuid>,
    receipt_id: Uuid,
    correlation_id: &'a str,
    dry_run: bool,
}

async fn require_human(
    state: &AppState,
    w: &Worker,
    mut facts: Facts,
    mut decision: policy::Decision,
    this: InFlight<'_>,
) -> Result<HumanStep, ApiError> {
    use registry::approvals::{NewApproval, Unusable};
    let InFlight {
        brought,
        receipt_id,
        correlation_id,
        dry_run,
    } = this;
    let tenant = facts.request.tenant.clone();
    let store = state.store.tenant(&tenant);
    let subject = approval_subject(w, &facts.request);
    let mut why_not = None;
    if let (Some(id), false) = (brought, dry_run) {
        match store.use_approval(id, &subject, receipt_id).await? {
            Ok(_) => {
                facts.human_approval = true;
                return Ok(HumanStep {
                    decision: policy::decide(&state.policy, &facts),
                    approval_id: Some(id),
                    pending: None,
                });
            }
            Err(Unusable::Pending) => {
                if let Some(a) = store.approval(id).await? {
                    decision.deny_reason = decision
                        .deny_reason
                        .map(|r| format!("{r}; approval {id} is still waiting for a human"));
                    return Ok(HumanStep {
                        decision,
                        approval_id: Some(id),
                        pending: Some(a),
                    });
                }
            }
            Err(why) => why_not = Some(format!("approval {id} cannot be used: {why}")),
        }
    }
    if let Some(why) = why_not {
        decision.deny_reason = decision.deny_reason.map(|r| format!("{r}; {why}"));
    }
    if dry_run {
        return Ok(HumanStep {
            decision,
            approval_id: None,
            pending: None,
        });
    }
    let opened = store
        .open_approval(&NewApproval {
            id: Uuid::new_v4(),
            supervisor_level: registry::approvals::SupervisorLevel::Gatekeeper,
            subject,
            reason: decision.deny_reason.clone().unwrap_or_default(),
            escalation_context: escalation_context(state, w, &facts, &decision),
            decision_id: receipt_id,
            correlation_id: correlation_id.to_string(),
        })
        .await?;
    Ok(HumanStep {
        decision,
        approval_id: Some(opened.id),
        pending: Some(opened),
    })
}

/// Advisory REQUIRE_HUMAN: the call proceeds; the approval opened here is
/// the record of what a human is told, to review after the fact.
async fn open_advisory(
    state: &AppState,
    w: &Worker,
    facts: &Facts,
    decision: &policy::Decision,
    receipt_id: Uuid,
    correlation_id: &str,
) -> Result<registry::approvals::Approval, ApiError> {
    use registry::approvals::{NewApproval, SupervisorLevel};
    Ok(state
        .store
        .tenant(&facts.request.tenant)
        .open_approval(&NewApproval {
            id: Uuid::new_v4(),
            supervisor_level: SupervisorLevel::Advisory,
            subject: approval_subject(w, &facts.request),
            reason: "REQUIRE_HUMAN (advisory): restricted data or over-threshold blast in \
                     production; allowed, a human is notified"
                .into(),
            escalation_context: escalation_context(state, w, facts, decision),
            decision_id: receipt_id,
            correlation_id: correlation_id.to_string(),
        })
        .await?)
}

/// What a decision's answer carries besides its receipt: the human-approval
/// fields. Kept with an idempotency key, so a replay answers the same.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Supervision {
    /// Advisory REQUIRE_HUMAN: allowed, and a human is notified.
    advisory: bool,
    level: Option<String>,
    pending_approval_id: Option<String>,
    approval_expires_at: Option<String>,
    escalation_context: Option<serde_json::Value>,
}

impl Supervision {
    fn new(advisory: bool, pending: Option<registry::approvals::Approval>) -> Self {
        let level = pending
            .as_ref()
            .map(|a| a.supervisor_level.as_str())
            .unwrap_or(if advisory { "advisory" } else { "gatekeeper" })
            .to_string();
        Self {
            advisory,
            level: Some(level),
            pending_approval_id: pending.as_ref().map(|a| a.id.to_string()),
            approval_expires_at: pending
                .as_ref()
                .map(|a| a.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            escalation_context: pending.map(|a| a.escalation_context),
        }
    }

    fn apply(self, view: &mut DecisionView) {
        if self.advisory {
            view.supervisor_required = true;
        }
        if view.supervisor_required {
            view.pending_approval_id = self.pending_approval_id;
            view.supervisor_level = self.level;
            view.approval_expires_at = self.approval_expires_at;
            view.escalation_context = self.escalation_context;
        }
    }
}

/// An answer, and whether it is a replay of an earlier one (`Idempotency-Key`).
struct Answer {
    view: DecisionView,
    replayed: bool,
}

/// Runs the chain once per idempotency key: without a key, always; with one,
/// only for its first request — a repeat gets the original decision.
async fn decide_once(
    principal: &Principal,
    state: &AppState,
    key: Option<IdempotencyKey>,
    body: DecisionRequest,
) -> Result<Answer, ApiError> {
    principal.require(Scope::DecisionsWrite)?;
    // The key covers the request as sent.
    let hash = key
        .as_ref()
        .map(|_| idempotency::request_hash(&body))
        .transpose()?;
    let command = DecisionCommand::parse(principal, body)?;
    let (Some(key), Some(hash)) = (key, hash) else {
        let view = decide(state, command, None).await?;
        return Ok(Answer {
            view,
            replayed: false,
        });
    };
    match idempotency::take_turn(principal, state, &key, &hash).await? {
        idempotency::Turn::Replay(done) => {
            let logged = state
                .store
                .tenant(&done.receipt_tenant_id)
                .decision(done.receipt_id)
                .await?
                .ok_or_else(|| {
                    ApiError::internal(format!(
                        "idempotency key {} names receipt {} that is not there",
                        key.as_str(),
                        done.receipt_id
                    ))
                })?;
            let mut view = DecisionView::from(logged);
            let supervision: Supervision =
                serde_json::from_value(done.response_extra).unwrap_or_default();
            supervision.apply(&mut view);
            Ok(Answer {
                view,
                replayed: true,
            })
        }
        idempotency::Turn::Decide(token) => {
            let claim = IdempotencyClaim {
                tenant_id: principal.tenant_id.clone(),
                key: key.as_str().to_string(),
                token,
                response_extra: serde_json::Value::Null,
            };
            match decide(state, command, Some(claim)).await {
                Ok(view) => Ok(Answer {
                    view,
                    replayed: false,
                }),
                Err(e) => {
                    // No receipt was made (a committed receipt completes the
                    // key, which release leaves alone): a retry may decide.
                    idempotency::release(principal, state, &key, token).await;
                    Err(e)
                }
            }
        }
    }
}

/// Runs the chain and commits the receipt before answering.
async fn decide(
    state: &AppState,
    command: DecisionCommand,
    claim: Option<IdempotencyClaim>,
) -> Result<DecisionView, ApiError> {
    let DecisionCommand {
        worker: worker_ref,
        worker_named,
        capability,
        env,
        data_label,
        tenant,
        correlation_id,
        request_hash,
        dry_run,
        approval: brought_approval,
    } = command;
    let found = state.facts.worker(&worker_ref).await?;
    let request = Request {
        capability: capability.clone(),
        env,
        data_label,
        tenant: tenant.clone(),
    };
    let mut known = None;
    let (worker_label, facts) = match found {
        None => (worker_named.clone(), unknown_worker(request)),
        Some(w) => {
            let (owner_policy, current) = tokio::join!(
                state.facts.decision_policy(&w.tenant_id),
                state.facts.current_attestation(&w.id, Utc::now())
            );
            let owner_policy = owner_policy?;
            // A private worker of another tenant is unknown unless the caller signs for its owner.
            let hidden = w.record.visibility == Visibility::Private
                && w.tenant_id != tenant
                && !owner_policy.signatories.contains(&tenant);
            if hidden {
                (worker_named.clone(), unknown_worker(request))
            } else {
                let label = w.record.worker_id.to_string();
                let facts = gather(state, &w, (*owner_policy).clone(), current?, request).await;
                known = Some(w);
                (label, facts)
            }
        }
    };
    let decision = policy::decide(&state.policy, &facts);
    let receipt_id = Uuid::now_v7();
    let (decision, approval_id, pending) = match (&known, decision.deny_code) {
        (Some(w), Some(policy::deny::REQUIRES_HUMAN_APPROVAL)) => {
            let this = InFlight {
                brought: brought_approval,
                receipt_id,
                correlation_id: &correlation_id,
                dry_run,
            };
            let h = require_human(state, w, facts, decision, this).await?;
            (h.decision, h.approval_id, h.pending)
        }
        (Some(w), None) if decision.advisory_human && !dry_run => {
            let opened =
                open_advisory(state, w, &facts, &decision, receipt_id, &correlation_id).await?;
            (decision, Some(opened.id), Some(opened))
        }
        _ => (decision, None, None),
    };
    let supervision = Supervision::new(decision.advisory_human, pending.clone());
    let idempotency = claim
        .map(|c| -> Result<IdempotencyClaim, ApiError> {
            Ok(IdempotencyClaim {
                response_extra: serde_json::to_value(&supervision).map_err(ApiError::internal)?,
                ..c
            })
        })
        .transpose()?;
    let now = Utc::now();
    let content = UnsignedReceipt {
        receipt_id: receipt_id.to_string(),
        spec_version: wcp::SPEC_VERSION.to_string(),
        tenant_id: tenant.to_string(),
        correlation_id,
        decided_at: now.to_rfc3339_opts(SecondsFormat::Micros, true),
        worker_id: worker_label,
        capability_id: capability.to_string(),
        env: env.to_string(),
        data_label: data_label.to_string(),
        outcome: if decision.denied { "DENY" } else { "ALLOW" }.into(),
        deny_code: decision.deny_code.map(str::to_string),
        tier: decision.tier,
        policy_version: state.policy.version.clone(),
        controls_verified: decision.controls_verified.clone(),
        request_hash,
        dry_run,
        prev_receipt_hash: None,
        signing_key_id: String::new(),
        approval_id: approval_id.map(|a| a.to_string()),
    };
    let receipt = state
        .receipts
        .append(PendingReceipt {
            content,
            decided_at: now,
            denied: decision.denied,
            deny_reason: decision.deny_reason.clone(),
            idempotency,
        })
        .await;
    let receipt = match receipt {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "no receipt, so no decision");
            if let (Some(id), None) = (approval_id, &pending) {
                // The approval was used by a decision that never happened.
                if let Err(e) = state
                    .store
                    .tenant(&tenant)
                    .release_approval(id, receipt_id)
                    .await
                {
                    tracing::warn!(error = %e, approval = %id, "could not give the approval back");
                }
            }
            return Err(ApiError::unavailable(
                "the decision's receipt could not be committed; retry",
            ));
        }
    };
    let mut view: DecisionView = LoggedDecision {
        receipt,
        deny_reason: decision.deny_reason,
    }
    .into();
    supervision.apply(&mut view);
    Ok(view)
}

/// The answer of a decision endpoint; a replay says so in a header.
fn respond(answer: Answer) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if answer.replayed {
        response.insert_header((idempotency::REPLAYED_HEADER, "true"));
    }
    response.json(answer.view)
}

/// Decide whether a worker may run a capability (`decisions:write`). A deny
/// is a 200 with `denied: true`; only malformed requests are 4xx. The
/// receipt is committed to the tenant's chain before the answer is sent.
///
/// With an `Idempotency-Key` header, a repeat of the same request by the same
/// tenant within 24 hours answers the original decision (with the header
/// `Idempotent-Replayed: true`) and appends no second receipt — on any
/// replica, and also while the first is still being decided (the repeat
/// waits for it). A repeat with a different body is 409.
#[utoipa::path(post, path = "/api/v1/decisions", tag = "decisions", request_body = DecisionRequest,
    params(IdempotencyHeader), security(("bearer" = [])),
    responses((status = 200, body = DecisionView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"))),
        (status = 400, description = "A field is missing or malformed (`invalid_field`, `invalid_request`, naming the field), or the operator's key named no `tenant_id` (`tenant_required`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks `decisions:write`, or `tenant_id` names another tenant", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another request body (`idempotency_key_reused`), or its first request is still being decided after 35 s (`idempotency_key_in_flight`)", body = ErrorBody),
        (status = 503, description = "The receipt could not be committed", body = ErrorBody)))]
pub async fn make_decision(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::from_request(&req)?;
    Ok(respond(
        decide_once(&principal, &state, key, body.into_inner()).await?,
    ))
}

/// The local Hall server's route call (session token or API key): the same
/// decision; the answer carries `denied` and `deny_reason`. `Idempotency-Key`
/// works as on `POST /api/v1/decisions` (one key space for both).
#[utoipa::path(post, path = "/api/route", tag = "contract", request_body = DecisionRequest,
    params(IdempotencyHeader), security(("bearer" = [])),
    responses((status = 200, body = DecisionView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"))),
        (status = 400, description = "A field is missing or malformed (`invalid_field`, `invalid_request`, naming the field), or the operator's key named no `tenant_id` (`tenant_required`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks `decisions:write`, or `tenant_id` names another tenant", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another request body, or its first request is still being decided", body = ErrorBody),
        (status = 503, description = "The receipt could not be committed", body = ErrorBody)))]
pub async fn route(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    make_decision(req, principal, state, body).await
}

/// The `Idempotency-Key` request header of the decision endpoints.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// 1–255 visible ASCII characters (a UUID is a good choice). A repeat
    /// of the same request with the same key within 24 hours answers the
    /// original decision instead of making a new one.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]{1,255}$"
    )]
    pub idempotency_key: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// `wrk_…` or WCP worker id.
    pub worker_id: Option<String>,
    pub capability_id: Option<String>,
    pub denied: Option<bool>,
    /// RFC 3339; inclusive.
    pub since: Option<String>,
    /// RFC 3339; exclusive.
    pub until: Option<String>,
    /// 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionView>,
    pub next_cursor: Option<String>,
}

fn time_param(field: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "{field} {s:?} is not an RFC 3339 time such as 2030-01-31T00:00:00Z"
                        ),
                    )
                })
        })
        .transpose()
}

/// Your tenant's decisions, newest first (`read`).
#[utoipa::path(get, path = "/api/v1/decisions", tag = "decisions", params(DecisionQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DecisionPage), (status = 400, body = ErrorBody)))]
pub async fn query_decisions(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<DecisionQuery>,
) -> Result<web::Json<DecisionPage>, ApiError> {
    principal.require(Scope::Read)?;
    let q = query.into_inner();
    let worker_id = match q.worker_id.as_deref() {
        None => None,
        Some(raw) => match WorkerRef::parse(raw) {
            Ok(WorkerRef::Wcp(id)) => Some(id.to_string()),
            Ok(r @ WorkerRef::Registry(_)) => Some(
                state
                    .store
                    .worker_for_decision(&r)
                    .await?
                    .map(|w| w.record.worker_id.to_string())
                    .unwrap_or_else(|| raw.to_string()),
            ),
            Err(_) => Some(raw.to_string()),
        },
    };
    let filter = DecisionFilter {
        worker_id,
        capability_id: q.capability_id,
        denied: q.denied,
        since: time_param("since", &q.since)?,
        until: time_param("until", &q.until)?,
        before: q
            .cursor
            .as_deref()
            .map(|c| {
                Uuid::parse_str(c).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_query",
                        "cursor must be the next_cursor of an earlier page",
                    )
                })
            })
            .transpose()?,
        limit: match q.limit {
            None => 50,
            Some(l) if (1..=500).contains(&l) => l,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    "limit must be an integer from 1 to 500",
                ))
            }
        },
    };
    let (decisions, more) = state
        .store
        .tenant(&principal.tenant_id)
        .decisions(&filter)
        .await?;
    let next_cursor = more
        .then(|| {
            decisions
                .last()
                .map(|d| d.receipt.content.receipt_id.clone())
        })
        .flatten();
    Ok(web::Json(DecisionPage {
        decisions: decisions.into_iter().map(DecisionView::from).collect(),
        next_cursor,
    }))
}

/// One of your decisions (`read`).
#[utoipa::path(get, path = "/api/v1/decisions/{id}", tag = "decisions",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = DecisionView), (status = 404, body = ErrorBody)))]
pub async fn get_decision(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<DecisionView>, ApiError> {
    principal.require(Scope::Read)?;
    let not_found = || ApiError::not_found(format!("decision {} not found", path.as_str()));
    let id = Uuid::parse_str(&path).map_err(|_| not_found())?;
    let d = state
        .store
        .tenant(&principal.tenant_id)
        .decision(id)
        .await?
        .ok_or_else(not_found)?;
    Ok(web::Json(d.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyView {
    pub kid: String,
    /// Ed25519 public key, standard base64.
    pub public_key: String,
    #[schema(example = "Ed25519")]
    pub algorithm: String,
    /// `active` (signing now) or `retired` (still verifies old receipts).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<PublicKeyView>,
}

async fn key_list(state: &AppState) -> Result<KeyList, ApiError> {
    let keys = state.store.receipt_keys().await?;
    Ok(KeyList {
        keys: keys
            .into_iter()
            .map(|k| PublicKeyView {
                kid: k.kid,
                public_key: base64::engine::general_purpose::STANDARD.encode(&k.public_key),
                algorithm: "Ed25519".into(),
                status: if k.retired_at.is_some() {
                    "retired"
                } else {
                    "active"
                }
                .into(),
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect(),
    })
}

/// Every key receipts were ever signed with (public).
#[utoipa::path(get, path = "/api/v1/keys", tag = "decisions", responses((status = 200, body = KeyList)))]
pub async fn keys(state: web::Data<AppState>) -> Result<web::Json<KeyList>, ApiError> {
    Ok(web::Json(key_list(&state).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The kid receipts are signed with from now on.
    pub kid: String,
    /// The kid it replaced (still published: its receipts verify).
    pub retired_kid: String,
    pub keys: Vec<PublicKeyView>,
}

/// Operator: starts a new receipt signing key. With the generated key file a
/// fresh key is made; with `HALL_RECEIPT_SIGNING_KEY_FILE` the file is read
/// again (write the new key there first); a key given inline in
/// `HALL_RECEIPT_SIGNING_KEY` is changed by configuration only (409). Other
/// replicas read their own key source again and switch when it holds the new key.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "decisions",
    security(("bearer" = [])),
    responses((status = 200, body = RotatedKey), (status = 403, body = ErrorBody),
        (status = 409, description = "The key source cannot give a new key", body = ErrorBody)))]
pub async fn rotate_key(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<RotatedKey>, ApiError> {
    use crate::receipt_keys::{KeyError, ROTATION_CHANNEL};
    principal.require_operator()?;
    let active = state.receipts.key();
    let next = state
        .receipt_key_source
        .next(&active)
        .map_err(|e| match e {
            KeyError::CannotRotate(m) => {
                ApiError::new(actix_web::http::StatusCode::CONFLICT, "cannot_rotate", m)
            }
            KeyError::Invalid(m) => {
                tracing::error!(error = %m, "receipt key rotation failed");
                ApiError::new(
                    actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "receipt_key_unavailable",
                    m,
                )
            }
        })?;
    // Published before first use: a receipt never names an unpublished kid.
    state
        .store
        .publish_receipt_key(&next.kid, next.key.verifying_key().as_bytes())
        .await?;
    let kid = next.kid.clone();
    state.receipts.set_key(next);
    tracing::info!(kid = %kid, retired = %active.kid, "receipt signing key rotated");
    if let Err(e) = state.store.announce(ROTATION_CHANNEL, &kid).await {
        tracing::warn!(error = %e, "could not announce the rotation to other replicas");
    }
    Ok(web::Json(RotatedKey {
        kid,
        retired_kid: active.kid.clone(),
        keys: key_list(&state).await?.keys,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Continue after this chain position (default 0: from the start).
    pub after: Option<i64>,
    /// 1–5000 (default 1000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptExport {
    /// Receipts in chain order.
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<Receipt>,
    /// Pass as `after` for the next page; null at the end of the chain.
    pub next_after: Option<i64>,
}

/// Your tenant's receipts in chain order, for offline verification (`read`).
#[utoipa::path(get, path = "/api/v1/audit/receipts", tag = "decisions", params(ExportQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReceiptExport), (status = 400, body = ErrorBody)))]
pub async fn export_receipts(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    let after = query.after.unwrap_or(0).max(0);
    let limit = match query.limit {
        None => 1000,
        Some(l) if (1..=5000).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "limit must be an integer from 1 to 5000",
            ))
        }
    };
    let rows = state
        .store
        .tenant(&principal.tenant_id)
        .receipts(after, limit)
        .await?;
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|(seq, _)| *seq))
        .flatten();
    Ok(HttpResponse::Ok().json(ReceiptExport {
        receipts: rows.into_iter().map(|(_, r)| r).collect(),
        next_after,
    }))
}

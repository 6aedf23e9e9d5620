//! Human approvals (WCP §5.8): `/wcp/approvals/pending`, `/resolve`,
//! `/escalate`, and one approval by id. A decision that needs a human opens
//! an approval in the requesting tenant; an `admin` key of that tenant (a
//! human's, not the agent's `decisions:write` key) resolves it. The handlers
//! parse the request, call the approval use case once (`service::approvals`)
//! and map its [`ApprovalError`] here.

use actix_web::http::StatusCode;
use actix_web::web;
use registry::approvals::Approval;
use registry::Scope;
use serde::Deserialize;
use service::approvals::{Answer, ApprovalError, ResolveCommand};
use utoipa::IntoParams;
use uuid::Uuid;

pub use api_types::approvals::{ApprovalView, EscalateApproval, PendingApprovals, ResolveApproval};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::acting_tenant;
use crate::routes::{resource, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/wcp/approvals/pending", &["GET"]).route(web::get().to(pending)))
        .service(resource("/wcp/approvals/resolve", &["POST"]).route(web::post().to(resolve)))
        .service(resource("/wcp/approvals/escalate", &["POST"]).route(web::post().to(escalate)))
        .service(resource("/wcp/approvals/{approval_id}", &["GET"]).route(web::get().to(one)));
}

/// An approval as the API shows it.
fn view(a: Approval) -> ApprovalView {
    ApprovalView {
        id: a.id.to_string(),
        tenant_id: a.tenant_id,
        status: a.status.as_str().into(),
        supervisor_level: a.supervisor_level.as_str().into(),
        worker_id: a.subject.worker_id.to_string(),
        capability_id: a.subject.capability_id.to_string(),
        env: a.subject.env.to_string(),
        data_label: a.subject.data_label.to_string(),
        reason: a.reason,
        escalation_context: a.escalation_context,
        decision_id: a.decision_id.to_string(),
        correlation_id: a.correlation_id,
        created_at: a.created_at,
        expires_at: a.expires_at,
        resolved_at: a.resolved_at,
        resolved_by: a.resolved_by,
        resolution_note: a.resolution_note,
        used_at: a.used_at,
        used_by_decision: a.used_by_decision.map(|d| d.to_string()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantParam {
    /// Operator only, with `admin`: another tenant's approvals.
    pub tenant_id: Option<String>,
}

fn approval_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("approval {raw} not found")))
}

fn acting_human(principal: &Principal) -> String {
    format!("{} ({})", principal.key_name, principal.key_id)
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::NotFound(_) => ApiError::not_found(e.to_string()),
            ApprovalError::NotPending { .. } | ApprovalError::NotGatekeeper { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            ApprovalError::Store(e) => e.into(),
        }
    }
}

/// Approvals of your tenant waiting for a human, oldest first (`read`).
#[utoipa::path(get, path = "/wcp/approvals/pending", tag = "approvals", params(TenantParam),
    security(("bearer" = [])),
    responses((status = 200, body = PendingApprovals), (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody)))]
pub async fn pending(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<TenantParam>,
) -> Result<web::Json<PendingApprovals>, ApiError> {
    principal.require(Scope::Read)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    let pending = state.hall.pending_approvals(&tenant).await?;
    Ok(web::Json(PendingApprovals {
        pending: pending.into_iter().map(view).collect(),
    }))
}

/// One approval of your tenant (`read`): poll it while a human decides.
#[utoipa::path(get, path = "/wcp/approvals/{approval_id}", tag = "approvals",
    params(("approval_id" = String, Path), TenantParam), security(("bearer" = [])),
    responses((status = 200, body = ApprovalView),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn one(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TenantParam>,
) -> Result<web::Json<ApprovalView>, ApiError> {
    principal.require(Scope::Read)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    let id = approval_id(&path)?;
    Ok(web::Json(view(state.hall.approval(&tenant, id).await?)))
}

fn note(n: &Option<String>) -> Result<Option<String>, ApiError> {
    n.as_deref()
        .map(|n| crate::routes::text_field("note", n, 1000))
        .transpose()
}

/// A human's answer (`admin`): `approve` lets exactly one matching decision
/// through within the hour; `deny` closes it; `escalate` is `/escalate`.
#[utoipa::path(post, path = "/wcp/approvals/resolve", tag = "approvals",
    request_body = ResolveApproval, security(("bearer" = [])),
    responses((status = 200, body = ApprovalView), (status = 400, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not pending (resolved or expired)", body = ErrorBody)))]
pub async fn resolve(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<ResolveApproval>,
) -> Result<web::Json<ApprovalView>, ApiError> {
    principal.require(Scope::Admin)?;
    let answer = match body.resolution.as_str() {
        "approve" => Ok(Answer::Approve),
        "deny" => Ok(Answer::Deny),
        "escalate" => Ok(Answer::Escalate),
        other => Err(ApiError::bad_request(
            "invalid_field",
            format!("resolution {other:?} is not one of approve, deny or escalate"),
        )),
    };
    let command = command(
        &principal,
        &body.tenant_id,
        &body.approval_id,
        &body.note,
        answer,
    )?;
    Ok(web::Json(view(state.hall.resolve_approval(command).await?)))
}

/// `principal`'s answer to an approval, parsed field by field in this
/// order: the tenant, the approval's id, the note, the answer.
fn command(
    principal: &Principal,
    tenant_id: &Option<String>,
    approval: &str,
    note: &Option<String>,
    answer: Result<Answer, ApiError>,
) -> Result<ResolveCommand, ApiError> {
    Ok(ResolveCommand {
        tenant: acting_tenant(principal, tenant_id.as_deref())?,
        approval: approval_id(approval)?,
        note: self::note(note)?,
        answer: answer?,
        by: acting_human(principal),
    })
}

/// Raises a pending approval from `gatekeeper` to `incident_commander` (`admin`).
#[utoipa::path(post, path = "/wcp/approvals/escalate", tag = "approvals",
    request_body = EscalateApproval, security(("bearer" = [])),
    responses((status = 200, body = ApprovalView),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not pending, or already escalated", body = ErrorBody)))]
pub async fn escalate(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<EscalateApproval>,
) -> Result<web::Json<ApprovalView>, ApiError> {
    principal.require(Scope::Admin)?;
    let command = command(
        &principal,
        &body.tenant_id,
        &body.approval_id,
        &body.note,
        Ok(Answer::Escalate),
    )?;
    Ok(web::Json(view(state.hall.resolve_approval(command).await?)))
}

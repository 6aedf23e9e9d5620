//! Decisions: making one (`POST /api/v1/decisions`, and `POST /api/route`,
//! the local Hall server's call) and reading the decision log. The handlers
//! parse the request into a [`DecisionCommand`], call the decision use case
//! once (`service::decide`) and map its [`DecideError`] here; the rules are
//! in `crates/policy`, the rows in `registry::decisions` and
//! `registry::receipts`. The receipt keys are `keys.rs`, the receipt export
//! `audit.rs`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use registry::decisions::{DecisionFilter, LoggedDecision};
use registry::workers::WorkerRef;
use registry::Scope;
use serde::Deserialize;
use service::decide::{DecideError, Decided, DecisionCommand, Fingerprint, Idempotency};
use service::Caller;
use utoipa::IntoParams;
use uuid::Uuid;
use wcp::{CapabilityId, DataLabel, Env, TenantId};

pub use api_types::decisions::{
    DataLabelName, DecisionOutcome, DecisionPage, DecisionRequest, DecisionView, EnvName,
};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::idempotency;
use crate::routes::route as route_api;
use crate::routes::route::{QosClassName, RouteAnswer, TenantRiskName};
use crate::routes::{resource, JsonBody, JsonObject};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/decisions", &["GET", "POST"])
            .route(web::get().to(query_decisions))
            .route(web::post().to(make_decision)),
    )
    .service(resource("/api/v1/decisions/{id}", &["GET"]).route(web::get().to(get_decision)))
    .service(resource("/api/route", &["POST"]).route(web::post().to(route)));
}

/// A logged decision as the API shows it.
/// `artifact_hash` is null here, and `selected_worker_species_id` unless
/// the router's receipt records it; the answer to a decision request fills
/// them ([`respond`]).
pub(crate) fn view(d: LoggedDecision) -> DecisionView {
    let r = d.receipt;
    let denied = r.content.outcome.is_deny();
    let require_human =
        r.content.deny_code.as_deref() == Some(policy::deny::REQUIRES_HUMAN_APPROVAL);
    let outcome = match (denied, require_human) {
        (false, _) => DecisionOutcome::Allow,
        (true, true) => DecisionOutcome::RequireHuman,
        (true, false) => DecisionOutcome::Deny,
    };
    let reason = match (&d.deny_reason, &r.content.deny_code) {
        (Some(reason), _) => reason.clone(),
        (None, Some(code)) => code.clone(),
        (None, None) => format!(
            "allowed: {} may run {} in {} on {} data",
            r.content.worker_id, r.content.capability_id, r.content.env, r.content.data_label
        ),
    };
    DecisionView {
        id: r.content.receipt_id.clone(),
        decision_id: r.content.receipt_id.clone(),
        allowed: !denied,
        outcome,
        reason,
        artifact_hash: None,
        selected_worker_species_id: r.content.selected_worker_species_id.clone(),
        decided_at: r.content.decided_at.clone(),
        worker_id: r.content.worker_id.clone(),
        capability_id: r.content.capability_id.clone(),
        env: r.content.env.clone(),
        data_label: r.content.data_label.clone(),
        tenant_id: r.content.tenant_id.clone(),
        correlation_id: r.content.correlation_id.clone(),
        denied: r.content.outcome.is_deny(),
        deny_code: r.content.deny_code.clone(),
        deny_reason: d.deny_reason,
        tier: r.content.tier,
        proof: r.receipt_hash.clone(),
        leaf_index: d.leaf_index,
        supervisor_required: r.content.deny_code.as_deref()
            == Some(policy::deny::REQUIRES_HUMAN_APPROVAL),
        supervisor_level: None,
        pending_approval_id: r
            .content
            .approval_id
            .clone()
            .filter(|_| r.content.outcome.is_deny()),
        approval_expires_at: None,
        escalation_context: None,
        receipt: r,
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

/// A decision request as the use case's command: every field a domain value,
/// the requesting tenant settled. The first refused field is the answer.
fn command(caller: Caller<'_>, body: DecisionRequest) -> Result<DecisionCommand, ApiError> {
    let Some(worker_named) = body.worker_id else {
        return Err(bad(
            "worker_id",
            "is required: routing by capability without naming a worker is not available \
             yet; send the worker's registry id (wrk_…) or its WCP worker id",
        ));
    };
    let worker = WorkerRef::parse(&worker_named).map_err(|e| invalid(e.field("worker_id")))?;
    let capability = match (body.capability.as_deref(), body.capability_id.as_deref()) {
        (Some(c), _) => CapabilityId::parse(c).map_err(|e| invalid(e.field("capability")))?,
        (None, Some(c)) => CapabilityId::parse(c).map_err(|e| invalid(e.field("capability_id")))?,
        (None, None) => {
            return Err(bad(
                "capability",
                "is required: the cap.… id to decide on, e.g. cap.data.read.v1 \
                 (capability_id is accepted for it)",
            ))
        }
    };
    let env = Env::parse(&body.env).map_err(invalid)?;
    let data_label = body
        .data_label
        .as_deref()
        .map(DataLabel::parse)
        .transpose()
        .map_err(invalid)?;
    let named = body
        .tenant_id
        .as_deref()
        .map(|t| TenantId::parse(t).map_err(|e| invalid(e.field("tenant_id"))))
        .transpose()?;
    let tenant = caller.decides_for(named)?;
    let correlation_id = match body.correlation_id {
        Some(c) if !c.is_empty() && c.len() <= 128 && c.chars().all(|ch| ch.is_ascii_graphic()) => {
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
    Ok(DecisionCommand {
        worker,
        worker_named,
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

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        let status = match &e {
            DecideError::Store(_) | DecideError::ReplayLost { .. } | DecideError::Encode(_) => None,
            DecideError::TenantRequired => Some((StatusCode::BAD_REQUEST, "tenant_required")),
            DecideError::Forbidden { .. } => Some((StatusCode::FORBIDDEN, "forbidden")),
            DecideError::AdminRequired { .. } => {
                Some((StatusCode::FORBIDDEN, "insufficient_scope"))
            }
            DecideError::UnknownTenant(_) => Some((StatusCode::NOT_FOUND, "not_found")),
            DecideError::IdempotencyKeyReused(_) => {
                Some((StatusCode::CONFLICT, "idempotency_key_reused"))
            }
            DecideError::IdempotencyKeyInFlight(_) => {
                Some((StatusCode::CONFLICT, "idempotency_key_in_flight"))
            }
            DecideError::ReceiptNotCommitted(_) => {
                Some((StatusCode::SERVICE_UNAVAILABLE, "unavailable"))
            }
        };
        match (status, e) {
            (Some((status, code)), e) => ApiError::new(status, code, e.to_string()),
            (None, DecideError::Store(e)) => e.into(),
            (None, e) => ApiError::internal(e),
        }
    }
}

/// The answer to a decision: its receipt's view with the selected worker's
/// fields and the human-approval fields.
pub(crate) fn decision_view(decided: Decided) -> DecisionView {
    let Decided {
        decision,
        supervision,
        selected,
        replayed: _,
    } = decided;
    let mut view = view(decision);
    if let Some(w) = selected {
        view.artifact_hash = w.artifact_hash;
        view.selected_worker_species_id = w.species.map(|s| s.to_string());
    }
    if supervision.advisory {
        view.supervisor_required = true;
    }
    if view.supervisor_required {
        view.pending_approval_id = supervision.pending_approval_id;
        view.supervisor_level = supervision.level.map(|l| l.as_str().to_string());
        view.approval_expires_at = supervision.approval_expires_at;
        view.escalation_context = supervision.escalation_context;
    }
    view
}

/// The answer of a decision endpoint; a replay says so in a header.
fn respond(decided: Decided) -> HttpResponse {
    let replayed = decided.replayed;
    let view = decision_view(decided);
    let mut response = HttpResponse::Ok();
    if replayed {
        response.insert_header((idempotency::REPLAYED_HEADER, "true"));
    }
    crate::routes::decision_json(response, &view)
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
        (status = 403, description = "The key lacks `decisions:write` (`insufficient_scope`), `tenant_id` names another tenant (`forbidden`: omit it or send your own), or the operator's key names another tenant without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "The operator's `tenant_id` names no tenant", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another request body (`idempotency_key_reused`), or its first request is still being decided after 35 s (`idempotency_key_in_flight`)", body = ErrorBody),
        (status = 503, description = "The receipt could not be committed", body = ErrorBody)))]
pub async fn make_decision(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    decide_body(req, principal, state, body.into_inner()).await
}

/// A decision about the worker `body` names.
async fn decide_body(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: DecisionRequest,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency::key_from_request(&req)?;
    principal.require(Scope::DecisionsWrite)?;
    // The key covers the request as sent.
    let idempotency = key
        .map(|key| -> Result<Idempotency, ApiError> {
            let fingerprint = Fingerprint::of(&body).map_err(ApiError::internal)?;
            Ok(Idempotency { key, fingerprint })
        })
        .transpose()?;
    let caller = principal.caller();
    let command = command(caller, body)?;
    Ok(respond(
        state.hall.decide(caller, command, idempotency).await?,
    ))
}

/// The local Hall server's route call (session token or API key), also
/// made by the PyHall MCP server and the no-code integrations (n8n, Zapier,
/// Langflow). With `worker_id`: the same decision and answer as `POST
/// /api/v1/decisions` (`Idempotency-Key` works as there, one key space for
/// both). Without it: the Hall routes the capability by the tenant's
/// routing rules, as `POST /api/v1/route` does (the body is a route input;
/// `capability` is read as `capability_id` and a `correlation_id` is
/// generated when absent), and the answer adds the route fields. Either
/// way the answer carries `denied` and `deny_reason`, and the fields the
/// integrations read: `decision_id`, `allowed`, `outcome`, `reason`,
/// `artifact_hash`, `selected_worker_species_id`. Without `data_label` the
/// tenant's default label applies (`RESTRICTED` unless set);
/// `CONFIDENTIAL` is read as `RESTRICTED`.
#[utoipa::path(post, path = "/api/route", tag = "contract", request_body = RouteCallRequest,
    params(IdempotencyHeader), security(("bearer" = [])),
    responses((status = 200, body = RouteAnswer,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"))),
        (status = 400, description = "A field is missing or malformed (`invalid_field`, `invalid_request`, naming the field; without `worker_id` an unknown field too, or a `request` larger than 64 KiB of JSON), an `Idempotency-Key` without `worker_id` (`invalid_request`), or the operator's key named no `tenant_id` (`tenant_required`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks `decisions:write` (`insufficient_scope`), `tenant_id` names another tenant (`forbidden`: omit it or send your own), or the operator's key names another tenant without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "The operator's `tenant_id` names no tenant", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with another request body, or its first request is still being decided", body = ErrorBody),
        (status = 413, description = "The body is larger than the server accepts", body = ErrorBody),
        (status = 503, description = "The receipt could not be committed", body = ErrorBody)))]
pub async fn route(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.get("worker_id").is_some_and(|w| !w.is_null()) {
        let body: DecisionRequest = crate::routes::body::from_object(body)?;
        return decide_body(req, principal, state, body).await;
    }
    principal.require(Scope::DecisionsWrite)?;
    if idempotency::key_from_request(&req)?.is_some() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "Idempotency-Key is accepted only with worker_id: a routed request (no worker_id) \
             is not deduplicated; send it without the header",
        ));
    }
    let caller = principal.caller();
    let command = route_api::command(caller, body, route_api::Dialect::HallServer)?;
    let routed = state.hall.route(caller, command).await?;
    Ok(crate::routes::decision_json(
        HttpResponse::Ok(),
        &route_api::answer(routed),
    ))
}

/// The body of `POST /api/route`: a decision request (with `worker_id`) or
/// a route input (without it).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RouteCallRequest {
    /// The registry id (`wrk_` + 32 hex) or WCP worker id of the worker to
    /// decide about. Absent or null: the Hall routes the capability.
    #[schema(example = "x.myagent.my-agent")]
    pub worker_id: Option<String>,
    /// Required (or as `capability`).
    #[schema(example = "cap.doc.summarize")]
    pub capability_id: Option<String>,
    /// Accepted as a synonym of `capability_id`.
    pub capability: Option<String>,
    #[schema(example = "dev", value_type = EnvName)]
    pub env: String,
    #[schema(example = "PUBLIC", value_type = Option<DataLabelName>)]
    pub data_label: Option<String>,
    /// Omit it or send your own tenant.
    #[schema(example = "org.acme")]
    pub tenant_id: Option<String>,
    /// With `worker_id`: 1–128 printable ASCII characters; without it: a
    /// UUID. Generated when absent.
    pub correlation_id: Option<String>,
    /// Without `worker_id`: required.
    #[schema(value_type = Option<TenantRiskName>)]
    pub tenant_risk: Option<String>,
    /// Without `worker_id`: required.
    #[schema(value_type = Option<QosClassName>)]
    pub qos_class: Option<String>,
    /// Without `worker_id`: the worker's payload, at most 64 KiB of JSON.
    #[schema(value_type = Option<Object>)]
    pub request: Option<serde_json::Value>,
    /// Without `worker_id`: the chain's earlier blast radius.
    #[schema(value_type = Option<Object>)]
    pub blast_radius: Option<serde_json::Value>,
    /// Without `worker_id`: the chain's earlier blast score, 0–100.
    #[schema(minimum = 0, maximum = 100)]
    pub blast_score: Option<u8>,
    /// Without `worker_id`: opaque, at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub privilege_context: Option<serde_json::Value>,
    /// Without `worker_id`: at most 8192 characters.
    pub tenant_credential: Option<String>,
    /// With `worker_id` only: SHA-256 (64 lowercase hex) of your request.
    pub request_hash: Option<String>,
    pub dry_run: Option<bool>,
    /// An approved approval for exactly this request (a UUID).
    pub approval_id: Option<String>,
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
    let filter = DecisionFilter {
        worker_id: q.worker_id,
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
        routed_only: false,
        limit: wcp::PageLimit::parse(q.limit, wcp::PageSize::DECISIONS)?,
    };
    let page = state
        .hall
        .decision_log(&principal.tenant_id, filter)
        .await?;
    Ok(web::Json(DecisionPage {
        decisions: page.items.into_iter().map(view).collect(),
        next_cursor: page.next,
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
        .hall
        .logged_decision(&principal.tenant_id, id)
        .await?
        .ok_or_else(not_found)?;
    Ok(web::Json(view(d)))
}

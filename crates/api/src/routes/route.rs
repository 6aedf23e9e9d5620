//! The WCP router over HTTP: `POST /api/v1/route` (a route input, §4.1 →
//! a route decision, §4.2, with its receipt), `POST /api/route` without
//! `worker_id` (`decisions::route` hands it here) and `GET
//! /api/v1/telemetry/events`. The handlers parse the body into a
//! [`RouteCommand`] (`routing::RouteInput::parse`, which names the field it
//! refuses), call `service::route` once and map its [`RouteError`] here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use registry::decisions::LoggedDecision;
use registry::Scope;
use routing::{CorrelationId, RouteInput};
use serde::Deserialize;
use serde_json::Value;
use service::decide::Decided;
use service::route::{RouteCommand, RouteError, Routed};
use service::Caller;
use utoipa::IntoParams;

pub use api_types::route::{
    QosClassName, RouteAnswer, RouteFields, RouteRequest, TelemetryEvents, TenantRiskName,
};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{decisions, resource, JsonObject};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/route", &["POST"]).route(web::post().to(route)))
        .service(
            resource("/api/v1/telemetry/events", &["GET"]).route(web::get().to(telemetry_events)),
        );
}

/// How the body of the route call is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `POST /api/v1/route`: exactly a route input.
    RouteInput,
    /// `POST /api/route` without `worker_id`: the local Hall server's body
    /// too — `capability` for `capability_id`, a null `worker_id`, and a
    /// correlation id generated when absent.
    HallServer,
}

/// A route body as the use case's command; the first refused field is the answer.
pub fn command(
    caller: Caller<'_>,
    mut body: Value,
    dialect: Dialect,
) -> Result<RouteCommand, ApiError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(crate::routes::body::not_an_object());
    };
    if dialect == Dialect::HallServer {
        obj.remove("worker_id");
        if let Some(c) = obj.remove("capability") {
            obj.entry("capability_id").or_insert(c);
        }
        if obj.get("correlation_id").is_none_or(Value::is_null) {
            obj.insert(
                "correlation_id".into(),
                uuid::Uuid::new_v4().to_string().into(),
            );
        }
    }
    let default_label = obj.get("data_label").is_none_or(Value::is_null);
    // RESTRICTED stands in until the use case reads the tenant's default.
    let input = RouteInput::parse_with_default_label(body, wcp::DataLabel::Restricted)
        .map_err(|e| ApiError::bad_request("invalid_field", e.message))?;
    let tenant = caller.decides_for(input.tenant_id.clone())?;
    Ok(RouteCommand {
        input,
        tenant,
        default_label,
    })
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::Tenant(e) => e.into(),
            e @ RouteError::ReceiptNotCommitted(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
            RouteError::Store(e) => e.into(),
        }
    }
}

/// The answer as sent: [`RouteAnswer`] (which the OpenAPI document
/// describes), with the router's structured fields written straight from
/// its types rather than through JSON values.
#[derive(Debug, serde::Serialize)]
pub struct RouteReply {
    #[serde(flatten)]
    answer: RouteAnswer,
    deny_reason_if_denied: Option<routing::route::DenyReason>,
    escalation_effective: routing::route::EscalationView,
    candidate_workers_ranked: Vec<routing::route::CandidateReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    telemetry_envelopes: Option<routing::telemetry::Envelopes>,
}

/// The answer: every decision answer's fields and the route's.
pub fn answer(routed: Routed) -> RouteReply {
    let Routed {
        decision: d,
        receipt,
        leaf_index,
        supervision,
        artifact_hash,
    } = routed;
    let decided = Decided {
        decision: LoggedDecision {
            receipt,
            deny_reason: d.deny_reason_if_denied.as_ref().map(|r| r.message.clone()),
            leaf_index,
        },
        supervision,
        selected: Some(service::decide::SelectedWorker {
            species: d
                .selected_worker_species_id
                .as_deref()
                .and_then(|s| wcp::SpeciesId::parse(s).ok()),
            artifact_hash,
        }),
        replayed: false,
    };
    let decision = decisions::decision_view(decided);
    // `d` is ours: its fields move into the answer, none is copied.
    let answer = RouteAnswer {
        decision,
        route: RouteFields {
            deny_reason_if_denied: None,
            escalation_effective: None,
            candidate_workers_ranked: None,
            timestamp: Some(d.timestamp),
            matched_rule_id: Some(d.matched_rule_id),
            selected_worker_id: Some(d.selected_worker_id),
            tenant_risk: Some(d.tenant_risk),
            qos_class: Some(d.qos_class),
            blast_score: Some(d.blast_score),
            blast_gate_passed: Some(d.blast_gate_passed),
            privilege_envelope_ok: Some(d.privilege_envelope_ok),
            required_controls_effective: Some(d.required_controls_effective),
            recommended_profiles_effective: Some(d.recommended_profiles_effective),
            telemetry_envelopes: None,
            dry_run: Some(d.dry_run),
            rules_version: Some(d.rules_version),
        },
    };
    RouteReply {
        answer,
        deny_reason_if_denied: d.deny_reason_if_denied,
        escalation_effective: d.escalation_effective,
        candidate_workers_ranked: d.candidate_workers_ranked,
        telemetry_envelopes: d.telemetry_envelopes,
    }
}

/// Route a capability request by your tenant's routing rules
/// (`decisions:write`): the first matching rule's candidate species, each
/// through the governance chain (registration, ban list, attestation, tier
/// policy) among your enrolled workers and those of tenants that list you
/// as a signatory; then required controls, blast radius and the policy
/// gate. A deny is a 200 with `denied: true` (`DENY_NO_MATCHING_RULE` when
/// no rule matches or you have none). Every decision, dry runs included,
/// is one receipt in your chain (`receipt_version` 3, with
/// `matched_rule_id` and `rules_version`), committed before the answer.
#[utoipa::path(post, path = "/api/v1/route", tag = "decisions", request_body = RouteRequest,
    security(("bearer" = [])),
    responses((status = 200, body = RouteAnswer),
        (status = 400, description = "A field is missing, malformed or unknown, or `request` is larger than 64 KiB of JSON (`invalid_field`, `invalid_request`, naming the field), or the operator's key named no `tenant_id` (`tenant_required`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks `decisions:write` (`insufficient_scope`), `tenant_id` names another tenant (`forbidden`: omit it or send your own), or the operator's key names another tenant without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, description = "The operator's `tenant_id` names no tenant", body = ErrorBody),
        (status = 413, description = "The body is larger than the server accepts", body = ErrorBody),
        (status = 503, description = "The receipt could not be committed", body = ErrorBody)))]
pub async fn route(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DecisionsWrite)?;
    let caller = principal.caller();
    let command = command(caller, body.into_inner(), Dialect::RouteInput)?;
    let routed = state.hall.route(caller, command).await?;
    Ok(crate::routes::decision_json(
        HttpResponse::Ok(),
        &answer(routed),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The correlation id of the route decisions (a UUID).
    pub correlation_id: String,
    /// 1–500 (default 100).
    pub limit: Option<i64>,
}

/// The telemetry envelopes (§5.4) of your route decisions with one
/// correlation id, oldest first (`read`).
#[utoipa::path(get, path = "/api/v1/telemetry/events", tag = "decisions", params(EventsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = TelemetryEvents),
        (status = 400, description = "`correlation_id` is missing or not a UUID, or `limit` is out of range (`invalid_query`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key lacks `read` (`insufficient_scope`)", body = ErrorBody)))]
pub async fn telemetry_events(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<EventsQuery>,
) -> Result<web::Json<TelemetryEvents>, ApiError> {
    principal.require(Scope::Read)?;
    let q = query.into_inner();
    let correlation = CorrelationId::parse(&q.correlation_id)
        .map_err(|e| ApiError::bad_request("invalid_query", e.message))?;
    let limit = wcp::PageLimit::parse(q.limit, wcp::PageSize::ROUTE_EVENTS)?;
    let events = state
        .hall
        .route_events(&principal.tenant_id, &correlation, limit)
        .await?;
    Ok(web::Json(TelemetryEvents {
        events: events.into_iter().map(|e| e.envelope).collect(),
    }))
}

//! The tenant's routing rules, their versions and golden snapshots (all
//! `admin`). The use cases are `service::routing_rules`.
//!
//! `PUT /api/v1/routing/rules` takes the PyHall rules document itself as the
//! body, so `curl -T rules.json` works. These routes read bodies up to
//! [`RULES_MAX_BODY_BYTES`] (a 500-rule document or 1000 snapshot cases do
//! not fit the default limit); a compressed body is still inflated only up
//! to `HALL_MAX_BODY_BYTES`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use api_types::routing::{
    ActiveRulesView, RulesActivated, RulesTestReport, RulesTestRequest, RulesVersionList,
    RulesVersionSummary, RulesVersionView, SnapshotDifference, Snapshots, SnapshotsFailedBody,
    SnapshotsFailedDetail,
};
use registry::routing_rules::RulesVersionInfo;
use registry::Scope;
use routing::RulesVersion;
use serde::Deserialize;
use service::routing_rules::{Activated, PutRules};
use service::RulesError;
use utoipa::IntoParams;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{resource, text_field, JsonBody, JsonObject};
use crate::state::AppState;

/// The largest body the rules and snapshot routes read.
pub const RULES_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = || {
        web::JsonConfig::default()
            .limit(RULES_MAX_BODY_BYTES)
            .error_handler(crate::error::json_error)
    };
    cfg.service(
        resource("/api/v1/routing/rules", &["GET", "PUT"])
            .app_data(json())
            .route(web::get().to(get_rules))
            .route(web::put().to(put_rules)),
    )
    .service(
        resource("/api/v1/routing/rules/versions", &["GET"]).route(web::get().to(list_versions)),
    )
    .service(
        resource("/api/v1/routing/rules/versions/{version}", &["GET"])
            .route(web::get().to(get_version)),
    )
    .service(
        resource(
            "/api/v1/routing/rules/versions/{version}/activate",
            &["POST"],
        )
        .route(web::post().to(activate_version)),
    )
    .service(
        resource("/api/v1/routing/rules/test", &["POST"])
            .app_data(json())
            .route(web::post().to(test_rules)),
    )
    .service(
        resource("/api/v1/routing/snapshots", &["GET", "PUT"])
            .app_data(json())
            .route(web::get().to(get_snapshots))
            .route(web::put().to(put_snapshots)),
    );
}

/// Longest comment on a version.
pub const MAX_COMMENT_LEN: usize = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PutRulesQuery {
    /// Make the new version the one in force (default `true`); `false`
    /// stores it for a later `…/activate`.
    pub activate: Option<bool>,
    /// Store and activate it even when the tenant's stored snapshots fail on
    /// it (default `false`): for a deliberate change of behaviour, before
    /// the snapshots are updated to match. The snapshots are not run at all
    /// when the version is stored without activation.
    pub skip_snapshots: Option<bool>,
    /// A note kept with the version (at most 500 characters).
    pub comment: Option<String>,
}

fn difference(d: routing::snapshot::Difference) -> SnapshotDifference {
    SnapshotDifference {
        case: d.case,
        field: d.field.to_string(),
        expected: d.expected,
        actual: d.actual,
    }
}

/// The one mapping of this resource's refusals.
fn refused(e: RulesError) -> Result<HttpResponse, ApiError> {
    let unprocessable =
        |code, msg: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, msg);
    Err(match e {
        RulesError::InvalidRules(e) => unprocessable("invalid_rules", e.to_string()),
        RulesError::InvalidCases(e) => unprocessable("invalid_snapshots", e.to_string()),
        RulesError::SnapshotsFailed(diffs) => {
            let message = format!(
                "{} difference(s) between the stored snapshots and this rule set, so it was not \
                 stored; fix the rules, update the snapshots, or send skip_snapshots=true",
                diffs.len()
            );
            return Ok(
                HttpResponse::UnprocessableEntity().json(SnapshotsFailedBody {
                    error: SnapshotsFailedDetail {
                        code: "snapshots_failed".into(),
                        message,
                        differences: diffs.into_iter().map(difference).collect(),
                    },
                }),
            );
        }
        RulesError::NoRules => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_rules",
            "this tenant has no routing rules in force (PUT /api/v1/routing/rules stores some)",
        ),
        RulesError::NoSuchVersion(v) => {
            ApiError::not_found(format!("routing rules version {v} not found"))
        }
        RulesError::Store(e) => e.into(),
    })
}

fn summary(i: RulesVersionInfo) -> RulesVersionSummary {
    RulesVersionSummary {
        version: i.version.get(),
        sha256: i.sha256,
        rule_count: i.rule_count,
        created_at: i.created_at,
        created_by: i.created_by,
        comment: i.comment,
        active: i.active,
    }
}

fn version_in_path(raw: &str) -> Result<RulesVersion, ApiError> {
    RulesVersion::parse(raw).map_err(|e| ApiError::bad_request("invalid_path", e.to_string()))
}

/// The rules in force (`admin`).
#[utoipa::path(get, path = "/api/v1/routing/rules", tag = "routing", security(("bearer" = [])),
    responses((status = 200, body = ActiveRulesView),
        (status = 404, description = "`no_rules`: the tenant has no rules in force", body = ErrorBody)))]
pub async fn get_rules(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    match state.hall.active_rules_document(&principal.tenant_id).await {
        Ok(a) => Ok(HttpResponse::Ok().json(ActiveRulesView {
            version: a.version.get(),
            sha256: a.sha256,
            activated_at: a.activated_at,
            rules: a.document,
        })),
        Err(e) => refused(e),
    }
}

/// Store a rules document as the next version (`admin`); it goes into force
/// unless `activate=false`. The body is the PyHall rules document itself.
#[utoipa::path(put, path = "/api/v1/routing/rules", tag = "routing", params(PutRulesQuery),
    request_body(content = Object, description = "A PyHall rules document: `{\"rules\": [...]}` (see docs/routing.md)"),
    security(("bearer" = [])),
    responses((status = 201, description = "The version stored", body = RulesVersionSummary),
        (status = 422, description = "`invalid_rules`: the document was refused (the message names the place, e.g. `rules[3].match.env`, and for an unreachable rule the rule that shadows it); or `snapshots_failed`: the stored snapshots fail on it (the body lists the differences). Nothing is written.", body = SnapshotsFailedBody)))]
pub async fn put_rules(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<PutRulesQuery>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let query = query.into_inner();
    let comment = query
        .comment
        .as_deref()
        .map(|c| text_field("comment", c, MAX_COMMENT_LEN))
        .transpose()?;
    let command = PutRules {
        tenant: principal.tenant_id.clone(),
        document: body.into_inner(),
        activate: query.activate.unwrap_or(true),
        skip_snapshots: query.skip_snapshots.unwrap_or(false),
        comment,
        by: principal.key_id,
    };
    match state.hall.put_rules(command).await {
        Ok(info) => Ok(HttpResponse::Created().json(summary(info))),
        Err(e) => refused(e),
    }
}

/// The tenant's rule versions, newest first (`admin`).
#[utoipa::path(get, path = "/api/v1/routing/rules/versions", tag = "routing",
    security(("bearer" = [])), responses((status = 200, body = RulesVersionList)))]
pub async fn list_versions(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    match state.hall.rules_versions(&principal.tenant_id).await {
        Ok(list) => Ok(HttpResponse::Ok().json(RulesVersionList {
            versions: list.into_iter().map(summary).collect(),
        })),
        Err(e) => refused(e),
    }
}

/// One version with its document (`admin`).
#[utoipa::path(get, path = "/api/v1/routing/rules/versions/{version}", tag = "routing",
    params(("version" = u32, Path, description = "The version number (1, 2, 3 …)")),
    security(("bearer" = [])),
    responses((status = 200, body = RulesVersionView),
        (status = 400, description = "The version is not a whole number from 1", body = ErrorBody),
        (status = 404, description = "The tenant has no such version", body = ErrorBody)))]
pub async fn get_version(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let version = version_in_path(&path)?;
    match state
        .hall
        .rules_version(&principal.tenant_id, version)
        .await
    {
        Ok(d) => {
            let s = summary(d.info);
            Ok(HttpResponse::Ok().json(RulesVersionView {
                version: s.version,
                sha256: s.sha256,
                rule_count: s.rule_count,
                created_at: s.created_at,
                created_by: s.created_by,
                comment: s.comment,
                active: s.active,
                rules: d.document,
            }))
        }
        Err(e) => refused(e),
    }
}

/// Put a stored version into force: roll back or forward (`admin`). The
/// version already in force answers 200 with `changed: false`.
#[utoipa::path(post, path = "/api/v1/routing/rules/versions/{version}/activate", tag = "routing",
    params(("version" = u32, Path, description = "The version number (1, 2, 3 …)")),
    security(("bearer" = [])),
    responses((status = 200, body = RulesActivated),
        (status = 400, description = "The version is not a whole number from 1", body = ErrorBody),
        (status = 404, description = "The tenant has no such version", body = ErrorBody)))]
pub async fn activate_version(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let version = version_in_path(&path)?;
    match state
        .hall
        .activate_rules(&principal.tenant_id, version, principal.key_id)
        .await
    {
        Ok(done) => Ok(HttpResponse::Ok().json(RulesActivated {
            version: version.get(),
            changed: done == Activated::Now,
        })),
        Err(e) => refused(e),
    }
}

/// Run snapshot cases against a rule set, writing nothing (`admin`):
/// `rules` absent runs the set in force, `cases` absent the stored snapshots.
#[utoipa::path(post, path = "/api/v1/routing/rules/test", tag = "routing",
    request_body = RulesTestRequest, security(("bearer" = [])),
    responses((status = 200, description = "The run; `passed` is false when there are differences", body = RulesTestReport),
        (status = 404, description = "`no_rules`: no `rules` given and none in force", body = ErrorBody),
        (status = 422, description = "`invalid_rules` or `invalid_snapshots`: the message names the place", body = ErrorBody)))]
pub async fn test_rules(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<RulesTestRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let body = body.into_inner();
    match state
        .hall
        .test_rules(
            &principal.tenant_id,
            body.rules,
            body.cases.map(serde_json::Value::Array),
        )
        .await
    {
        Ok(report) => Ok(HttpResponse::Ok().json(RulesTestReport {
            passed: report.passed(),
            cases: report.cases,
            differences: report.differences.into_iter().map(difference).collect(),
        })),
        Err(e) => refused(e),
    }
}

/// The tenant's golden snapshot cases (`admin`); an empty list when none.
#[utoipa::path(get, path = "/api/v1/routing/snapshots", tag = "routing",
    security(("bearer" = [])), responses((status = 200, body = Snapshots)))]
pub async fn get_snapshots(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    match state.hall.routing_snapshots(&principal.tenant_id).await {
        Ok(stored) => Ok(HttpResponse::Ok().json(snapshots_view(stored))),
        Err(e) => refused(e),
    }
}

fn snapshots_view(stored: Option<registry::routing_rules::StoredSnapshots>) -> Snapshots {
    match stored {
        None => Snapshots {
            cases: Vec::new(),
            updated_at: None,
        },
        Some(s) => Snapshots {
            cases: s.cases.as_array().cloned().unwrap_or_default(),
            updated_at: Some(s.updated_at),
        },
    }
}

/// Replace the tenant's golden snapshot cases (`admin`): every case's input
/// and expectation checked, names unique, at most 1000. `PUT
/// /api/v1/routing/rules` then runs them before a new version goes into force.
#[utoipa::path(put, path = "/api/v1/routing/snapshots", tag = "routing",
    request_body = Snapshots, security(("bearer" = [])),
    responses((status = 200, body = Snapshots),
        (status = 422, description = "`invalid_snapshots`: the message names the case and field, e.g. `cases[2].input: env …`", body = ErrorBody)))]
pub async fn put_snapshots(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<Snapshots>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let cases = serde_json::Value::Array(body.into_inner().cases);
    match state
        .hall
        .put_routing_snapshots(&principal.tenant_id, cases, principal.key_id)
        .await
    {
        Ok(stored) => Ok(HttpResponse::Ok().json(snapshots_view(Some(stored)))),
        Err(e) => refused(e),
    }
}

//! The ban list: the contract's public list and report endpoint, and the
//! operator's review (confirm, reject, lift). The handlers parse the request,
//! call the ban-list use case once (`service::bans`, which also refreshes the
//! ban cache after a change) and map its errors here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use policy::ban_review::ReportStatus;
use registry::bans::ReportFilter;
use registry::bans::{Ban, BanReport};
use serde::Deserialize;
use service::bans::{LiftError, PackageHash, ReportCommand, ReportError, ReviewError};
use utoipa::IntoParams;

pub use api_types::banlist::{
    BanEntry, BanHistory, BanRecord, ConfirmedBan, ReportHash, ReportList, ReportView, ReviewNote,
};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{optional_json, resource, text_field, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/ban-list", &["GET"]).route(web::get().to(ban_list)))
        .service(resource("/api/v1/ban-list/report", &["POST"]).route(web::post().to(report)))
        .service(resource("/api/v1/ban-list/reports", &["GET"]).route(web::get().to(reports)))
        .service(
            resource("/api/v1/ban-list/reports/{report_id}/confirm", &["POST"])
                .route(web::post().to(confirm)),
        )
        .service(
            resource("/api/v1/ban-list/reports/{report_id}/reject", &["POST"])
                .route(web::post().to(reject)),
        )
        .service(
            resource("/api/v1/ban-list/{sha256}", &["GET", "DELETE"])
                .route(web::get().to(history))
                .route(web::delete().to(lift)),
        );
}

/// A confirmed ban as the ban list shows it.
fn entry_view(b: Ban) -> BanEntry {
    BanEntry {
        sha256: b.sha256,
        reason: b.reason,
        reported_at: b.reported_at,
        source: b.source,
        review_status: "approved".into(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BanListQuery {
    /// At most this many entries, newest first (default 500, at most 5000).
    pub limit: Option<i64>,
}

/// The confirmed ban list (public): a bare JSON array, newest first.
#[utoipa::path(get, path = "/api/v1/ban-list", tag = "contract", params(BanListQuery),
    responses((status = 200, body = Vec<BanEntry>), (status = 400, body = ErrorBody)))]
pub async fn ban_list(
    state: web::Data<AppState>,
    query: web::Query<BanListQuery>,
) -> Result<web::Json<Vec<BanEntry>>, ApiError> {
    let limit = wcp::PageLimit::parse(query.limit, wcp::PageSize::BANS)?;
    let bans = state.hall.live_bans(limit).await?;
    Ok(web::Json(bans.into_iter().map(entry_view).collect()))
}

/// A report as the API shows it.
fn report_view(r: BanReport) -> ReportView {
    ReportView {
        id: r.id,
        sha256: r.sha256,
        reason: r.reason,
        evidence_url: r.evidence_url,
        source: r.source,
        reporter_tenant: r.reporter_tenant.map(|t| t.to_string()),
        status: r.status.as_str().into(),
        reviewed_at: r.reviewed_at,
        review_note: r.review_note,
        created_at: r.created_at,
    }
}

fn sha256(raw: &str) -> Result<PackageHash, ApiError> {
    PackageHash::parse(raw).map_err(|e| ApiError::bad_request("invalid_sha256", e.to_string()))
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound(_) => ApiError::not_found(e.to_string()),
            ReviewError::AlreadyReviewed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            ReviewError::Store(e) => e.into(),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::QuotaExceeded { .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                e.to_string(),
            ),
            ReportError::Store(e) => e.into(),
        }
    }
}

impl From<LiftError> for ApiError {
    fn from(e: LiftError) -> Self {
        match e {
            LiftError::NoLiveBan(_) => ApiError::not_found(e.to_string()),
            LiftError::Store(e) => e.into(),
        }
    }
}

/// Report a hash (any valid credential). It is stored unconfirmed and joins
/// the ban list only when the operator confirms it. A tenant files at most
/// `HALL_BAN_REPORTS_PER_DAY` reports a day (UTC, default 100); the
/// operator's own reports are not counted.
#[utoipa::path(post, path = "/api/v1/ban-list/report", tag = "contract", request_body = ReportHash,
    security(("bearer" = []), ("session_cookie" = [])),
    responses((status = 201, body = ReportView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 429, description = "The tenant filed its daily quota of reports (`quota_exceeded`)", body = ErrorBody)))]
pub async fn report(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<ReportHash>,
) -> Result<HttpResponse, ApiError> {
    let sha256 = sha256(&body.sha256)?;
    let reason = text_field("reason", &body.reason, 1000)?;
    let evidence = match body
        .evidence_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(u)
            if (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 2048
                && !u.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Some(u.to_string())
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "evidence_url must be an http(s) URL of at most 2048 characters",
            ))
        }
    };
    let caller = principal.caller();
    let command = ReportCommand {
        sha256,
        reason,
        evidence_url: evidence,
    };
    let report = state.hall.report_hash(caller, command).await?;
    Ok(HttpResponse::Created().json(report_view(report)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportsQuery {
    /// `pending`, `confirmed` or `rejected` (default: all).
    pub status: Option<String>,
    /// Only reports of this package hash (64 hex characters).
    pub sha256: Option<String>,
    /// Only reports filed by this tenant.
    pub reporter_tenant: Option<String>,
    /// At most this many reports (default 500, at most 5000).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// Reports awaiting (or past) review, oldest first, a page at a time,
/// filtered by status, hash and reporting tenant (operator only).
#[utoipa::path(get, path = "/api/v1/ban-list/reports", tag = "ban-list", params(ReportsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ReportList),
        (status = 400, description = "A filter or the cursor is malformed (`invalid_query`)", body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn reports(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<ReportsQuery>,
) -> Result<web::Json<ReportList>, ApiError> {
    principal.require_operator()?;
    let q = query.into_inner();
    let status = q
        .status
        .as_deref()
        .map(|s| {
            ReportStatus::from_name(s).ok_or_else(|| {
                invalid_query(format!(
                    "status {s:?} is not one of pending, confirmed or rejected"
                ))
            })
        })
        .transpose()?;
    let sha256 = q
        .sha256
        .as_deref()
        .map(|h| {
            PackageHash::parse(h)
                .map_err(|e| invalid_query(e.to_string()))
                .map(|h| h.to_string())
        })
        .transpose()?;
    let reporter = q
        .reporter_tenant
        .as_deref()
        .map(|t| {
            wcp::TenantId::parse(t).map_err(|e| invalid_query(format!("reporter_tenant: {e}")))
        })
        .transpose()?;
    let after = q
        .cursor
        .map(|c| {
            let id = c.strip_prefix("rpt_").unwrap_or("");
            if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(c)
            } else {
                Err(invalid_query(
                    "cursor must be the next_cursor of an earlier page",
                ))
            }
        })
        .transpose()?;
    let filter = ReportFilter {
        status,
        sha256,
        reporter,
        after,
        limit: wcp::PageLimit::clamped(q.limit, wcp::PageSize::BANS),
    };
    let page = state.hall.ban_reports(&filter).await?;
    Ok(web::Json(ReportList {
        reports: page.items.into_iter().map(report_view).collect(),
        next_cursor: page.next,
    }))
}

fn note_of(req: &actix_web::HttpRequest, body: &[u8]) -> Result<Option<String>, ApiError> {
    let note: ReviewNote = optional_json(req, body)?.unwrap_or_default();
    note.note
        .as_deref()
        .map(|n| text_field("note", n, 1000))
        .transpose()
}

/// Confirm a pending report (operator only): its hash is banned at once,
/// in every process within a second.
#[utoipa::path(post, path = "/api/v1/ban-list/reports/{report_id}/confirm", tag = "ban-list",
    params(("report_id" = String, Path)), request_body(content = Option<ReviewNote>),
    security(("bearer" = [])),
    responses((status = 200, body = ConfirmedBan), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Already reviewed", body = ErrorBody)))]
pub async fn confirm(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> Result<web::Json<ConfirmedBan>, ApiError> {
    principal.require_operator()?;
    let note = note_of(&req, &body)?;
    let (report, ban) = state.hall.confirm_report(&path, note).await?;
    Ok(web::Json(ConfirmedBan {
        report: report_view(report),
        ban: entry_view(ban),
    }))
}

/// Reject a pending report (operator only).
#[utoipa::path(post, path = "/api/v1/ban-list/reports/{report_id}/reject", tag = "ban-list",
    params(("report_id" = String, Path)), request_body(content = Option<ReviewNote>),
    security(("bearer" = [])),
    responses((status = 200, body = ReportView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> Result<web::Json<ReportView>, ApiError> {
    principal.require_operator()?;
    let note = note_of(&req, &body)?;
    Ok(web::Json(report_view(
        state.hall.reject_report(&path, note).await?,
    )))
}

/// A ban, live or lifted, as a hash's history shows it.
fn record_view(b: Ban) -> BanRecord {
    BanRecord {
        sha256: b.sha256,
        reason: b.reason,
        source: b.source,
        report_id: b.report_id,
        reported_at: b.reported_at,
        confirmed_at: b.confirmed_at,
        lifted_at: b.lifted_at,
        lift_reason: b.lift_reason,
    }
}

/// Every ban of a hash, live and lifted (public).
#[utoipa::path(get, path = "/api/v1/ban-list/{sha256}", tag = "ban-list",
    params(("sha256" = String, Path)),
    responses((status = 200, body = BanHistory), (status = 400, body = ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<BanHistory>, ApiError> {
    let sha256 = sha256(&path)?;
    let history = state.hall.ban_history(&sha256).await?;
    Ok(web::Json(BanHistory {
        banned: history.banned,
        sha256: sha256.to_string(),
        history: history.bans.into_iter().map(record_view).collect(),
    }))
}

/// Lift the live ban on a hash (operator only). The ban stays in its history.
#[utoipa::path(delete, path = "/api/v1/ban-list/{sha256}", tag = "ban-list",
    params(("sha256" = String, Path)), request_body(content = Option<ReviewNote>),
    security(("bearer" = [])),
    responses((status = 200, body = BanRecord), (status = 403, body = ErrorBody),
        (status = 404, description = "No live ban", body = ErrorBody)))]
pub async fn lift(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> Result<web::Json<BanRecord>, ApiError> {
    principal.require_operator()?;
    let sha256 = sha256(&path)?;
    let note = note_of(&req, &body)?;
    Ok(web::Json(record_view(
        state.hall.lift_ban(&sha256, note).await?,
    )))
}

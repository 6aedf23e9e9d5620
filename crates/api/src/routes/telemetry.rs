//! `POST /api/v1/telemetry/decisions` (contract: the SDKs report how often
//! they ran each worker, fire-and-forget) and the tenant's daily totals.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use registry::Scope;
use serde::{Deserialize, Serialize};
use service::telemetry::UsageError;
use utoipa::{IntoParams, ToSchema};
use wcp::telemetry::UsageReport;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{resource, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/telemetry/decisions", &["GET", "POST"])
            .route(web::get().to(daily_counts))
            .route(web::post().to(report)),
    );
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TelemetryEntry {
    /// A worker species id (what the SDKs send) or a WCP worker id.
    #[schema(example = "wrk.doc.summarizer")]
    pub worker_id: String,
    #[schema(example = 12, minimum = 1, maximum = 1000000)]
    pub count: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TelemetryReport {
    /// 1 to 1000 entries.
    pub decisions: Vec<TelemetryEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TelemetryAccepted {
    /// Entries added to today's totals.
    pub accepted: usize,
}

/// Report usage counts (`decisions:write`, the key the SDKs decide with).
/// Added to the tenant's totals for today (UTC); 202 once stored. One
/// tenant's totals hold at most `HALL_TELEMETRY_IDS_PER_DAY` different ids a
/// day (default 10 000): a report that would add more is refused whole (429)
/// while ids already reported today keep counting.
#[utoipa::path(post, path = "/api/v1/telemetry/decisions", tag = "contract",
    request_body = TelemetryReport, security(("bearer" = [])),
    responses((status = 202, body = TelemetryAccepted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks `decisions:write` (`insufficient_scope`)", body = ErrorBody),
        (status = 429, description = "The report would take today's totals above the tenant's quota of different ids (`quota_exceeded`)", body = ErrorBody)))]
pub async fn report(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<TelemetryReport>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DecisionsWrite)?;
    let entries = body.into_inner().decisions;
    let report = UsageReport::parse(
        entries
            .into_iter()
            .map(|e| (e.worker_id, e.count))
            .collect(),
    )
    .map_err(|e| ApiError::bad_request("invalid_field", e.to_string()))?;
    let accepted = state
        .hall
        .report_usage(&principal.tenant_id, &report)
        .await?;
    Ok(HttpResponse::Accepted().json(TelemetryAccepted { accepted }))
}

impl From<UsageError> for ApiError {
    fn from(e: UsageError) -> Self {
        match e {
            UsageError::QuotaExceeded { .. } => ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                e.to_string(),
            ),
            UsageError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountsQuery {
    /// `YYYY-MM-DD` (UTC); default 30 days ago.
    pub since: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyCountView {
    pub worker_id: String,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailyCounts {
    pub telemetry: Vec<DailyCountView>,
}

/// Your tenant's reported daily totals, newest day first (`read`).
#[utoipa::path(get, path = "/api/v1/telemetry/decisions", tag = "contract", params(CountsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DailyCounts), (status = 400, body = ErrorBody)))]
pub async fn daily_counts(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<CountsQuery>,
) -> Result<web::Json<DailyCounts>, ApiError> {
    principal.require(Scope::Read)?;
    let since = query
        .since
        .as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("since {s:?} is not a date such as 2030-01-31 (YYYY-MM-DD)"),
                )
            })
        })
        .transpose()?;
    let rows = state.hall.daily_counts(&principal.tenant_id, since).await?;
    Ok(web::Json(DailyCounts {
        telemetry: rows
            .into_iter()
            .map(|r| DailyCountView {
                worker_id: r.worker_id,
                day: r.day.to_string(),
                count: r.count,
            })
            .collect(),
    }))
}

//! `POST /api/v1/telemetry/decisions` (contract: the SDKs report how often
//! they ran each worker, fire-and-forget) and the tenant's daily totals.

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, Utc};
use registry::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wcp::{SpeciesId, WorkerId};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{resource, JsonBody};
use crate::state::AppState;

/// Most entries one report may carry.
const MAX_ENTRIES: usize = 1000;
/// Largest count one entry may report.
const MAX_COUNT: i64 = 1_000_000;

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

/// Report usage counts (any valid credential). Added to the tenant's totals
/// for today (UTC); 202 once stored.
#[utoipa::path(post, path = "/api/v1/telemetry/decisions", tag = "contract",
    request_body = TelemetryReport, security(("bearer" = [])),
    responses((status = 202, body = TelemetryAccepted), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn report(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<TelemetryReport>,
) -> Result<HttpResponse, ApiError> {
    let entries = &body.decisions;
    if entries.is_empty() || entries.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("decisions must have 1 to {MAX_ENTRIES} entries"),
        ));
    }
    let mut counts = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if SpeciesId::parse(&e.worker_id).is_err() && WorkerId::parse(&e.worker_id).is_err() {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!(
                    "decisions[{i}].worker_id {:?} is neither a worker species id (`wrk.…`) nor a WCP worker id (`<namespace>.<name>`)",
                    e.worker_id
                ),
            ));
        }
        if !(1..=MAX_COUNT).contains(&e.count) {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!("decisions[{i}].count must be an integer from 1 to {MAX_COUNT}"),
            ));
        }
        counts.push((e.worker_id.clone(), e.count));
    }
    state
        .store
        .tenant(&principal.tenant_id)
        .add_decision_counts(&counts)
        .await?;
    Ok(HttpResponse::Accepted().json(TelemetryAccepted {
        accepted: counts.len(),
    }))
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
    let since = match query.since.as_deref() {
        None => Utc::now().date_naive() - chrono::Duration::days(30),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("since {s:?} is not a date such as 2030-01-31 (YYYY-MM-DD)"),
            )
        })?,
    };
    let rows = state
        .store
        .tenant(&principal.tenant_id)
        .decision_counts(since)
        .await?;
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

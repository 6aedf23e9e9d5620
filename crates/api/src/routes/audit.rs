//! What auditors read: the receipt export (`GET /api/v1/audit/receipts`, a
//! tenant's receipts in chain order) and the verifiable log over it
//! (docs/audit.md) — signed checkpoints of the tenant's receipt tree and
//! RFC 9162 inclusion and consistency proofs, and the witnesses that
//! cosign the checkpoints.

use actix_web::{web, HttpResponse};
use registry::Scope;
use serde::Deserialize;
use utoipa::IntoParams;

pub use api_types::audit::{
    CheckpointList, CheckpointView, ConsistencyProofView, CosignCheckpoint, CosignatureView,
    InclusionProofView, ReceiptExport, RegisterWitness, WitnessList, WitnessView,
};
use audit::cosignature::WitnessKey;
use registry::checkpoints::StoredCheckpoint;
use service::transparency::{ProofError, Witnessed};
use service::witnesses::{CosignError, Registered, Witness, WitnessError};

use crate::routes::body::JsonBody;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::resource;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/audit/receipts", &["GET"]).route(web::get().to(export_receipts)))
        .service(
            resource("/api/v1/audit/checkpoint", &["GET"]).route(web::get().to(latest_checkpoint)),
        )
        .service(resource("/api/v1/audit/checkpoints", &["GET"]).route(web::get().to(checkpoints)))
        .service(
            resource("/api/v1/audit/proof/inclusion", &["GET"])
                .route(web::get().to(inclusion_proof)),
        )
        .service(
            resource("/api/v1/audit/proof/consistency", &["GET"])
                .route(web::get().to(consistency_proof)),
        )
        .service(
            resource("/api/v1/audit/checkpoint/cosign", &["POST"])
                .route(web::post().to(cosign_checkpoint)),
        )
        .service(
            resource("/api/v1/audit/witnesses", &["GET", "POST", "DELETE"])
                .route(web::get().to(witnesses))
                .route(web::post().to(register_witness))
                .route(web::delete().to(remove_witness)),
        );
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Continue after this chain position (default 0: from the start).
    pub after: Option<i64>,
    /// 1–5000 (default 1000).
    pub limit: Option<i64>,
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
    let limit = wcp::PageLimit::parse(query.limit, wcp::PageSize::RECEIPT_EXPORT)?;
    let page = state
        .hall
        .export_receipts(&principal.tenant_id, query.after.unwrap_or(0), limit)
        .await?;
    Ok(HttpResponse::Ok().json(ReceiptExport {
        receipts: page.items,
        next_after: page.next,
    }))
}

impl From<ProofError> for ApiError {
    fn from(e: ProofError) -> Self {
        match e {
            e @ ProofError::UnknownReceipt(_) => ApiError::not_found(e.to_string()),
            e @ (ProofError::BeyondTree { .. } | ProofError::NotYetIncluded { .. }) => {
                ApiError::bad_request("invalid_tree_size", e.to_string())
            }
            e @ ProofError::BadSizes { .. } => {
                ApiError::bad_request("invalid_tree_size", e.to_string())
            }
            e @ ProofError::NotYetCheckpointed { .. } => ApiError::new(
                actix_web::http::StatusCode::CONFLICT,
                "not_yet_checkpointed",
                e.to_string(),
            ),
            ProofError::Store(e) => e.into(),
        }
    }
}

/// A tree size or position parameter: 1 or more.
fn positive(name: &str, v: Option<i64>) -> Result<Option<u64>, ApiError> {
    v.map(|n| {
        u64::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            ApiError::bad_request("invalid_query", format!("{name} must be 1 or more"))
        })
    })
    .transpose()
}

fn hex(h: &[u8]) -> String {
    wcp::canonical::hex(h)
}

/// The note as served: as issued, with a signature line per cosignature.
fn cosigned_note(c: &StoredCheckpoint) -> String {
    let mut note = c.note.clone();
    for s in &c.cosignatures {
        note.push_str(&s.line);
        note.push('\n');
    }
    note
}

fn checkpoint_view(c: StoredCheckpoint) -> CheckpointView {
    CheckpointView {
        checkpoint: cosigned_note(&c),
        // As signed (the setting may have changed since).
        origin: c.note.lines().next().unwrap_or_default().to_string(),
        tree_size: c.tree_size,
        root: hex(&c.root),
        key_id: c.key_id,
        created_at: c.created_at,
        cosignatures: c
            .cosignatures
            .into_iter()
            .map(|s| CosignatureView {
                witness: s.witness,
                key_id: hex(&s.key_id),
                timestamp: s.signed_at,
                line: s.line,
            })
            .collect(),
    }
}

/// Whether the request asks for JSON rather than the note as text.
fn wants_json(req: &actix_web::HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LatestCheckpointQuery {
    /// `true`: the latest checkpoint one of your trusted witnesses
    /// cosigned (what an auditor who requires a witness asks for).
    pub witnessed: Option<bool>,
    /// The latest checkpoint this trusted witness (its name) cosigned.
    #[param(max_length = 200)]
    pub witness: Option<String>,
}

/// Your tenant's latest signed checkpoint (`read`): the signed note as
/// `text/plain` (C2SP tlog-checkpoint: origin `<log origin>/<tenant id>`,
/// tree size, base64 tree head; one Ed25519 signature line under the log's
/// key name, then the witnesses' cosignature lines), or with
/// `Accept: application/json` the note and its fields. A new one is issued
/// about every `HALL_CHECKPOINT_INTERVAL` while receipts arrive, never for
/// receipts not committed.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "decisions",
    params(LatestCheckpointQuery), security(("bearer" = [])),
    responses((status = 200, description = "The signed note as text/plain, or the note and its fields with Accept: application/json",
            content((String = "text/plain"), (CheckpointView = "application/json"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No checkpoint yet (`not_found`): no receipt, or the first one is less than an interval old; with `witnessed=true`, none cosigned by a trusted witness yet; with `witness`, none cosigned by it, or it is not one of your witnesses", body = ErrorBody)))]
pub async fn latest_checkpoint(
    principal: Principal,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    query: web::Query<LatestCheckpointQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    let tenant = &principal.tenant_id;
    if query
        .witness
        .as_ref()
        .is_some_and(|w| w.chars().count() > 200)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "witness must be at most 200 characters",
        ));
    }
    let which = match (&query.witness, query.witnessed.unwrap_or(false)) {
        (Some(name), _) => Witnessed::By(name),
        (None, true) => Witnessed::ByOneOf,
        (None, false) => Witnessed::Any,
    };
    let Some(c) = state.hall.latest_checkpoint(tenant, which).await? else {
        return Err(ApiError::not_found(match which {
            Witnessed::By(name) => format!(
                "no checkpoint cosigned by {name:?}: none yet, or it is none of your witnesses (GET /api/v1/audit/witnesses)"
            ),
            Witnessed::ByOneOf => "no witness has cosigned one of your checkpoints yet (POST /api/v1/audit/checkpoint/cosign)".to_string(),
            Witnessed::Any => "no checkpoint yet: your tree has no receipt, or its first checkpoint is being issued".to_string(),
        }));
    };
    if wants_json(&req) {
        return Ok(HttpResponse::Ok().json(checkpoint_view(c)));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(cosigned_note(&c)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckpointsQuery {
    /// Only the checkpoint of exactly this tree size.
    #[param(minimum = 1)]
    pub size: Option<i64>,
    /// Only checkpoints of smaller trees (to page back).
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// 1–500 (default 100).
    pub limit: Option<i64>,
}

/// Your tenant's checkpoints, largest tree first (`read`).
#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "decisions", params(CheckpointsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = CheckpointList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn checkpoints(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<CheckpointsQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    let limit = wcp::PageLimit::parse(query.limit, wcp::PageSize::CHECKPOINTS)?;
    let tenant = &principal.tenant_id;
    let list = state
        .hall
        .checkpoints(
            tenant,
            positive("size", query.size)?,
            positive("before", query.before)?,
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(CheckpointList {
        checkpoints: list.into_iter().map(checkpoint_view).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// One of your receipts.
    pub receipt_id: uuid::Uuid,
    /// The tree the proof is for (default: the latest checkpoint's).
    #[param(minimum = 1)]
    pub tree_size: Option<i64>,
}

/// The inclusion proof of one of your receipts (`read`; RFC 9162 §2.1.3):
/// check it against a checkpoint of `tree_size` with the receipt's leaf,
/// SHA-256(0x00 ‖ the 32 bytes of its `receipt_hash`).
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "decisions", params(InclusionQuery),
    security(("bearer" = [])),
    responses((status = 200, body = InclusionProofView),
        (status = 400, description = "`tree_size` is beyond your tree or too small to hold the receipt (`invalid_tree_size`), or a parameter is malformed", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such receipt in your chain", body = ErrorBody),
        (status = 409, description = "No `tree_size` was asked and the receipt is newer than your latest checkpoint (`not_yet_checkpointed`): retry after `HALL_CHECKPOINT_INTERVAL`", body = ErrorBody)))]
pub async fn inclusion_proof(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<InclusionQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    let p = state
        .hall
        .inclusion_proof(
            &principal.tenant_id,
            query.receipt_id,
            positive("tree_size", query.tree_size)?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(InclusionProofView {
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
        hashes: p.hashes.iter().map(|h| hex(h)).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree's size.
    #[param(minimum = 1)]
    pub from: i64,
    /// The newer tree's size (default: the latest checkpoint's).
    #[param(minimum = 1)]
    pub to: Option<i64>,
}

/// The proof that your tree of `from` receipts is a prefix of your tree of
/// `to` (`read`; RFC 9162 §2.1.4): what a witness or monitor checks between
/// two checkpoints.
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "decisions", params(ConsistencyQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ConsistencyProofView),
        (status = 400, description = "`from` is 0 or larger than `to`, or `to` is beyond your tree (`invalid_tree_size`), or a parameter is malformed", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn consistency_proof(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    let p = state
        .hall
        .consistency_proof(
            &principal.tenant_id,
            positive("from", Some(query.from))?.unwrap_or_default(),
            positive("to", query.to)?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConsistencyProofView {
        from: p.from,
        to: p.to,
        hashes: p.hashes.iter().map(|h| hex(h)).collect(),
    }))
}

impl From<CosignError> for ApiError {
    fn from(e: CosignError) -> Self {
        use actix_web::http::StatusCode;
        match e {
            e @ CosignError::Malformed(_) => {
                ApiError::bad_request("invalid_checkpoint", e.to_string())
            }
            e @ CosignError::OtherLog(..) => {
                ApiError::bad_request("invalid_checkpoint", e.to_string())
            }
            e @ (CosignError::BadCosignature(_) | CosignError::FromTheFuture(..)) => {
                ApiError::bad_request("invalid_cosignature", e.to_string())
            }
            e @ CosignError::NoWitness(_) => {
                ApiError::bad_request("no_witness_cosignature", e.to_string())
            }
            e @ CosignError::UnknownCheckpoint(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_checkpoint", e.to_string())
            }
            e @ CosignError::Differs(_) => {
                ApiError::new(StatusCode::CONFLICT, "checkpoint_mismatch", e.to_string())
            }
            CosignError::Store(e) => e.into(),
        }
    }
}

impl From<WitnessError> for ApiError {
    fn from(e: WitnessError) -> Self {
        use actix_web::http::StatusCode;
        match e {
            e @ (WitnessError::Exists(_) | WitnessError::Operator(_)) => {
                ApiError::new(StatusCode::CONFLICT, "witness_exists", e.to_string())
            }
            e @ WitnessError::NotFound(_) => ApiError::not_found(e.to_string()),
            e @ WitnessError::TooMany => {
                ApiError::new(StatusCode::CONFLICT, "too_many_witnesses", e.to_string())
            }
            WitnessError::Store(e) => e.into(),
        }
    }
}

/// A witness's cosignature of one of your checkpoints (`read`; C2SP
/// tlog-cosignature, Ed25519 cosignature/v1): the checkpoint as issued with
/// the witness's signature line added, as `hallctl audit witness` sends it.
/// Each line by one of your witnesses (or the operator's) is verified over
/// the checkpoint this registry issued at that size and stored; the
/// checkpoint is served with it from then on. Lines by other keys are
/// ignored; a witness's second cosignature of a checkpoint is not stored.
#[utoipa::path(post, path = "/api/v1/audit/checkpoint/cosign", tag = "decisions",
    request_body = CosignCheckpoint, security(("bearer" = [])),
    responses((status = 200, description = "The checkpoint with every cosignature it has now", body = CheckpointView),
        (status = 400, description = "Not a checkpoint note, or one of another log (`invalid_checkpoint`); a witness's line does not verify or is dated more than 5 minutes ahead (`invalid_cosignature`); no line by one of your witnesses (`no_witness_cosignature`)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No checkpoint of that size was issued (`unknown_checkpoint`)", body = ErrorBody),
        (status = 409, description = "The checkpoint's text differs from the one issued at that size (`checkpoint_mismatch`): the witness holds another history", body = ErrorBody)))]
pub async fn cosign_checkpoint(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<CosignCheckpoint>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    if body.checkpoint.chars().count() > MAX_COSIGNED_NOTE {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("checkpoint must be at most {MAX_COSIGNED_NOTE} characters"),
        ));
    }
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
    let c = state
        .hall
        .cosign_checkpoint(&principal.tenant_id, &body.checkpoint, now)
        .await?;
    Ok(HttpResponse::Ok().json(checkpoint_view(c)))
}

/// The longest cosigned checkpoint taken (the document's `maxLength`).
const MAX_COSIGNED_NOTE: usize = 16384;

fn witness_view(w: Witness) -> WitnessView {
    let (registered_by, created_at) = match w.registered {
        Registered::Tenant(at) => ("tenant", Some(at)),
        Registered::Operator => ("operator", None),
    };
    WitnessView {
        name: w.key.name().to_string(),
        vkey: w.key.vkey(),
        key_id: hex(&w.key.key_id()),
        registered_by: registered_by.to_string(),
        created_at,
    }
}

/// The witnesses trusted to cosign your checkpoints (`read`): the
/// operator's (`HALL_WITNESS_KEYS`), then yours.
#[utoipa::path(get, path = "/api/v1/audit/witnesses", tag = "decisions",
    security(("bearer" = [])),
    responses((status = 200, body = WitnessList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn witnesses(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Read)?;
    let list = state.hall.witnesses(&principal.tenant_id).await?;
    Ok(HttpResponse::Ok().json(WitnessList {
        witnesses: list.into_iter().map(witness_view).collect(),
    }))
}

/// Registers a witness for your log (`admin`): its cosignatures of your
/// checkpoints are accepted and served from now on.
#[utoipa::path(post, path = "/api/v1/audit/witnesses", tag = "decisions",
    request_body = RegisterWitness, security(("bearer" = [])),
    responses((status = 201, body = WitnessView),
        (status = 400, description = "Not a witness verifier key (`invalid_witness_key`): Ed25519 cosignature/v1 keys have signature type 0x04", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "A witness of that name or key exists, or the key is the operator's (`witness_exists`); you have 20 witnesses already (`too_many_witnesses`)", body = ErrorBody)))]
pub async fn register_witness(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<RegisterWitness>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    if body.vkey.chars().count() > 400 {
        return Err(ApiError::bad_request(
            "invalid_request",
            "vkey must be at most 400 characters",
        ));
    }
    let key = WitnessKey::from_vkey(&body.vkey)
        .map_err(|e| ApiError::bad_request("invalid_witness_key", e.to_string()))?;
    let w = state
        .hall
        .register_witness(&principal.tenant_id, key)
        .await?;
    Ok(HttpResponse::Created().json(witness_view(w)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WitnessQuery {
    /// The witness's name.
    pub name: String,
}

/// Removes one of your witnesses (`admin`): its cosignatures are no longer
/// accepted; those it gave stay with their checkpoints.
#[utoipa::path(delete, path = "/api/v1/audit/witnesses", tag = "decisions",
    params(WitnessQuery), security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "You have no witness of that name", body = ErrorBody),
        (status = 409, description = "One of the operator's witnesses (`witness_exists`)", body = ErrorBody)))]
pub async fn remove_witness(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<WitnessQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    state
        .hall
        .remove_witness(&principal.tenant_id, &query.name)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

//! Workers: register (either form), list, read, update, revoke — every
//! worker addressed by registry id (`wrk_…`) or WCP worker id. The handlers
//! parse the request, call one worker use case (`service::workers`) and map
//! its [`RegisterError`] or [`WorkerError`] here; who may register under a
//! namespace is `policy::namespaces`, the rows are `registry::workers`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use registry::workers::{Worker, WorkerFilter, WorkerRef, WorkerStatus};
use registry::Scope;
use serde::Deserialize;
use service::{RegisterError, WorkerError};
use utoipa::{IntoParams, ToSchema};
use wcp::{CapabilityId, Namespace, Visibility, WorkerRecord};

pub use api_types::workers::{WorkerPage, WorkerView};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{acting_tenant, worker_ref, TenantQuery};
use crate::routes::{resource, JsonObject};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/workers", &["GET", "POST"])
            .route(web::get().to(list_workers))
            .route(web::post().to(register_worker)),
    )
    .service(
        resource("/api/v1/workers/{id}", &["GET", "PATCH"])
            .route(web::get().to(get_worker))
            .route(web::patch().to(update_worker)),
    )
    .service(
        resource("/api/v1/workers/{id}/revoke", &["POST"]).route(web::post().to(revoke_worker)),
    );
}

/// A registration, in the seed SDK's form (`name` + `namespace`) or as a full
/// WCP registry record (`worker_id` + …). Fields not listed are kept in the
/// record (the artifact hash covers them).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the body is parsed by `WorkerRecord::parse`
pub struct RegisterWorker {
    /// Seed form: the worker's name inside its namespace.
    #[schema(example = "my-agent")]
    name: Option<String>,
    /// Seed form: `x.<name>` or `org.<name>`. An unclaimed `x.*` namespace is claimed for you.
    #[schema(example = "x.myagent")]
    namespace: Option<String>,
    /// WCP form: `<namespace>.<name>[.<instance>]`.
    #[schema(example = "x.myagent.my-agent")]
    worker_id: Option<String>,
    #[schema(example = "wrk.doc.summarizer")]
    worker_species_id: Option<String>,
    #[schema(example = json!(["cap.data.read.v1"]))]
    capabilities: Vec<String>,
    /// Policy tier L0–L8 (default 0).
    #[schema(example = 2, minimum = 0, maximum = 8)]
    policy_tier: Option<u8>,
    /// `low`, `medium`, `high` or `critical`.
    risk_tier: Option<String>,
    /// Any of `dev`, `stage`, `prod`, `edge` (default: all), in any case;
    /// `development`, `staging` and `production` are accepted as aliases
    /// and the worker shows the canonical values.
    allowed_environments: Option<Vec<String>>,
    required_controls: Option<Vec<String>>,
    currently_implements: Option<Vec<String>>,
    /// `{"data", "network", "financial", "time": 0–5, "reversibility": 0–5 or a word}`.
    #[schema(value_type = Option<Object>)]
    blast_radius: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    privilege_envelope: Option<serde_json::Value>,
    /// Must equal the authority namespace when given.
    owner: Option<String>,
    contact: Option<String>,
    /// `sha256:` + SHA-256 of the canonical JSON of this body without `artifact_hash`;
    /// a mismatch is refused with `DENY_WORKER_TAMPERED`.
    artifact_hash: Option<String>,
    /// Highest data label the worker may handle: `PUBLIC`, `INTERNAL` (default),
    /// `RESTRICTED`, in any case.
    max_data_label: Option<String>,
    /// `public` (default: visible to verify and discovery) or `private` (your tenant only).
    visibility: Option<String>,
}

/// A worker as the API shows it.
pub(crate) fn view(w: Worker) -> WorkerView {
    let r = w.record;
    let strings = |v: &[wcp::ControlId]| v.iter().map(|c| c.to_string()).collect();
    WorkerView {
        id: w.id,
        namespace: r.namespace().to_string(),
        name: r.worker_id.local_name().to_string(),
        worker_id: r.worker_id.to_string(),
        tenant_id: w.tenant_id.to_string(),
        status: w.status.as_str().to_string(),
        policy_tier: r.policy_tier,
        capabilities: r.capabilities.iter().map(|c| c.to_string()).collect(),
        worker_species_id: r.species.map(|s| s.to_string()),
        risk_tier: r.risk_tier.map(|t| t.to_string()),
        allowed_environments: r
            .allowed_environments
            .iter()
            .map(|e| e.to_string())
            .collect(),
        required_controls: strings(&r.required_controls),
        currently_implements: strings(&r.currently_implements),
        blast_score: r.blast_radius.as_ref().map(|(b, _)| b.score()),
        blast_radius: r.blast_radius.map(|(_, v)| v),
        privilege_envelope: r.privilege_envelope,
        owner: r.owner.to_string(),
        contact: r.contact,
        artifact_hash: r.artifact_hash,
        max_data_label: r.max_data_label.to_string(),
        visibility: r.visibility.to_string(),
        record: serde_json::Value::Object(r.record),
        created_at: w.created_at,
        updated_at: w.updated_at,
        revoked_at: w.revoked_at,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkerQuery {
    /// Only workers in this namespace.
    pub namespace: Option<String>,
    /// Only workers declaring this capability.
    pub capability: Option<String>,
    /// `active` or `revoked`.
    pub status: Option<String>,
    /// `public` or `private`.
    pub visibility: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Operator only, with `admin`: another tenant's workers.
    pub tenant_id: Option<String>,
}

/// Register a worker (`workers:write`). All or nothing: a refused
/// registration leaves no rows (not even an implicit namespace claim).
#[utoipa::path(post, path = "/api/v1/workers", tag = "workers", request_body = RegisterWorker,
    security(("bearer" = [])),
    responses((status = 201, body = WorkerView),
        (status = 400, description = "A field breaks a rule (named in the message), or DENY_WORKER_TAMPERED", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The namespace is not yours", body = ErrorBody),
        (status = 409, description = "The worker id is taken", body = ErrorBody)))]
pub async fn register_worker(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WorkersWrite)?;
    let record = WorkerRecord::parse(&body)?;
    let worker = state
        .hall
        .register_worker(&principal.tenant_id, record)
        .await?;
    Ok(HttpResponse::Created().json(view(worker)))
}

/// List your workers (`read`), in registration order, a page at a time.
#[utoipa::path(get, path = "/api/v1/workers", tag = "workers", params(WorkerQuery),
    security(("bearer" = [])),
    responses((status = 200, body = WorkerPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody)))]
pub async fn list_workers(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<WorkerQuery>,
) -> Result<web::Json<WorkerPage>, ApiError> {
    principal.require(Scope::Read)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    // Every message names its parameter once.
    let bad = |msg: String| ApiError::bad_request("invalid_query", msg);
    let filter = WorkerFilter {
        namespace: query
            .namespace
            .as_deref()
            .map(Namespace::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        capability: query
            .capability
            .as_deref()
            .map(CapabilityId::parse)
            .transpose()
            .map_err(|e| bad(e.field("capability").to_string()))?,
        status: query
            .status
            .as_deref()
            .map(|s| {
                WorkerStatus::parse(s)
                    .ok_or_else(|| bad(format!("status {s:?} is not one of active or revoked")))
            })
            .transpose()?,
        visibility: query
            .visibility
            .as_deref()
            .map(Visibility::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        after: match query.cursor.as_deref() {
            None => None,
            Some(c) => match WorkerRef::parse(c) {
                Ok(WorkerRef::Registry(id)) => Some(id),
                _ => {
                    return Err(bad(
                        "cursor must be the next_cursor of an earlier page".into()
                    ))
                }
            },
        },
        limit: wcp::PageLimit::parse(query.limit, wcp::PageSize::WORKERS)?,
    };
    let page = state.hall.list_workers(&tenant, &filter).await?;
    Ok(web::Json(WorkerPage {
        workers: page.workers.into_iter().map(view).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Read one of your workers (`read`).
#[utoipa::path(get, path = "/api/v1/workers/{id}", tag = "workers",
    params(("id" = String, Path, description = "`wrk_…` or the WCP worker id"), TenantQuery),
    security(("bearer" = [])),
    responses((status = 200, body = WorkerView),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_worker(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TenantQuery>,
) -> Result<web::Json<WorkerView>, ApiError> {
    principal.require(Scope::Read)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    let id = worker_ref(&path)?;
    Ok(web::Json(view(state.hall.worker(&tenant, &id).await?)))
}

/// Change an active worker (`workers:write`): the given fields replace the
/// stored ones; identity fields cannot change.
#[utoipa::path(patch, path = "/api/v1/workers/{id}", tag = "workers",
    params(("id" = String, Path), TenantQuery), request_body(content = Object),
    security(("bearer" = [])),
    responses((status = 200, body = WorkerView), (status = 400, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The worker is revoked", body = ErrorBody)))]
pub async fn update_worker(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TenantQuery>,
    body: JsonObject,
) -> Result<web::Json<WorkerView>, ApiError> {
    principal.require(Scope::WorkersWrite)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    let id = worker_ref(&path)?;
    let worker = state.hall.update_worker(&tenant, &id, &body).await?;
    Ok(web::Json(view(worker)))
}

/// Revoke a worker (`workers:write`). It is kept, with status `revoked`.
#[utoipa::path(post, path = "/api/v1/workers/{id}/revoke", tag = "workers",
    params(("id" = String, Path), TenantQuery), security(("bearer" = [])),
    responses((status = 200, body = WorkerView),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_worker(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TenantQuery>,
) -> Result<web::Json<WorkerView>, ApiError> {
    principal.require(Scope::WorkersWrite)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    let id = worker_ref(&path)?;
    Ok(web::Json(view(
        state.hall.revoke_worker(&tenant, &id).await?,
    )))
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        use policy::namespaces::NamespaceHeld as H;
        match e {
            RegisterError::Namespace { namespace: ns, held } => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                match held {
                    H::Unclaimed => format!(
                        "namespace {ns} is not claimed; claim it first with POST /api/v1/namespaces \
                         (org.* namespaces are never claimed implicitly)"
                    ),
                    H::PendingApproval => format!(
                        "your claim on namespace {ns} is waiting for the operator's approval"
                    ),
                    H::Builtin => crate::routes::namespaces::builtin(&ns),
                    H::Reserved(reason) => format!(
                        "namespace {ns} is reserved by the registry operator{}",
                        crate::routes::namespaces::because(reason)
                    ),
                    H::OtherTenant => format!(
                        "namespace {ns} belongs to another tenant: under WCP trust attribution \
                         only the namespace's owner may register workers in it"
                    ),
                },
            ),
            RegisterError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            RegisterError::Store(e) => e.into(),
        }
    }
}

impl From<WorkerError> for ApiError {
    fn from(e: WorkerError) -> Self {
        match e {
            WorkerError::NotFound(_) => ApiError::not_found(e.to_string()),
            WorkerError::NotActive { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            WorkerError::Record(e) => e.into(),
            WorkerError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;
    use policy::namespaces::NamespaceHeld;

    use super::*;

    fn refused(ns: &str, held: NamespaceHeld) -> ApiError {
        ApiError::from(RegisterError::Namespace {
            namespace: Namespace::parse(ns).unwrap(),
            held,
        })
    }

    #[test]
    fn a_namespace_refusal_is_403_and_names_the_way_out() {
        let api = refused("x.alice", NamespaceHeld::OtherTenant);
        assert_eq!(api.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(api.code(), "forbidden");
        assert!(api
            .body()
            .error
            .message
            .contains("belongs to another tenant"));
        let api = refused("org.acme", NamespaceHeld::Unclaimed);
        assert_eq!(api.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(
            api.body().error.message,
            "namespace org.acme is not claimed; claim it first with POST /api/v1/namespaces \
             (org.* namespaces are never claimed implicitly)"
        );
    }

    #[test]
    fn a_missing_or_revoked_worker_reads_as_before() {
        let api = ApiError::from(WorkerError::NotFound("x.wrk.nope".into()));
        assert_eq!(api.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(api.body().error.message, "worker x.wrk.nope not found");
        let api = ApiError::from(WorkerError::NotActive {
            worker: "wrk_1".into(),
            status: "revoked".into(),
        });
        assert_eq!(api.status_code(), StatusCode::CONFLICT);
        assert_eq!(
            api.body().error.message,
            "worker wrk_1 is revoked and cannot be changed"
        );
    }
}

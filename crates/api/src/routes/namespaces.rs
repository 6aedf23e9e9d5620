//! Namespaces: check, claim, list, operator administration (reserve, approve,
//! release, transfer) and Ed25519 signing keys. The handlers parse the
//! request, call one namespace use case (`service::namespaces`) and map its
//! error here; who may claim a namespace or use its keys is
//! `policy::namespaces`, the rows are `registry::namespaces`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use attestation::{KeyProof, NamespacePublicKey, ProofError};
use policy::namespaces::{ChangeRefused, NamespaceChange, NamespaceHeld, Standing, Usage};
use registry::namespaces::{NamespaceChangeRecord, NamespaceClaim, NamespaceKey};
use registry::Scope;
use service::{AddKeyCommand, AdminError, ChangeCommand, ClaimCommand, ClaimError, KeyError};
use wcp::{Namespace, TenantId};

pub use api_types::namespaces::{
    AddNamespaceKey, ClaimNamespace, ForceRelease, ForceTransfer, NamespaceChangeView,
    NamespaceHistory, NamespaceKeyList, NamespaceKeyView, NamespaceList, NamespaceStatus,
    NamespaceView, ReserveNamespace, TransferNamespace,
};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{acting_tenant, TenantQuery};
use crate::routes::{resource, text_field, JsonBody};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/v1/namespaces", &["GET", "POST"])
            .route(web::get().to(list_namespaces))
            .route(web::post().to(claim_namespace)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}", &["GET", "DELETE"])
            .route(web::get().to(check_namespace))
            .route(web::delete().to(release_namespace)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}/reserve", &["POST"])
            .route(web::post().to(reserve_namespace)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}/approve", &["POST"])
            .route(web::post().to(approve_namespace)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}/transfer", &["POST"])
            .route(web::post().to(transfer_namespace)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}/force-release", &["POST"])
            .route(web::post().to(force_release_namespace)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}/force-transfer", &["POST"])
            .route(web::post().to(force_transfer_namespace)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}/history", &["GET"])
            .route(web::get().to(namespace_history)),
    )
    .service(
        resource("/api/v1/namespaces/{namespace}/keys", &["GET", "POST"])
            .route(web::get().to(list_keys))
            .route(web::post().to(add_key)),
    )
    .service(
        resource(
            "/api/v1/namespaces/{namespace}/keys/{kid}/revoke",
            &["POST"],
        )
        .route(web::post().to(revoke_key)),
    );
}

/// A namespace claim as the API shows it.
fn view(c: NamespaceClaim) -> NamespaceView {
    NamespaceView {
        namespace: c.namespace.to_string(),
        status: c.status.as_str().to_string(),
        tenant_id: c.tenant_id.map(|t| t.to_string()),
        reason: c.reason,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// A namespace signing key as the API shows it.
fn key_view(k: NamespaceKey) -> NamespaceKeyView {
    NamespaceKeyView {
        kid: k.kid,
        namespace: k.namespace.to_string(),
        public_key: k.public_key.to_base64(),
        label: k.label,
        created_at: k.created_at,
        revoked_at: k.revoked_at,
    }
}

/// A release or transfer as the API shows it.
fn change_view(c: NamespaceChangeRecord) -> NamespaceChangeView {
    NamespaceChangeView {
        id: c.id,
        namespace: c.namespace.to_string(),
        action: match c.change {
            NamespaceChange::Release => "release",
            NamespaceChange::Transfer => "transfer",
        }
        .into(),
        forced: c.forced,
        from_tenant: c.from_tenant.map(|t| t.to_string()),
        to_tenant: c.to_tenant.map(|t| t.to_string()),
        reason: c.reason,
        actor_tenant: c.actor_tenant.to_string(),
        actor_key_id: c.actor_key_id.to_string(),
        revoked_workers: c.revoked_workers,
        revoked_keys: c.revoked_keys,
        created_at: c.created_at,
    }
}

/// The operator's release or transfer of `namespace`, as `principal` makes it.
fn change_command(
    principal: &Principal,
    namespace: Namespace,
    to: Option<TenantId>,
    forced_because: Option<String>,
) -> ChangeCommand {
    ChangeCommand {
        namespace,
        to,
        forced_because,
        actor_tenant: principal.tenant_id.clone(),
        actor_key_id: principal.key_id,
    }
}

fn tenant_param(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw)
        .map_err(|e| ApiError::bad_request("invalid_tenant_id", e.field("tenant_id").to_string()))
}

fn namespace_param(raw: &str) -> Result<Namespace, ApiError> {
    Namespace::parse(raw).map_err(|e| ApiError::bad_request("invalid_namespace", e.to_string()))
}

/// Check a namespace: is it available, yours, taken, reserved, pending or invalid?
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path, example = "x.alice")), security(("bearer" = [])),
    responses((status = 200, body = NamespaceStatus), (status = 401, body = ErrorBody)))]
pub async fn check_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<NamespaceStatus>, ApiError> {
    principal.require(Scope::Read)?;
    let ns = match Namespace::parse(&path) {
        Ok(ns) => ns,
        Err(e) => {
            return Ok(web::Json(NamespaceStatus {
                namespace: path.into_inner(),
                status: "invalid".into(),
                reason: Some(e.to_string()),
            }))
        }
    };
    let (status, reason) = match state
        .hall
        .check_namespace(&principal.tenant_id, &ns)
        .await?
    {
        Standing::Available => ("available", None),
        Standing::Reserved(reason) => ("reserved", reason),
        Standing::Pending => (
            "pending",
            Some("your claim awaits the operator's approval".into()),
        ),
        Standing::Yours => ("yours", None),
        Standing::Taken => ("taken", Some("claimed by another tenant".to_string())),
    };
    Ok(web::Json(NamespaceStatus {
        namespace: ns.to_string(),
        status: status.into(),
        reason,
    }))
}

/// Claim a namespace (`admin`). `x.*` claims take effect at once; `org.*`
/// claims may wait for the operator (`pending`) when the registry says so.
#[utoipa::path(post, path = "/api/v1/namespaces", tag = "namespaces", request_body = ClaimNamespace,
    security(("bearer" = [])),
    responses((status = 201, description = "Claimed (or pending approval)", body = NamespaceView),
        (status = 200, description = "Already yours", body = NamespaceView),
        (status = 400, description = "Invalid or reserved", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "Taken", body = ErrorBody)))]
pub async fn claim_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    body: JsonBody<ClaimNamespace>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let claimed = state
        .hall
        .claim_namespace(ClaimCommand {
            namespace: namespace_param(&body.namespace)?,
            tenant: principal.tenant_id.clone(),
        })
        .await?;
    let view = view(claimed.claim);
    Ok(if claimed.claimed_now {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The caller's namespaces (claimed and pending). The operator may name a tenant.
#[utoipa::path(get, path = "/api/v1/namespaces", tag = "namespaces", params(TenantQuery),
    security(("bearer" = [])),
    responses((status = 200, body = NamespaceList), (status = 401, body = ErrorBody),
        (status = 403, description = "The credential lacks the route's scope, or the operator's key names another tenant (`tenant_id`) without `admin` (`insufficient_scope`)", body = ErrorBody)))]
pub async fn list_namespaces(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<TenantQuery>,
) -> Result<web::Json<NamespaceList>, ApiError> {
    principal.require(Scope::Read)?;
    let tenant = acting_tenant(&principal, query.tenant_id.as_deref())?;
    let claims = state.hall.list_namespaces(&tenant).await?;
    Ok(web::Json(NamespaceList {
        namespaces: claims.into_iter().map(view).collect(),
    }))
}

/// Reserve a namespace so nobody can claim it (operator only).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/reserve", tag = "namespaces",
    params(("namespace" = String, Path)), request_body = ReserveNamespace, security(("bearer" = [])),
    responses((status = 200, body = NamespaceView), (status = 403, body = ErrorBody),
        (status = 409, description = "Claimed by a tenant", body = ErrorBody)))]
pub async fn reserve_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<ReserveNamespace>,
) -> Result<web::Json<NamespaceView>, ApiError> {
    principal.require_operator()?;
    let ns = namespace_param(&path)?;
    let reason = text_field("reason", &body.reason, 500)?;
    Ok(web::Json(view(
        state.hall.reserve_namespace(&ns, &reason).await?,
    )))
}

/// Approve a pending claim (operator only).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/approve", tag = "namespaces",
    params(("namespace" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NamespaceView), (status = 403, body = ErrorBody),
        (status = 404, description = "No pending claim", body = ErrorBody)))]
pub async fn approve_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<NamespaceView>, ApiError> {
    principal.require_operator()?;
    let ns = namespace_param(&path)?;
    Ok(web::Json(view(state.hall.approve_namespace(&ns).await?)))
}

/// Release a claim, pending claim or reservation (operator only). Refused
/// while active workers or unrevoked signing keys live under the namespace
/// (revoked ones never block: they stay as history); see `force-release`.
/// Recorded in the namespace's history.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NamespaceStatus), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn release_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<NamespaceStatus>, ApiError> {
    principal.require_operator()?;
    let ns = namespace_param(&path)?;
    state
        .hall
        .change_namespace(change_command(&principal, ns.clone(), None, None))
        .await?;
    Ok(web::Json(NamespaceStatus {
        namespace: ns.to_string(),
        status: "available".into(),
        reason: None,
    }))
}

/// Move a claim to another tenant (operator only). Refused while active
/// workers or unrevoked signing keys live under the namespace (revoked ones
/// never block); see `force-transfer`. Recorded in the namespace's history.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/transfer", tag = "namespaces",
    params(("namespace" = String, Path)), request_body = TransferNamespace, security(("bearer" = [])),
    responses((status = 200, body = NamespaceView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn transfer_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<TransferNamespace>,
) -> Result<web::Json<NamespaceView>, ApiError> {
    principal.require_operator()?;
    let ns = namespace_param(&path)?;
    let to = tenant_param(&body.tenant_id)?;
    let changed = state
        .hall
        .change_namespace(change_command(&principal, ns.clone(), Some(to), None))
        .await?;
    match changed.claim {
        Some(claim) => Ok(web::Json(view(claim))),
        None => Err(ApiError::not_found(format!("namespace {ns} not found"))),
    }
}

/// Force-release a namespace (operator only, `admin`), e.g. a squatted one:
/// its active workers and signing keys are revoked (kept as history), then
/// the claim, pending claim or reservation is released. The reason is
/// required and recorded with the operator credential in the namespace's
/// history.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/force-release", tag = "namespaces",
    params(("namespace" = String, Path)), request_body = ForceRelease, security(("bearer" = [])),
    responses((status = 200, description = "Released; what was revoked", body = NamespaceChangeView),
        (status = 400, description = "Invalid namespace or missing reason", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn force_release_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<ForceRelease>,
) -> Result<web::Json<NamespaceChangeView>, ApiError> {
    principal.require_operator()?;
    let ns = namespace_param(&path)?;
    let reason = text_field("reason", &body.reason, 500)?;
    let changed = state
        .hall
        .change_namespace(change_command(&principal, ns, None, Some(reason)))
        .await?;
    Ok(web::Json(change_view(changed.record)))
}

/// Force-transfer a claim to another tenant (operator only, `admin`): the
/// active workers and signing keys under the namespace (its previous
/// holder's) are revoked (kept as history), then the claim moves. A
/// reservation is never transferred. The reason is required and recorded
/// with the operator credential in the namespace's history.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/force-transfer", tag = "namespaces",
    params(("namespace" = String, Path)), request_body = ForceTransfer, security(("bearer" = [])),
    responses((status = 200, description = "Transferred; what was revoked", body = NamespaceChangeView),
        (status = 400, description = "Invalid namespace or tenant id, or missing reason", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such namespace or tenant", body = ErrorBody),
        (status = 409, description = "A reservation", body = ErrorBody)))]
pub async fn force_transfer_namespace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<ForceTransfer>,
) -> Result<web::Json<NamespaceChangeView>, ApiError> {
    principal.require_operator()?;
    let ns = namespace_param(&path)?;
    let to = tenant_param(&body.tenant_id)?;
    let reason = text_field("reason", &body.reason, 500)?;
    let changed = state
        .hall
        .change_namespace(change_command(&principal, ns, Some(to), Some(reason)))
        .await?;
    Ok(web::Json(change_view(changed.record)))
}

/// The operator's releases and transfers of a namespace, forced or not,
/// oldest first: who (operator tenant and API key id), when, what was
/// revoked and why (operator only).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/history", tag = "namespaces",
    params(("namespace" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NamespaceHistory), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn namespace_history(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<NamespaceHistory>, ApiError> {
    principal.require_operator()?;
    let ns = namespace_param(&path)?;
    let changes = state.hall.namespace_history(&ns).await?;
    Ok(web::Json(NamespaceHistory {
        changes: changes.into_iter().map(change_view).collect(),
    }))
}

/// Register an Ed25519 signing key on one of your namespaces (`admin`),
/// with a proof of possession: the key's signature over the canonical JSON
/// `{"kid","namespace","purpose":"hall-registry/namespace-key/v1","tenant_id"}`
/// (400 `invalid_proof` when it is missing or does not verify). A key id is
/// unique within its namespace only.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/keys", tag = "namespaces",
    params(("namespace" = String, Path)), request_body = AddNamespaceKey, security(("bearer" = [])),
    responses((status = 201, body = NamespaceKeyView),
        (status = 400, description = "Invalid key or label, missing or wrong proof (`invalid_proof`), or a claim still pending", body = ErrorBody),
        (status = 404, description = "Not your namespace", body = ErrorBody),
        (status = 409, description = "Key already registered on this namespace", body = ErrorBody)))]
pub async fn add_key(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<AddNamespaceKey>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::Admin)?;
    let ns = namespace_param(&path)?;
    let key = NamespacePublicKey::parse(&body.public_key)
        .map_err(|e| ApiError::bad_request("invalid_public_key", e.to_string()))?;
    let label = text_field("label", &body.label, 200)?;
    let proof = match body.proof.as_deref() {
        Some(proof) => KeyProof::parse(proof).map_err(proof_refused)?,
        None => {
            return Err(ApiError::bad_request(
                "invalid_proof",
                format!(
                    "proof is required: the key's Ed25519 signature over the canonical JSON \
                     {{\"kid\":\"{}\",\"namespace\":\"{ns}\",\"purpose\":\"{}\",\"tenant_id\":\"{}\"}}",
                    key.kid(),
                    attestation::keys::KEY_PROOF_PURPOSE,
                    principal.tenant_id
                ),
            ))
        }
    };
    let stored = state
        .hall
        .add_namespace_key(AddKeyCommand {
            tenant: principal.tenant_id.clone(),
            namespace: ns,
            key,
            label,
            proof,
        })
        .await?;
    Ok(HttpResponse::Created().json(key_view(stored)))
}

/// A namespace's signing keys, revoked ones included.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/keys", tag = "namespaces",
    params(("namespace" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NamespaceKeyList), (status = 404, body = ErrorBody)))]
pub async fn list_keys(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<NamespaceKeyList>, ApiError> {
    principal.require(Scope::Read)?;
    let ns = namespace_param(&path)?;
    let keys = state
        .hall
        .list_namespace_keys(&principal.tenant_id, &ns)
        .await?;
    Ok(web::Json(NamespaceKeyList {
        keys: keys.into_iter().map(key_view).collect(),
    }))
}

/// Revoke a signing key (`admin`). It is kept, with `revoked_at`.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/keys/{kid}/revoke", tag = "namespaces",
    params(("namespace" = String, Path), ("kid" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NamespaceKeyView), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<NamespaceKeyView>, ApiError> {
    principal.require(Scope::Admin)?;
    let (ns, kid) = path.into_inner();
    let ns = namespace_param(&ns)?;
    let key = state
        .hall
        .revoke_namespace_key(&principal.tenant_id, &ns, &kid)
        .await?;
    Ok(web::Json(key_view(key)))
}

/// Why a built-in name is not anyone's.
pub(crate) fn builtin(ns: &Namespace) -> String {
    format!("namespace {ns} is reserved by the registry for the WCP project")
}

/// ": reason", when a reservation gave one.
pub(crate) fn because(reason: Option<String>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

fn proof_refused(e: ProofError) -> ApiError {
    ApiError::bad_request("invalid_proof", e.to_string())
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "conflict", message)
}

impl From<ClaimError> for ApiError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Held {
                namespace: ns,
                held: NamespaceHeld::Builtin,
            } => ApiError::bad_request("invalid_request", builtin(&ns)),
            ClaimError::Held {
                namespace: ns,
                held: NamespaceHeld::Reserved(reason),
            } => ApiError::bad_request(
                "invalid_request",
                format!("namespace {ns} is reserved{}", because(reason)),
            ),
            ClaimError::Held { namespace: ns, .. } => {
                conflict(format!("namespace {ns} is already taken"))
            }
            ClaimError::Store(e) => e.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Proof(e) => proof_refused(e),
            KeyError::NotYours(ns) => ApiError::not_found(format!("namespace {ns} not found")),
            KeyError::Pending(_) => ApiError::bad_request("invalid_request", e.to_string()),
            KeyError::Exists { kid } => conflict(format!(
                "this public key is already registered on this namespace (kid {kid})"
            )),
            KeyError::NotFound { namespace, kid } => {
                ApiError::not_found(format!("signing key {kid} on {namespace} not found"))
            }
            KeyError::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(ns) => ApiError::not_found(format!("namespace {ns} not found")),
            AdminError::NoPendingClaim(ns) => {
                ApiError::not_found(format!("pending claim on {ns} not found"))
            }
            AdminError::NoSuchTenant(t) => ApiError::not_found(format!("tenant {t} not found")),
            AdminError::Refused {
                namespace: ns,
                refused,
            } => conflict(match refused {
                ChangeRefused::HeldByTenant => {
                    format!("namespace {ns} is claimed by a tenant; release it first")
                }
                ChangeRefused::Reserved => {
                    format!("namespace {ns} is reserved; release the reservation, then claim it")
                }
                ChangeRefused::InUse(change, Usage { workers, keys, .. }) => format!(
                    "namespace {ns} has {workers} active worker(s) and {keys} unrevoked signing \
                     key(s) and cannot be {}; revoke them first, or force it (force-{})",
                    match change {
                        NamespaceChange::Release => "released",
                        NamespaceChange::Transfer => "transferred",
                    },
                    match change {
                        NamespaceChange::Release => "release",
                        NamespaceChange::Transfer => "transfer",
                    }
                ),
            }),
            AdminError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;

    use super::*;

    fn ns() -> Namespace {
        Namespace::parse("x.alice").unwrap()
    }

    /// What a client reads: status, code, message.
    fn reads(e: impl Into<ApiError>) -> (u16, &'static str, String) {
        let api = e.into();
        (
            api.status_code().as_u16(),
            api.code(),
            api.body().error.message,
        )
    }

    fn held(held: NamespaceHeld) -> ClaimError {
        ClaimError::Held {
            namespace: ns(),
            held,
        }
    }

    fn refused(refused: ChangeRefused) -> AdminError {
        AdminError::Refused {
            namespace: ns(),
            refused,
        }
    }

    #[test]
    fn claim_refusals_read_as_before() {
        let cases = [
            (
                held(NamespaceHeld::Builtin),
                (
                    400,
                    "invalid_request",
                    "namespace x.alice is reserved by the registry for the WCP project",
                ),
            ),
            (
                held(NamespaceHeld::Reserved(Some("trademark".into()))),
                (
                    400,
                    "invalid_request",
                    "namespace x.alice is reserved: trademark",
                ),
            ),
            (
                held(NamespaceHeld::Reserved(None)),
                (400, "invalid_request", "namespace x.alice is reserved"),
            ),
            (
                held(NamespaceHeld::OtherTenant),
                (409, "conflict", "namespace x.alice is already taken"),
            ),
        ];
        for (e, (status, code, message)) in cases {
            assert_eq!(reads(e), (status, code, message.to_string()));
        }
    }

    #[test]
    fn key_refusals_read_as_before() {
        let cases = [
            (
                KeyError::NotYours(ns()),
                (404, "not_found", "namespace x.alice not found".to_string()),
            ),
            (
                KeyError::Pending(ns()),
                (
                    400,
                    "invalid_request",
                    "namespace x.alice is still waiting for the operator's approval".into(),
                ),
            ),
            (
                KeyError::Exists {
                    kid: "nsk_1".into(),
                },
                (
                    409,
                    "conflict",
                    "this public key is already registered on this namespace (kid nsk_1)".into(),
                ),
            ),
            (
                KeyError::NotFound {
                    namespace: ns(),
                    kid: "nsk_1".into(),
                },
                (
                    404,
                    "not_found",
                    "signing key nsk_1 on x.alice not found".into(),
                ),
            ),
        ];
        for (e, expected) in cases {
            assert_eq!(reads(e), expected);
        }
    }

    #[test]
    fn operator_refusals_read_as_before() {
        let usage = Usage {
            workers: 2,
            keys: 1,
            ..Usage::default()
        };
        let cases = [
            (AdminError::NotFound(ns()), (404, "not_found", "namespace x.alice not found")),
            (
                AdminError::NoPendingClaim(ns()),
                (404, "not_found", "pending claim on x.alice not found"),
            ),
            (
                AdminError::NoSuchTenant(TenantId::parse("org.nobody").unwrap()),
                (404, "not_found", "tenant org.nobody not found"),
            ),
            (
                refused(ChangeRefused::HeldByTenant),
                (409, "conflict", "namespace x.alice is claimed by a tenant; release it first"),
            ),
            (
                refused(ChangeRefused::Reserved),
                (409, "conflict", "namespace x.alice is reserved; release the reservation, then claim it"),
            ),
            (
                refused(ChangeRefused::InUse(NamespaceChange::Release, usage)),
                (409, "conflict", "namespace x.alice has 2 active worker(s) and 1 unrevoked signing key(s) and cannot be released; revoke them first, or force it (force-release)"),
            ),
            (
                refused(ChangeRefused::InUse(NamespaceChange::Transfer, usage)),
                (409, "conflict", "namespace x.alice has 2 active worker(s) and 1 unrevoked signing key(s) and cannot be transferred; revoke them first, or force it (force-transfer)"),
            ),
        ];
        for (e, (status, code, message)) in cases {
            assert_eq!(reads(e), (status, code, message.to_string()));
        }
    }
}

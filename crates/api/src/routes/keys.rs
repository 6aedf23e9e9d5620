//! Receipt signing keys: the public keys every receipt was ever signed with
//! (`GET /api/v1/keys`), and the operator's rotation (`POST /api/v1/keys/rotate`).
//! The handlers call the use case once (`service::receipt_keys`) and map its
//! [`RotateError`] here; where the key comes from is `crate::receipt_keys`.

use actix_web::http::StatusCode;
use actix_web::web;
use base64::Engine;
use registry::receipt_keys::PublishedKey;
use service::receipt_keys::RotateError;

pub use api_types::keys::{KeyList, PublicKeyView, RotatedKey};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::resource;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/keys", &["GET"]).route(web::get().to(keys)))
        .service(resource("/api/v1/keys/rotate", &["POST"]).route(web::post().to(rotate_key)));
}

/// A published key as the API shows it.
fn view(k: PublishedKey) -> PublicKeyView {
    PublicKeyView {
        kid: k.kid,
        public_key: base64::engine::general_purpose::STANDARD.encode(&k.public_key),
        algorithm: "Ed25519".into(),
        status: if k.retired_at.is_some() {
            "retired"
        } else {
            "active"
        }
        .into(),
        created_at: k.created_at,
        retired_at: k.retired_at,
    }
}

fn views(keys: Vec<PublishedKey>) -> Vec<PublicKeyView> {
    keys.into_iter().map(view).collect()
}

/// Every key receipts were ever signed with (public).
#[utoipa::path(get, path = "/api/v1/keys", tag = "decisions", responses((status = 200, body = KeyList)))]
pub async fn keys(state: web::Data<AppState>) -> Result<web::Json<KeyList>, ApiError> {
    Ok(web::Json(KeyList {
        keys: views(state.hall.receipt_keys().await?),
    }))
}

/// Operator: starts a new receipt signing key. With the generated key file a
/// fresh key is made; with `HALL_RECEIPT_SIGNING_KEY_FILE` the file is read
/// again (write the new key there first); a key given inline in
/// `HALL_RECEIPT_SIGNING_KEY` is changed by configuration only (409). Other
/// replicas read their own key source again and switch when it holds the new key.
#[utoipa::path(post, path = "/api/v1/keys/rotate", tag = "decisions",
    security(("bearer" = [])),
    responses((status = 200, body = RotatedKey), (status = 403, body = ErrorBody),
        (status = 409, description = "The key source cannot give a new key", body = ErrorBody)))]
pub async fn rotate_key(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<RotatedKey>, ApiError> {
    principal.require_operator()?;
    let rotated = state
        .hall
        .rotate_receipt_key(&state.receipt_key_source)
        .await?;
    Ok(web::Json(RotatedKey {
        kid: rotated.kid,
        retired_kid: rotated.retired_kid,
        keys: views(rotated.keys),
    }))
}

impl From<RotateError> for ApiError {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::CannotRotate(_) | RotateError::StillActive { .. } => {
                ApiError::new(StatusCode::CONFLICT, "cannot_rotate", e.to_string())
            }
            RotateError::SourceUnusable(m) => {
                tracing::error!(error = %m, "receipt key rotation failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "receipt_key_unavailable",
                    m,
                )
            }
            RotateError::Store(e) => e.into(),
        }
    }
}

//! Receipt signing keys: the public keys every receipt was ever signed with
//! (`GET /api/v1/keys`), and the operator's rotation (`POST /api/v1/keys/rotate`).
//! Where the key comes from and how replicas follow a rotation is
//! `crate::receipt_keys`.

use actix_web::web;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::resource;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v1/keys", &["GET"]).route(web::get().to(keys)))
        .service(resource("/api/v1/keys/rotate", &["POST"]).route(web::post().to(rotate_key)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyView {
    pub kid: String,
    /// Ed25519 public key, standard base64.
    pub public_key: String,
    #[schema(example = "Ed25519")]
    pub algorithm: String,
    /// `active` (signing now) or `retired` (still verifies old receipts).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<PublicKeyView>,
}

async fn key_list(state: &AppState) -> Result<KeyList, ApiError> {
    let keys = state.store.receipt_keys().await?;
    Ok(KeyList {
        keys: keys
            .into_iter()
            .map(|k| PublicKeyView {
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
            })
            .collect(),
    })
}

/// Every key receipts were ever signed with (public).
#[utoipa::path(get, path = "/api/v1/keys", tag = "decisions", responses((status = 200, body = KeyList)))]
pub async fn keys(state: web::Data<AppState>) -> Result<web::Json<KeyList>, ApiError> {
    Ok(web::Json(key_list(&state).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKey {
    /// The kid receipts are signed with from now on.
    pub kid: String,
    /// The kid it replaced (still published: its receipts verify).
    pub retired_kid: String,
    pub keys: Vec<PublicKeyView>,
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
    use crate::receipt_keys::{KeyError, ROTATION_CHANNEL};
    principal.require_operator()?;
    let active = state.receipts.key();
    let next = state
        .receipt_key_source
        .next(&active)
        .map_err(|e| match e {
            KeyError::CannotRotate(m) => {
                ApiError::new(actix_web::http::StatusCode::CONFLICT, "cannot_rotate", m)
            }
            KeyError::Invalid(m) => {
                tracing::error!(error = %m, "receipt key rotation failed");
                ApiError::new(
                    actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "receipt_key_unavailable",
                    m,
                )
            }
        })?;
    // Published before first use: a receipt never names an unpublished kid.
    state
        .store
        .publish_receipt_key(&next.kid, next.key.verifying_key().as_bytes())
        .await?;
    let kid = next.kid.clone();
    state.receipts.set_key(next);
    tracing::info!(kid = %kid, retired = %active.kid, "receipt signing key rotated");
    if let Err(e) = state.store.announce(ROTATION_CHANNEL, &kid).await {
        tracing::warn!(error = %e, "could not announce the rotation to other replicas");
    }
    Ok(web::Json(RotatedKey {
        kid,
        retired_kid: active.kid.clone(),
        keys: key_list(&state).await?.keys,
    }))
}

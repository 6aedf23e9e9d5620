//! `Idempotency-Key` on the decision endpoints: a client that did not hear
//! the answer retries with the same key and gets the original decision, never
//! a second receipt — on any replica, and also while the first attempt is
//! still being decided (the repeat waits for it).
//!
//! The rows and their locking are in `registry::idempotency`; this module
//! reads the header, fingerprints the request and waits for a key in flight.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use registry::idempotency::{ClaimOutcome, CompletedKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// The response header that marks an answer given again.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// How long a claim is held before another request with the same key may
/// take it over (its holder is presumed dead). Far longer than a decision takes.
const LEASE: Duration = Duration::from_secs(30);
/// How long a repeat waits for the first attempt before answering 409.
const WAIT: Duration = Duration::from_secs(35);

/// A client's idempotency key: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice)",
            ));
        }
        Ok(Self(raw.to_string()))
    }

    /// The key a request carries, if any.
    pub fn from_request(req: &HttpRequest) -> Result<Option<Self>, ApiError> {
        let mut values = req.headers().get_all(HEADER);
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "send one Idempotency-Key header, not several",
            ));
        }
        let raw = value.to_str().map_err(|_| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            )
        })?;
        Self::parse(raw).map(Some)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The fingerprint a repeat must match: SHA-256 (hex) of the request as parsed.
pub fn request_hash(request: &impl serde::Serialize) -> Result<String, ApiError> {
    let bytes = serde_json::to_vec(request).map_err(ApiError::internal)?;
    Ok(wcp::canonical::hex(&Sha256::digest(bytes)))
}

/// What a request with a key is to do.
pub enum Turn {
    /// Decide, holding this claim; give it back with [`release`] if no receipt is made.
    Decide(Uuid),
    /// Answer the decision already made for this key.
    Replay(CompletedKey),
}

/// Claims the key, or finds its decision, waiting while another request holds it.
pub async fn take_turn(
    principal: &Principal,
    state: &AppState,
    key: &IdempotencyKey,
    request_hash: &str,
) -> Result<Turn, ApiError> {
    let store = state.store.tenant(&principal.tenant_id);
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        match store
            .claim_idempotency(key.as_str(), request_hash, LEASE)
            .await?
        {
            ClaimOutcome::Claimed(token) => return Ok(Turn::Decide(token)),
            ClaimOutcome::Completed(done) => return Ok(Turn::Replay(done)),
            ClaimOutcome::OtherRequest => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_reused",
                    format!(
                        "Idempotency-Key {} was used in the last 24 hours with a different \
                         request body; use a new key for a new request",
                        key.as_str()
                    ),
                ))
            }
            ClaimOutcome::InFlight if tokio::time::Instant::now() >= deadline => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_flight",
                    format!(
                        "a request with Idempotency-Key {} is still being decided; retry later",
                        key.as_str()
                    ),
                ))
            }
            ClaimOutcome::InFlight => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// Gives the claim back after a request that made no receipt, so a retry can decide.
pub async fn release(principal: &Principal, state: &AppState, key: &IdempotencyKey, token: Uuid) {
    if let Err(e) = state
        .store
        .tenant(&principal.tenant_id)
        .release_idempotency(key.as_str(), token)
        .await
    {
        // The lease runs out in LEASE; a retry waits until then.
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
}

#[cfg(test)]
mod tests {
    use super::IdempotencyKey;

    #[test]
    fn a_uuid_is_a_valid_key() {
        assert!(IdempotencyKey::parse("0b6d3f3e-4f1e-4a53-9b5c-2f0d3c1e9a77").is_ok());
    }

    #[test]
    fn empty_long_spaced_or_non_ascii_keys_are_refused() {
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("two words").is_err());
        assert!(IdempotencyKey::parse("clé").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
    }
}

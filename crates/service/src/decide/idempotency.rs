//! `Idempotency-Key` of a decision: a client that did not hear the answer
//! retries with the same key and gets the original decision, never a second
//! receipt — on any replica, and also while the first attempt is still being
//! decided (the repeat waits for it).
//!
//! The rows and their locking are in `registry::idempotency`; this module
//! holds the key, the request's fingerprint and the wait for a key in flight.
//! Reading the header is `api`'s.

use std::time::Duration;

use registry::idempotency::{ClaimOutcome, CompletedKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::DecideError;
use crate::{Caller, Hall};

/// How long a claim is held before another request with the same key may
/// take it over (its holder is presumed dead). Far longer than a decision takes.
const LEASE: Duration = Duration::from_secs(30);
/// How long a repeat waits for the first attempt before giving up.
const WAIT: Duration = Duration::from_secs(35);

/// A client's idempotency key: 1–255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// A key that is not 1–255 visible ASCII characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice)")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a repeat must match: SHA-256 (hex) of the request as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of a request as the client sent it (its JSON).
    pub fn of(request: &impl serde::Serialize) -> Result<Self, serde_json::Error> {
        let bytes = serde_json::to_vec(request)?;
        Ok(Self(wcp::canonical::hex(&Sha256::digest(bytes))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A decision's key and the fingerprint of the request that carries it.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
}

/// What a request with a key is to do.
pub(super) enum Turn {
    /// Decide, holding this claim; give it back with [`release`] if no receipt is made.
    Decide(Uuid),
    /// Answer the decision already made for this key.
    Replay(CompletedKey),
}

/// Claims the key, or finds its decision, waiting while another request holds it.
pub(super) async fn take_turn(
    hall: &Hall,
    caller: Caller<'_>,
    this: &Idempotency,
) -> Result<Turn, DecideError> {
    let store = hall.store.tenant(caller.tenant);
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut pause = Duration::from_millis(5);
    loop {
        match store
            .claim_idempotency(this.key.as_str(), this.fingerprint.as_str(), LEASE)
            .await?
        {
            ClaimOutcome::Claimed(token) => return Ok(Turn::Decide(token)),
            ClaimOutcome::Completed(done) => return Ok(Turn::Replay(done)),
            ClaimOutcome::OtherRequest => {
                return Err(DecideError::IdempotencyKeyReused(this.key.clone()))
            }
            ClaimOutcome::InFlight if tokio::time::Instant::now() >= deadline => {
                return Err(DecideError::IdempotencyKeyInFlight(this.key.clone()))
            }
            ClaimOutcome::InFlight => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        }
    }
}

/// Gives the claim back after a request that made no receipt, so a retry can decide.
pub(super) async fn release(hall: &Hall, caller: Caller<'_>, key: &IdempotencyKey, token: Uuid) {
    if let Err(e) = hall
        .store
        .tenant(caller.tenant)
        .release_idempotency(key.as_str(), token)
        .await
    {
        // The lease runs out in LEASE; a retry waits until then.
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
}

#[cfg(test)]
mod tests {
    use super::{Fingerprint, IdempotencyKey};

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

    #[test]
    fn the_fingerprint_is_the_sha256_of_the_request_as_sent() {
        let a = Fingerprint::of(&serde_json::json!({"env": "dev"})).unwrap();
        let b = Fingerprint::of(&serde_json::json!({"env": "development"})).unwrap();
        assert_eq!(a.as_str().len(), 64);
        assert_ne!(a, b, "two spellings of one env are two requests");
    }
}

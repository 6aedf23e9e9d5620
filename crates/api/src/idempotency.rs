//! `Idempotency-Key` on the decision endpoints: the headers. What a key
//! means — the fingerprint a repeat must match, the wait for a key in
//! flight, the replay — is the decision use case's
//! (`service::decide::idempotency`).

use actix_web::HttpRequest;
use service::decide::IdempotencyKey;

use crate::error::ApiError;

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// The response header that marks an answer given again.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_idempotency_key", message)
}

/// The key a request carries, if any.
pub fn key_from_request(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let mut values = req.headers().get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("send one Idempotency-Key header, not several"));
    }
    let raw = value
        .to_str()
        .map_err(|_| invalid("Idempotency-Key must be visible ASCII"))?;
    IdempotencyKey::parse(raw)
        .map(Some)
        .map_err(|e| invalid(e.to_string()))
}

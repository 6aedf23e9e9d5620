//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the
//! receiver checks `webhook-signature`, a space-separated list of
//! `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`,
//! with the endpoint's secret `whsec_<base64 of the key bytes>`. During a
//! rotation's overlap both secrets sign, so a receiver holding either one
//! accepts the delivery.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix every secret is written with.
pub const SECRET_PREFIX: &str = "whsec_";
/// Key bytes of a generated secret.
pub const SECRET_BYTES: usize = 32;
/// The fewest key bytes a secret may have (Standard Webhooks: 24 to 64).
pub const MIN_SECRET_BYTES: usize = 24;
pub const MAX_SECRET_BYTES: usize = 64;

/// An endpoint's signing key. Its `Debug` and `Display` never show the key:
/// only [`SigningSecret::expose`] does, for the one answer that hands it to
/// the endpoint's owner and for storage.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret starts with {SECRET_PREFIX}")]
    Prefix,
    #[error("a signing secret is {SECRET_PREFIX} and base64")]
    Base64,
    #[error("a signing secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")]
    Length,
}

impl SigningSecret {
    /// A secret of these key bytes (from a random generator).
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes.to_vec())
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let b64 = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = STANDARD.decode(b64).map_err(|_| SecretError::Base64)?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length);
        }
        Ok(Self(bytes))
    }

    /// The secret as written: `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(whsec_***)")
    }
}

/// One `v1,<base64>` signature of a delivery.
pub fn sign(secret: &SigningSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC takes any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[&SigningSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_the_standard_webhooks_reference_vector() {
        // The test vector of the Standard Webhooks reference libraries.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_give_two_signatures() {
        let a = SigningSecret::from_bytes([1; SECRET_BYTES]);
        let b = SigningSecret::from_bytes([2; SECRET_BYTES]);
        let h = signature_header(&[&a, &b], "msg_1", 5, b"{}");
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(
            parts,
            vec![sign(&a, "msg_1", 5, b"{}"), sign(&b, "msg_1", 5, b"{}")]
        );
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn a_secret_reads_back_and_never_shows_in_debug() {
        let s = SigningSecret::from_bytes([7; SECRET_BYTES]);
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text).unwrap(), s);
        assert!(!format!("{s:?}").contains(&text[6..]));
        assert_eq!(SigningSecret::parse("abc"), Err(SecretError::Prefix));
        assert_eq!(SigningSecret::parse("whsec_AAAA"), Err(SecretError::Length));
        assert_eq!(SigningSecret::parse("whsec_!!"), Err(SecretError::Base64));
    }
}

//! Namespace signing keys: Ed25519 public keys registered on an authority
//! namespace, accepted as base64 (standard or URL-safe, padded or not) or hex.

use base64::Engine;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("public_key must be an Ed25519 public key: 32 bytes as base64 or 64 hex characters")]
    Encoding,
    #[error("public_key is {0} bytes long; an Ed25519 public key is 32")]
    Length(usize),
    #[error("public_key is not a valid Ed25519 point")]
    NotAPoint,
}

/// A parsed, valid Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespacePublicKey(VerifyingKey);

impl NamespacePublicKey {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| KeyError::Encoding)?
        } else {
            decode_base64(text).ok_or(KeyError::Encoding)?
        };
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Length(bytes.len()))?;
        VerifyingKey::from_bytes(&array)
            .map(Self)
            .map_err(|_| KeyError::NotAPoint)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// Standard base64 with padding, as the API shows keys.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.as_bytes())
    }

    /// A key id derived from the key itself: `nsk_` + the first 16 hex
    /// characters of its SHA-256, so the same key always gets the same kid.
    pub fn kid(&self) -> String {
        let digest = Sha256::digest(self.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("nsk_{hex}")
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn sample() -> VerifyingKey {
        SigningKey::from_bytes(&[7u8; 32]).verifying_key()
    }

    #[test]
    fn accepts_base64_url_safe_and_hex_spellings_of_one_key() {
        let vk = sample();
        let bytes = vk.as_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let std = base64::engine::general_purpose::STANDARD.encode(bytes);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let parsed: Vec<_> = [hex.as_str(), std.as_str(), url.as_str()]
            .iter()
            .map(|t| NamespacePublicKey::parse(t).unwrap())
            .collect();
        assert!(parsed.iter().all(|k| k.as_bytes() == bytes));
        assert_eq!(parsed[0].kid(), parsed[1].kid());
        assert!(parsed[0].kid().starts_with("nsk_") && parsed[0].kid().len() == 20);
        assert_eq!(parsed[0].to_base64(), std);
    }

    #[test]
    fn rejects_wrong_lengths_garbage_and_non_points() {
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        assert_eq!(
            NamespacePublicKey::parse(&short).unwrap_err(),
            KeyError::Length(31)
        );
        assert_eq!(
            NamespacePublicKey::parse("not a key!").unwrap_err(),
            KeyError::Encoding
        );
        // y = 2 does not decompress to a curve point.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert_eq!(
            NamespacePublicKey::from_bytes(&bad).unwrap_err(),
            KeyError::NotAPoint
        );
    }
}

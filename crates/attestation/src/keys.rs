//! Namespace signing keys: Ed25519 public keys registered on an authority
//! namespace, accepted as base64 (standard or URL-safe, padded or not) or hex,
//! and the proof of possession that registering one needs.
//!
//! The proof is an Ed25519 signature, by the key being registered, over the
//! canonical JSON ([`wcp::canonical::to_canonical_json`]) of the statement
//!
//! ```json
//! {"kid":"nsk_…","namespace":"x.acme","purpose":"hall-registry/namespace-key/v1","tenant_id":"org.acme"}
//! ```
//!
//! so only the holder of the private key can register it, and a proof made
//! for one tenant and namespace proves nothing for another. It needs no
//! server state: the statement is built from the request itself.

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use wcp::canonical::to_canonical_json;
use wcp::{Namespace, TenantId};

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
        format!("nsk_{}", wcp::canonical::hex(&digest[..8]))
    }
}

/// What a proof of possession says it is for: the first field of the
/// statement, so a signature made for anything else never passes.
pub const KEY_PROOF_PURPOSE: &str = "hall-registry/namespace-key/v1";

/// Why a proof of possession was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error(
        "proof must be an Ed25519 signature (64 bytes, base64 or hex) by the key over the \
         statement {{\"kid\",\"namespace\",\"purpose\":\"{KEY_PROOF_PURPOSE}\",\"tenant_id\"}}"
    )]
    Encoding,
    #[error(
        "proof does not verify: it must be the key's signature over the canonical JSON \
         {{\"kid\":\"{kid}\",\"namespace\":\"{namespace}\",\"purpose\":\"{KEY_PROOF_PURPOSE}\",\"tenant_id\":\"{tenant}\"}}"
    )]
    Invalid {
        kid: String,
        namespace: String,
        tenant: String,
    },
}

/// A proof of possession as sent, parsed: 64 signature bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyProof(Signature);

impl KeyProof {
    /// Parses a signature given as base64 (any common alphabet) or hex.
    pub fn parse(text: &str) -> Result<Self, ProofError> {
        crate::card::parse_signature(text)
            .map(Self)
            .map_err(|_| ProofError::Encoding)
    }
}

/// The bytes a proof of possession signs: the canonical statement naming the
/// purpose, the tenant, the namespace and the key id.
pub fn key_proof_statement(tenant: &TenantId, namespace: &Namespace, kid: &str) -> Vec<u8> {
    to_canonical_json(&serde_json::json!({
        "purpose": KEY_PROOF_PURPOSE,
        "tenant_id": tenant.as_str(),
        "namespace": namespace.as_str(),
        "kid": kid,
    }))
    .into_bytes()
}

/// The proof of possession of `key` for registering it on `namespace` of
/// `tenant`, as standard base64 (what `hallctl` and tests send).
pub fn sign_key_proof(key: &SigningKey, tenant: &TenantId, namespace: &Namespace) -> String {
    let public = NamespacePublicKey(key.verifying_key());
    let statement = key_proof_statement(tenant, namespace, &public.kid());
    base64::engine::general_purpose::STANDARD.encode(key.sign(&statement).to_bytes())
}

/// Whether `proof` shows that whoever registers `key` on `namespace` for
/// `tenant` holds its private half.
pub fn check_key_proof(
    key: &NamespacePublicKey,
    tenant: &TenantId,
    namespace: &Namespace,
    proof: &KeyProof,
) -> Result<(), ProofError> {
    let kid = key.kid();
    let statement = key_proof_statement(tenant, namespace, &kid);
    key.verifying_key()
        .verify(&statement, &proof.0)
        .map_err(|_| ProofError::Invalid {
            kid,
            namespace: namespace.to_string(),
            tenant: tenant.to_string(),
        })
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

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn ns(s: &str) -> Namespace {
        Namespace::parse(s).unwrap()
    }

    #[test]
    fn the_proof_statement_is_canonical_json_naming_purpose_tenant_namespace_and_kid() {
        let statement = key_proof_statement(&t("org.acme"), &ns("x.acme"), "nsk_0011223344556677");
        assert_eq!(
            String::from_utf8(statement).unwrap(),
            r#"{"kid":"nsk_0011223344556677","namespace":"x.acme","purpose":"hall-registry/namespace-key/v1","tenant_id":"org.acme"}"#
        );
    }

    #[test]
    fn a_proof_is_byte_for_byte_what_the_python_client_makes() {
        // RFC 8032 §7.1 test 1's seed; the same vector is pinned in
        // clients/python/tests/test_crypto.py.
        let seed: [u8; 32] = (0..32)
            .map(|i| {
                u8::from_str_radix(
                    &"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
                        [2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect::<Vec<u8>>()
            .try_into()
            .unwrap();
        let proof = sign_key_proof(
            &SigningKey::from_bytes(&seed),
            &t("org.acme"),
            &ns("x.acme"),
        );
        assert_eq!(
            proof,
            "Z2yFMTCIXuyroF4iCopJXZl46oDJ977O0I34xZxWK+SQp20YEoaimxQLeSQlAExEIKtnXTK1pRYmtiOYDhz6DQ=="
        );
    }

    #[test]
    fn a_proof_verifies_only_for_its_key_tenant_and_namespace() {
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let key = NamespacePublicKey(signing.verifying_key());
        let (acme, x) = (t("org.acme"), ns("x.acme"));
        let proof = KeyProof::parse(&sign_key_proof(&signing, &acme, &x)).unwrap();
        assert_eq!(check_key_proof(&key, &acme, &x, &proof), Ok(()));

        // Replayed for another tenant or namespace, it proves nothing.
        for (tenant, namespace) in [(t("org.other"), x.clone()), (acme.clone(), ns("x.other"))] {
            assert!(matches!(
                check_key_proof(&key, &tenant, &namespace, &proof),
                Err(ProofError::Invalid { .. })
            ));
        }
        // Someone else's key cannot vouch for this one.
        let squatter = SigningKey::from_bytes(&[9u8; 32]);
        let forged = KeyProof::parse(&sign_key_proof(&squatter, &acme, &x)).unwrap();
        let e = check_key_proof(&key, &acme, &x, &forged).unwrap_err();
        assert!(e.to_string().contains(&key.kid()), "{e}");
        // A signature over anything else (a card, the bare kid) does not either.
        let bare = base64::engine::general_purpose::STANDARD
            .encode(signing.sign(key.kid().as_bytes()).to_bytes());
        assert!(check_key_proof(&key, &acme, &x, &KeyProof::parse(&bare).unwrap()).is_err());
        assert_eq!(
            KeyProof::parse("not a signature"),
            Err(ProofError::Encoding)
        );
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

//! Credentials from arbitrary input: session tokens (HS256 JWTs), API keys
//! and scope lists. No panic; nothing but a token this server minted
//! verifies, and no edit of a minted token does.
#![no_main]

use std::time::Duration;

use api::auth::{AuthConfig, Principal, Via};
use libfuzzer_sys::fuzz_target;
use registry::credentials::ApiKeySecret;
use registry::{Scopes, TenantStatus};
use wcp::TenantId;

fuzz_target!(|data: &[u8]| {
    let auth = AuthConfig::new(&[42u8; 32], Duration::from_secs(900), 0, 0);
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(auth.verify(text).is_err());
        let _ = ApiKeySecret::presented(text).hash();
        let _ = ApiKeySecret::supplied(text);
        let names: Vec<&str> = text.split(',').collect();
        if let Ok(scopes) = Scopes::parse(&names) {
            assert_eq!(Scopes::parse(&scopes.names()), Ok(scopes));
        }
    }
    // The input as edits of a minted token: (position, XOR mask) pairs.
    let principal = Principal {
        tenant_id: TenantId::parse("org.acme").unwrap(),
        key_id: uuid::Uuid::from_u128(7),
        key_name: "ci".into(),
        scopes: Scopes::all(),
        operator: false,
        via: Via::ApiKey,
        tenant_status: TenantStatus::Active,
        expires_at: None,
        key_expires_at: None,
    };
    let token = auth
        .mint(&principal, Scopes::all(), Duration::from_secs(900))
        .unwrap()
        .token;
    let mut bytes = token.clone().into_bytes();
    for edit in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        bytes[at] ^= edit[2];
    }
    if let Ok(edited) = String::from_utf8(bytes) {
        assert_eq!(auth.verify(&edited).is_ok(), edited == token, "{edited}");
    }
});

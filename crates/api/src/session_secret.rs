//! The secret session tokens are signed with (HS256). It comes from the
//! configuration — `HALL_SESSION_SECRET`, or the file
//! `HALL_SESSION_SECRET_FILE`, or else `<data dir>/session-secret`, generated
//! (0600) on first start — and never from the database: someone who can read
//! the database or a backup of it cannot mint a session. Replicas must share
//! it, like the receipt signing key. Replacing it (and restarting) ends every
//! session signed with the old one at once; API keys are unaffected, and
//! clients log in again.

use std::path::Path;

use base64::Engine;

use crate::config::Config;

/// The generated file's name in the data directory.
pub const SESSION_SECRET_FILE: &str = "session-secret";
/// The fewest bytes a session secret may have (HS256 wants at least 256 bits).
pub const MIN_BYTES: usize = 32;

/// The secret `config` names, generating the data-directory file when no
/// secret is configured and the file does not exist yet.
pub fn load(config: &Config) -> Result<Vec<u8>, String> {
    if let Some(text) = config.session_secret.as_deref().filter(|t| !t.is_empty()) {
        return parse(text).ok_or_else(|| {
            format!("HALL_SESSION_SECRET must hold at least {MIN_BYTES} bytes, in base64 or hex")
        });
    }
    let path = match &config.session_secret_file {
        Some(p) => p.clone(),
        None => {
            let path = config.resolved_data_dir().join(SESSION_SECRET_FILE);
            if !path.exists() {
                crate::receipt_keys::write_new_seed(&path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "generated a session secret");
            }
            path
        }
    };
    read_file(&path)
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).ok_or_else(|| {
        format!(
            "{} must hold at least {MIN_BYTES} bytes, in base64 or hex",
            path.display()
        )
    })
}

/// At least [`MIN_BYTES`] bytes, as hex (an even number of hex digits) or
/// standard base64.
fn parse(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    let bytes = if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    (bytes.len() >= MIN_BYTES).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_at_least_32_bytes_of_hex_or_base64() {
        assert_eq!(parse(&"ab".repeat(32)), Some(vec![0xab; 32]));
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 40]);
        assert_eq!(parse(&format!("{b64}\n")), Some(vec![7; 40]));
        assert_eq!(parse(&"ab".repeat(31)), None, "31 bytes");
        assert_eq!(parse("not a secret"), None);
        assert_eq!(parse(""), None);
    }
}

//! The stored login of `hallctl auth login`.
//!
//! One file, `$XDG_CONFIG_HOME/hall-registry/credentials.json` (else
//! `~/.config/hall-registry/credentials.json`), holding the registry URL, the
//! API key and who the key belongs to. It is created mode 0600 in a 0700
//! directory and replaced atomically (a new 0600 file renamed over the old
//! one), so no moment exists where the key is readable by others or half
//! written. The key never leaves this module except into an
//! `Authorization` header: it is a [`Secret`], whose `Debug` hides it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// An API key or session token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// For the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Enough of the key to recognise it (`phk_abcd…`), never enough to use it.
    pub fn hint(&self) -> String {
        let shown = (self.0.chars().count() / 3).min(8);
        let start: String = self.0.chars().take(shown).collect();
        format!("{start}…")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", self.hint())
    }
}

/// What `auth login` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub registry: String,
    pub api_key: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_at: Option<String>,
}

const DIR: &str = "hall-registry";
const FILE: &str = "credentials.json";

/// Where the login is stored; `None` without `XDG_CONFIG_HOME` or `HOME`.
pub fn path() -> Option<PathBuf> {
    let nonempty = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let config =
        nonempty("XDG_CONFIG_HOME").or_else(|| nonempty("HOME").map(|h| h.join(".config")))?;
    Some(config.join(DIR).join(FILE))
}

/// Reads the stored login, if there is one. A file others may read is used
/// but warned about.
pub fn load(path: &Path) -> Result<Option<Credentials>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            crate::output::note!(
                "hallctl: warning: {} can be read by other users; run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{} is not a hallctl login ({e})", path.display()))
}

/// Writes the login: a 0700 directory, a 0600 file, renamed into place.
pub fn save(path: &Path, credentials: &Credentials) -> Result<(), Failure> {
    let dir = path
        .parent()
        .ok_or_else(|| Failure::error(format!("{} has no directory", path.display())))?;
    let fail = |what: &Path, e: std::io::Error| Failure::error(format!("{}: {e}", what.display()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| fail(dir, e))?;
    let body = serde_json::to_vec_pretty(credentials)?;
    let tmp = dir.join(format!(".{FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask can only take bits away; make sure of exactly 0600.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(&body)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(path, e));
    }
    Ok(())
}

/// Deletes the stored login; false when there was none.
pub fn remove(path: &Path) -> Result<bool, Failure> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure::error(format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_never_shows_more_than_a_third_of_the_key() {
        assert_eq!(
            Secret::new("phk_abcdefghijklmnopqrstuvwxyz0123456789".into()).hint(),
            "phk_abcd…"
        );
        assert_eq!(Secret::new("short".into()).hint(), "s…");
        assert_eq!(Secret::new(String::new()).hint(), "…");
        assert!(
            !format!("{:?}", Secret::new("phk_secretsecretsecret".into())).contains("secretsecret")
        );
    }

    #[test]
    fn save_writes_a_0600_file_in_a_0700_directory_and_replaces_it_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b").join(DIR).join(FILE);
        let creds = |key: &str| Credentials {
            registry: "http://r".into(),
            api_key: Secret::new(key.into()),
            tenant_id: None,
            key_name: None,
            saved_at: None,
        };
        save(&path, &creds("k1")).unwrap();
        save(&path, &creds("k2")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(load(&path).unwrap().unwrap().api_key.expose(), "k2");
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
        assert!(load(&path).unwrap().is_none());
    }
}

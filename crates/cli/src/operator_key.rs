//! The operator API key file the server writes, for `hallctl auth login --operator`.
//!
//! On the first start of a registry that generated its operator key (no
//! `HALL_BOOTSTRAP_API_KEY`), the server writes the key to
//! `<data dir>/operator-api-key`, mode 0600. This module finds that file the
//! way the server finds its data directory and reads it, turning each way
//! that can fail into a sentence that says what to do.
//!
//! The resolution rule is a twin of `api::config::Config::resolved_data_dir`
//! (and the file name of `api::runtime::OPERATOR_KEY_FILE`), duplicated here
//! so that `hallctl` does not link the server. Change both together;
//! `tests/commands.rs` (`the_operator_key_file_is_found_where_the_server_puts_it`)
//! checks that the two agree.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::credentials::Secret;
use crate::failure::Failure;

/// The file name inside the data directory (`api::runtime::OPERATOR_KEY_FILE`).
pub const FILE: &str = "operator-api-key";

/// The data directory when the server runs as root.
pub const ROOT_DATA_DIR: &str = "/var/lib/hall-registry";

/// The server's data directory and why it is that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub path: PathBuf,
    pub source: &'static str,
}

/// Resolves the data directory exactly as the server does:
/// `--data-dir` (here: `flag`), else `HALL_DATA_DIR`, else
/// `/var/lib/hall-registry` as root, else `$XDG_DATA_HOME/hall-registry`, else
/// `~/.local/share/hall-registry` (`.hall-registry` without `HOME`).
pub fn resolve(flag: Option<PathBuf>) -> DataDir {
    resolve_with(flag, |name| std::env::var_os(name), running_as_root())
}

fn resolve_with(
    flag: Option<PathBuf>,
    env: impl Fn(&str) -> Option<OsString>,
    root: bool,
) -> DataDir {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let (path, source) = if let Some(dir) = flag.filter(|d| !d.as_os_str().is_empty()) {
        (dir, "--data-dir")
    } else if let Some(dir) = env("HALL_DATA_DIR") {
        (PathBuf::from(dir), "HALL_DATA_DIR")
    } else if root {
        (PathBuf::from(ROOT_DATA_DIR), "the default as root")
    } else if let Some(xdg) = env("XDG_DATA_HOME") {
        (PathBuf::from(xdg).join("hall-registry"), "$XDG_DATA_HOME")
    } else {
        match env("HOME") {
            Some(home) => (
                PathBuf::from(home).join(".local/share/hall-registry"),
                "the default",
            ),
            None => (PathBuf::from(".hall-registry"), "the default without HOME"),
        }
    };
    DataDir { path, source }
}

/// The effective uid is 0 (read from /proc, as the server does: no unsafe code).
pub fn running_as_root() -> bool {
    effective_uid() == Some(0)
}

fn effective_uid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// Reads the operator key from `<dir>/operator-api-key`.
pub fn read(dir: &DataDir) -> Result<(PathBuf, Secret), Failure> {
    let path = dir.path.join(FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| explain(dir, &path, &e))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(Failure::error(format!(
            "{} is empty; pass the operator key with --api-key instead",
            path.display()
        )));
    }
    Ok((path, Secret::new(key.to_string())))
}

/// Why the key file could not be read, and what to do about it.
fn explain(dir: &DataDir, path: &Path, e: &std::io::Error) -> Failure {
    use std::io::ErrorKind;
    let shown = path.display();
    match e.kind() {
        ErrorKind::NotFound => {
            let mut message = format!(
                "no operator key file at {shown} (data directory from {}). The registry writes \
                 it only on the first start of a registry that generated its operator key; a \
                 registry started with HALL_BOOTSTRAP_API_KEY has none (log in with that key: \
                 --api-key). If the server uses another data directory (its start-up banner \
                 prints it), pass --data-dir or set HALL_DATA_DIR",
                dir.source
            );
            if dir.source.starts_with("the default") && !running_as_root() {
                let as_root = Path::new(ROOT_DATA_DIR).join(FILE);
                if std::fs::symlink_metadata(&as_root).is_ok() || Path::new(ROOT_DATA_DIR).exists()
                {
                    message.push_str(&format!(
                        "; a registry started as root keeps it in {}: run hallctl as root, or \
                         --data-dir {ROOT_DATA_DIR}",
                        as_root.display()
                    ));
                }
            }
            Failure::error(message)
        }
        ErrorKind::PermissionDenied => {
            let owner = owner_of(path)
                .or_else(|| owner_of(&dir.path))
                .map(|o| format!(" (owned by {o})"))
                .unwrap_or_default();
            Failure::error(format!(
                "cannot read {shown}{owner}: permission denied. The file is mode 0600, readable \
                 only by the user who started the server: run hallctl as that user, or pass \
                 the key with --api-key"
            ))
        }
        _ => Failure::error(format!("cannot read {shown}: {e}")),
    }
}

/// `name (uid N)` of a file's owner, when it can be seen.
fn owner_of(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(path).ok()?.uid();
    let name = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
        p.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
        })
    });
    Some(match name {
        Some(n) => format!("{n}, uid {uid}"),
        None => format!("uid {uid}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_data_dir_is_resolved_in_the_servers_order() {
        let all = [
            ("HALL_DATA_DIR", "/srv/hall"),
            ("XDG_DATA_HOME", "/x/data"),
            ("HOME", "/home/u"),
        ];
        let at = |flag: Option<&str>, vars: &[(&str, &str)], root: bool| {
            resolve_with(flag.map(PathBuf::from), env(vars), root).path
        };
        assert_eq!(at(Some("/d"), &all, true), PathBuf::from("/d"));
        assert_eq!(at(None, &all, true), PathBuf::from("/srv/hall"));
        assert_eq!(at(None, &all[1..], true), PathBuf::from(ROOT_DATA_DIR));
        assert_eq!(
            at(None, &all[1..], false),
            PathBuf::from("/x/data/hall-registry")
        );
        assert_eq!(
            at(None, &all[2..], false),
            PathBuf::from("/home/u/.local/share/hall-registry")
        );
        assert_eq!(at(None, &[], false), PathBuf::from(".hall-registry"));
        // Empty variables count as unset.
        let empty = [("HALL_DATA_DIR", ""), ("XDG_DATA_HOME", ""), ("HOME", "/h")];
        assert_eq!(
            at(None, &empty, false),
            PathBuf::from("/h/.local/share/hall-registry")
        );
    }

    #[test]
    fn a_missing_file_says_where_it_looked_and_why_it_may_not_exist() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir {
            path: tmp.path().to_path_buf(),
            source: "--data-dir",
        };
        let Err(Failure::Error(m)) = read(&dir) else {
            panic!("no file, no key")
        };
        assert!(
            m.contains(&tmp.path().join(FILE).display().to_string()),
            "{m}"
        );
        assert!(
            m.contains("first start") && m.contains("HALL_BOOTSTRAP_API_KEY"),
            "{m}"
        );
        std::fs::write(tmp.path().join(FILE), "  phk_k\n").unwrap();
        assert_eq!(read(&dir).unwrap().1.expose(), "phk_k");
        std::fs::write(tmp.path().join(FILE), "\n").unwrap();
        assert!(read(&dir).is_err());
    }

    #[test]
    fn an_unreadable_file_says_to_run_as_the_servers_user() {
        let dir = DataDir {
            path: PathBuf::from("/srv/hall"),
            source: "HALL_DATA_DIR",
        };
        let e = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let Failure::Error(m) = explain(&dir, &dir.path.join(FILE), &e) else {
            panic!("an error")
        };
        assert!(m.contains("/srv/hall/operator-api-key"), "{m}");
        assert!(
            m.contains("0600") && m.contains("the user who started the server"),
            "{m}"
        );
    }
}

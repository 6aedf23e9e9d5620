//! Package hashes and capability cards: `hallctl keygen`, `hallctl hash`,
//! `hallctl attest`. The key file `keygen` writes is also what
//! `hallctl namespace key add --key-file` reads (only its public half is sent).

use std::path::{Path, PathBuf};

use api_types::attestations::AttestationView;
use api_types::workers::WorkerView;
use clap::Args;
use serde_json::{json, Value};

use super::Ctx;
use crate::client::{seg, typed};
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::say;

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The package directory.
    package_dir: PathBuf,
    /// The worker (`wrk_…` or its WCP worker id).
    #[arg(long, visible_alias = "worker-id")]
    worker: String,
    /// The private key file written by `hallctl keygen`.
    #[arg(long)]
    key: PathBuf,
    /// Days until the card expires (default: no expiry).
    #[arg(long)]
    expires_in_days: Option<u32>,
}

/// Reads a private key file: the 32-byte Ed25519 seed as base64 or hex.
pub fn read_signing_key(path: &Path) -> Result<ed25519_dalek::SigningKey, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?;
    audit::parse_seed(&text).ok_or_else(|| {
        Failure::error(format!(
            "{} is not a key file (base64 or hex of a 32-byte Ed25519 seed)",
            path.display()
        ))
    })
}

/// The public half of a signing key, as namespaces register it.
pub fn public_key(
    key: &ed25519_dalek::SigningKey,
) -> Result<attestation::NamespacePublicKey, Failure> {
    attestation::NamespacePublicKey::from_bytes(key.verifying_key().as_bytes())
        .map_err(|e| Failure::error(e.to_string()))
}

/// A new file for a private key: mode 0600, and refused when `path`
/// exists (a key is never overwritten).
pub fn create_secret_file(path: &Path) -> Result<std::fs::File, Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            Failure::error(format!(
                "cannot create {} (it must not exist yet): {e}",
                path.display()
            ))
        })
}

pub fn keygen(ctx: &Ctx, out: &Path) -> CmdResult {
    use base64::Engine;
    use std::io::Write;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Failure::error(format!("no randomness: {e}")))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let mut file = create_secret_file(out)?;
    writeln!(
        file,
        "{}",
        base64::engine::general_purpose::STANDARD.encode(seed)
    )?;
    let public = public_key(&key)?;
    if !ctx.out.json(&json!({
        "private_key_file": out.display().to_string(),
        "public_key": public.to_base64(),
        "kid": public.kid(),
    })) {
        say!("Private key: {} (mode 0600; keep it secret)", out.display());
        say!("Public key:  {}", public.to_base64());
        say!("Key id:      {}", public.kid());
    }
    Ok(Outcome::Done)
}

/// Every regular file under `root`, as (relative POSIX path, content).
/// Symbolic links to files are read; directories behind symbolic links are not entered.
fn package_files(root: &Path) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), Failure> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Failure::error(format!("cannot read {}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
                let rel = path.strip_prefix(root)?;
                let rel = rel
                    .to_str()
                    .ok_or_else(|| {
                        Failure::error(format!("{} is not a UTF-8 file name", path.display()))
                    })?
                    .to_string();
                let content = std::fs::read(&path)
                    .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))?;
                out.push((rel, content));
            }
        }
        Ok(())
    }
    if !root.is_dir() {
        return Err(Failure::error(format!(
            "{} is not a directory",
            root.display()
        )));
    }
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    Ok(files)
}

fn package_hash(root: &Path) -> Result<String, Failure> {
    use attestation::package::{package_hash, PackageFile};
    let files = package_files(root)?;
    Ok(package_hash(files.iter().map(|(p, c)| PackageFile {
        relative_path: p,
        content: c,
    })))
}

pub fn hash(ctx: &Ctx, package_dir: &Path) -> CmdResult {
    let sha256 = package_hash(package_dir)?;
    if !ctx.out.json(&json!({"sha256": sha256})) {
        say!("{sha256}");
    }
    Ok(Outcome::Done)
}

/// Signs a capability card for the package and submits it. A denied
/// attestation exits 3; one left pending exits 1.
pub fn attest(ctx: &Ctx, args: AttestArgs) -> CmdResult {
    let AttestArgs {
        package_dir,
        worker,
        key,
        expires_in_days,
    } = args;
    let key = read_signing_key(&key)?;
    let public = public_key(&key)?;
    let sha256 = package_hash(&package_dir)?;
    let client = ctx.client()?;
    let w: WorkerView = typed(&client.get(&format!("/api/v1/workers/{}", seg(&worker)?))?)?;
    let now = chrono::Utc::now();
    let mut card = json!({
        "worker_id": w.worker_id,
        "capabilities": w.capabilities,
        "sha256": sha256,
        "issued_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "kid": public.kid(),
    });
    if let Some(species) = w.worker_species_id {
        card["worker_species_id"] = Value::from(species);
    }
    if let Some(days) = expires_in_days {
        card["expires_at"] = Value::from(
            (now + chrono::Duration::days(days.into()))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    let signature = attestation::card::sign_card(&card, &key);
    let answer = client.post(
        &format!("/api/v1/workers/{}/attestations", seg(&worker)?),
        &json!({"card": card, "signature": signature}),
    )?;
    let result: AttestationView = typed(&answer)?;
    if !ctx.out.json(&answer) {
        say!("Package hash: {sha256}");
        say!("Signed by:    {}", public.kid());
        say!("Attestation:  {} {}", result.id, result.status);
        if let Some(reason) = &result.reason {
            say!("Reason:       {reason}");
        }
    }
    match result.status.as_str() {
        "attested" => Ok(Outcome::Done),
        "denied" => Ok(Outcome::Denied),
        other => Err(Failure::error(format!(
            "the registry did not attest the package ({other})"
        ))),
    }
}

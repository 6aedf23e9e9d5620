//! `hallctl audit witness|witness-key|witnesses`: a witness and monitor of
//! a tenant's verifiable log (C2SP tlog-cosignature; docs/audit.md).
//!
//! `witness --state FILE` remembers the last checkpoint it saw; each run
//! fetches the latest, checks the log's signature with the published keys
//! and its consistency with the one remembered (RFC 9162 consistency
//! proof), cosigns it with `--key` and sends the cosignature, then
//! remembers it. A smaller tree, another root at the same size or a proof
//! that fails is an ALARM: exit 1, the state left as it was, so every
//! later run alarms too until a person looks.

use std::path::Path;

use audit::cosignature::{Witness, WitnessKey};
use clap::Subcommand;
use serde_json::{json, Value};

use super::audit::{keys_from, open_checkpoint, read_text, write_file, SavedCheckpoint};
use super::Ctx;
use crate::client::CallError;
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{items, note, say};

#[derive(Debug, Subcommand)]
pub enum WitnessesCmd {
    /// The witnesses trusted to cosign your checkpoints (yours and the
    /// operator's).
    List,
    /// Trust a witness to cosign your checkpoints (admin): its verifier
    /// key, as `hallctl audit witness-key` printed it.
    Add { vkey: String },
    /// Stop trusting one of your witnesses (admin); its past cosignatures stay.
    Remove { name: String },
}

/// The state a witness keeps between runs.
const STATE_VERSION: u64 = 1;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn alarm(ctx: &Ctx, message: String) -> Failure {
    ctx.out
        .json(&json!({"ok": false, "alarm": true, "error": message}));
    Failure::error(format!("ALARM: {message}"))
}

/// `audit witness-key --name NAME --out FILE`.
pub fn generate_key(ctx: &Ctx, name: &str, out: &Path) -> CmdResult {
    use std::io::Write;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Failure::error(format!("no randomness: {e}")))?;
    let witness = Witness::new(name, ed25519_dalek::SigningKey::from_bytes(&seed))
        .map_err(|e| Failure::usage(format!("--name {name:?}: {e}")))?;
    let mut file = super::attest::create_secret_file(out)?;
    writeln!(file, "{}", witness.skey())?;
    let vkey = witness.public().vkey();
    if !ctx.out.json(&json!({
        "name": name,
        "vkey": vkey,
        "key_file": out.display().to_string(),
    })) {
        say!("{vkey}");
        note!(
            "hallctl: the private key is in {} (keep it secret); give the line above to the \
             registry: `hallctl audit witnesses add <it>` (a tenant admin) or \
             HALL_WITNESS_KEYS (the operator)",
            out.display()
        );
    }
    Ok(Outcome::Done)
}

fn read_witness(path: &Path) -> Result<Witness, Failure> {
    Witness::from_skey(&read_text(path)?).map_err(|e| {
        Failure::error(format!(
            "{} is not a witness key (hallctl audit witness-key makes one): {e}",
            path.display()
        ))
    })
}

/// Holds `<state>.lock` (made if need be) for as long as the answer lives.
fn lock_state(state: &Path) -> Result<std::fs::File, Failure> {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    let path = std::path::PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Failure::error(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Failure::error(format!(
            "another `hallctl audit witness` holds {} (one run at a time per state file)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(Failure::error(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// The remembered checkpoint: origin, size, root (hex) and the note.
struct Seen {
    origin: String,
    size: u64,
    root: [u8; 32],
    seen_at: String,
}

fn read_state(path: &Path) -> Result<Option<Seen>, Failure> {
    if !path.exists() {
        return Ok(None);
    }
    let bad = |why: &str| {
        Failure::error(format!(
            "{} is not a witness state file ({why}); it is written by this command only",
            path.display()
        ))
    };
    let v: Value = serde_json::from_str(&read_text(path)?).map_err(|_| bad("not JSON"))?;
    if v["version"].as_u64() != Some(STATE_VERSION) {
        return Err(bad("unknown version"));
    }
    Ok(Some(Seen {
        origin: v["origin"]
            .as_str()
            .ok_or_else(|| bad("no origin"))?
            .to_string(),
        size: v["tree_size"].as_u64().ok_or_else(|| bad("no tree_size"))?,
        root: v["root"]
            .as_str()
            .and_then(audit::tree::hex_hash)
            .ok_or_else(|| bad("no root"))?,
        seen_at: v["seen_at"]
            .as_str()
            .unwrap_or("an earlier run")
            .to_string(),
    }))
}

/// `audit witness --state FILE [--key FILE]`.
pub fn witness(ctx: &Ctx, state_path: &Path, key: Option<&Path>) -> CmdResult {
    let signer = key.map(read_witness).transpose()?;
    // One run at a time per state file: two overlapping runs could
    // otherwise leave the older checkpoint remembered after the newer was
    // cosigned, and a fork of the older would then be cosigned too.
    let _lock = lock_state(state_path)?;
    let seen = read_state(state_path)?;
    let client = ctx.client()?;
    let keys = keys_from(&client.get("/api/v1/keys")?, "GET /api/v1/keys")?;
    let latest = match client.call(client.request(reqwest::Method::GET, "/api/v1/audit/checkpoint"))
    {
        Ok(v) => v,
        Err(CallError::Status { status: 404, .. }) => {
            say!("Nothing to witness yet: the log has no checkpoint");
            return Ok(Outcome::Done);
        }
        Err(e) => return Err(e.into()),
    };
    let note = latest["checkpoint"]
        .as_str()
        .ok_or_else(|| Failure::error("the registry's checkpoint has no signed note"))?
        .to_string();
    let origin = latest["origin"].as_str().unwrap_or_default().to_string();
    let tenant = origin.rsplit_once('/').map(|(_, t)| t).unwrap_or_default();
    let saved = SavedCheckpoint {
        note: note.clone(),
        from: "the registry's latest checkpoint".into(),
        witnesses: Vec::new(),
    };
    // A note the log's key did not sign is no evidence of anything yet.
    let checkpoint = open_checkpoint(&saved, tenant, &keys).map_err(Failure::error)?;

    let mut checked_from = None;
    if let Some(old) = &seen {
        if old.origin != checkpoint.origin {
            return Err(Failure::error(format!(
                "{} witnesses the log {:?}; this registry and key serve {:?} (use another \
                 state file per log)",
                state_path.display(),
                old.origin,
                checkpoint.origin
            )));
        }
        if checkpoint.size < old.size {
            return Err(alarm(
                ctx,
                format!(
                "the log {} now has {} receipts, fewer than the {} seen at {}: its history was \
                 truncated, or this view differs from the one shown before",
                checkpoint.origin, checkpoint.size, old.size, old.seen_at
            ),
            ));
        }
        if checkpoint.size == old.size && checkpoint.root != old.root {
            return Err(alarm(
                ctx,
                format!(
                "the log {} shows another tree of {} receipts than the one seen at {}: a split \
                 view or a rewritten history",
                checkpoint.origin, checkpoint.size, old.seen_at
            ),
            ));
        }
        if checkpoint.size > old.size {
            let proof = client.get_query(
                "/api/v1/audit/proof/consistency",
                &[
                    ("from", old.size.to_string()),
                    ("to", checkpoint.size.to_string()),
                ],
            )?;
            let hashes: Vec<audit::merkle::Hash> = items(&proof, "hashes")
                .map(|h| {
                    h.as_str().and_then(audit::tree::hex_hash).ok_or_else(|| {
                        Failure::error("the registry's proof holds a malformed hash")
                    })
                })
                .collect::<Result<_, _>>()?;
            audit::merkle::verify_consistency(
                old.size,
                checkpoint.size,
                &old.root,
                &checkpoint.root,
                &hashes,
            )
            .map_err(|e| {
                alarm(
                    ctx,
                    format!(
                    "the log {}'s tree of {} receipts does not extend the tree of {} seen at {} \
                     ({e}): its history was rewritten, or this view differs from the one shown \
                     before",
                    checkpoint.origin, checkpoint.size, old.size, old.seen_at
                ),
                )
            })?;
        }
        checked_from = Some(old.size);
    }

    let mut cosigned_as = None;
    if let Some(w) = &signer {
        // The text exactly as the log signed it.
        let text = match note.rsplit_once("\n\n") {
            Some((text, _)) => format!("{text}\n"),
            None => checkpoint.to_text(),
        };
        let line = w.cosign(&text, now())?;
        let body = json!({ "checkpoint": format!("{note}{line}\n") });
        match client.call(
            client
                .request(reqwest::Method::POST, "/api/v1/audit/checkpoint/cosign")
                .json(&body),
        ) {
            Ok(_) => cosigned_as = Some(w.public().name().to_string()),
            // It served this checkpoint a moment ago.
            Err(CallError::Status { code, message, .. })
                if code == "unknown_checkpoint" || code == "checkpoint_mismatch" =>
            {
                return Err(alarm(
                    ctx,
                    format!(
                        "the registry disowns the checkpoint it just served ({code}): {message}"
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }

    let state = json!({
        "version": STATE_VERSION,
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "root": wcp::canonical::hex(&checkpoint.root),
        "checkpoint": note,
        "seen_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    write_file(state_path, &state)?;
    if !ctx.out.json(&json!({
        "ok": true,
        "origin": checkpoint.origin,
        "tree_size": checkpoint.size,
        "consistent_with": checked_from,
        "cosigned_as": cosigned_as,
    })) {
        let consistent = match checked_from {
            Some(n) => format!("consistent with the tree of {n} seen before"),
            None => "the first seen: remembered".to_string(),
        };
        say!(
            "OK: {} has {} receipts, signed with a published key; {consistent}{}",
            checkpoint.origin,
            checkpoint.size,
            cosigned_as
                .map(|w| format!("; cosigned as {w}"))
                .unwrap_or_default()
        );
    }
    Ok(Outcome::Done)
}

/// `audit witnesses list|add|remove`.
pub fn witnesses(ctx: &Ctx, cmd: WitnessesCmd) -> CmdResult {
    let client = ctx.client()?;
    match cmd {
        WitnessesCmd::List => {
            let list = client.get("/api/v1/audit/witnesses")?;
            if !ctx.out.json(&list) {
                let all: Vec<&Value> = items(&list, "witnesses").collect();
                if all.is_empty() {
                    say!("No witnesses (add one with `hallctl audit witnesses add <vkey>`)");
                }
                for w in all {
                    say!(
                        "{}  {}  {}",
                        w["name"].as_str().unwrap_or("-"),
                        w["registered_by"].as_str().unwrap_or("-"),
                        w["vkey"].as_str().unwrap_or("-")
                    );
                }
            }
        }
        WitnessesCmd::Add { vkey } => {
            // Checked here first: a typo is said without a round trip.
            WitnessKey::from_vkey(vkey.trim())
                .map_err(|e| Failure::usage(format!("not a witness verifier key: {e}")))?;
            let added = client.post("/api/v1/audit/witnesses", &json!({ "vkey": vkey.trim() }))?;
            if !ctx.out.json(&added) {
                say!(
                    "Witness {} added: its cosignatures of your checkpoints are accepted",
                    added["name"].as_str().unwrap_or("-")
                );
            }
        }
        WitnessesCmd::Remove { name } => {
            client.delete_query("/api/v1/audit/witnesses", &[("name", name.clone())])?;
            if !ctx.out.json(&json!({ "removed": name })) {
                say!("Witness {name} removed");
            }
        }
    }
    Ok(Outcome::Done)
}

/// Whether `note` carries a valid cosignature by each of `witnesses`;
/// names the first that it does not.
pub fn require_cosignatures(note: &str, witnesses: &[WitnessKey]) -> Result<(), String> {
    if witnesses.is_empty() {
        return Ok(());
    }
    let (_, found) = audit::cosignature::cosignatures(note, witnesses)
        .map_err(|e| format!("a witness's cosignature does not verify: {e}"))?;
    match witnesses.iter().find(|w| {
        !found
            .iter()
            .any(|c| c.witness == w.name() && c.key_id == w.key_id())
    }) {
        Some(missing) => Err(format!(
            "the checkpoint is not cosigned by witness {}: nothing says it is the history that \
             witness saw",
            missing.name()
        )),
        None => Ok(()),
    }
}

/// `--witness VKEY` values, parsed.
pub fn parse_witnesses(vkeys: &[String]) -> Result<Vec<WitnessKey>, Failure> {
    vkeys
        .iter()
        .map(|v| {
            WitnessKey::from_vkey(v.trim())
                .map_err(|e| Failure::usage(format!("--witness {v:?}: {e}")))
        })
        .collect()
}

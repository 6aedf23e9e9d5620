//! `hallctl audit verify|export`: the tenant's receipt chain, checked.
//!
//! `verify` downloads the published receipt keys and the tenant's whole
//! chain, then checks every hash, link and signature on this machine. With
//! `--export FILE` (a saved chain) or `--receipt FILE` (one receipt, or a
//! decision answer carrying one) and `--keys FILE` (the saved
//! `GET /api/v1/keys`), it checks saved material with no network at all: no
//! client is even built. The checks themselves are the `audit` crate's
//! (`verify_chain`, `verify_receipt`), the same code the registry seals with.
//! `export` saves the chain, every page, as one JSON document `--export`
//! reads. `verify --checkpoint FILE` also checks that the chain holds the
//! tree a signed checkpoint of the verifiable log names (docs/audit.md);
//! `prove RECEIPT_ID` checks one receipt's inclusion proof against the
//! latest checkpoint; `--witness VKEY` on either also requires that
//! witness's cosignature (C2SP tlog-cosignature) on the checkpoint, which is
//! what rules out a split view. `witness` is a witness and monitor
//! (`commands::witness`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use clap::{ArgGroup, Args, Subcommand};
use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};

use super::Ctx;
use crate::client::Client;
use crate::failure::{CmdResult, Failure, Outcome};
use crate::output::{items, note, say};

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check every hash, link and signature of the tenant's receipt chain.
    ///
    /// Without --export/--receipt: downloads the published keys and the
    /// tenant's whole chain from the registry, then checks them here. With
    /// --export FILE or --receipt FILE and --keys FILE: checks saved material
    /// fully offline (no registry needed). Names the first broken receipt and
    /// exits 1 if there is one.
    Verify(VerifyArgs),
    /// Save the tenant's whole receipt chain (every page) as one JSON
    /// document, for `hallctl audit verify --export FILE --keys KEYS`.
    Export {
        /// Where to write it (replaced if it exists) [default: standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Prove one of your receipts is in your verifiable log: fetches the
    /// latest signed checkpoint, the receipt and its inclusion proof (RFC
    /// 9162), and checks the checkpoint's signature against the published
    /// keys and the proof against its tree head, here. Exits 1 if either
    /// fails.
    Prove {
        /// The receipt (decision) id.
        receipt_id: String,
        /// Require this witness's cosignature on the checkpoint (its
        /// verifier key; repeat for more): the latest checkpoint it
        /// cosigned is used, and no split view can pass unless the witness
        /// lied.
        #[arg(long, value_name = "VKEY")]
        witness: Vec<String>,
    },
    /// Witness and monitor your log: remember the latest checkpoint in
    /// --state, check each new one is signed with a published key and
    /// extends the one remembered (consistency proof), cosign it with
    /// --key and send the cosignature. A shrunk tree, another tree of the
    /// same size or a failed proof is an ALARM (exit 1; the state is kept,
    /// so the next run alarms again). Run it from cron, say every minute.
    Witness {
        /// The file that remembers the last checkpoint seen (made on the
        /// first run; one per log).
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// A witness private key (`hallctl audit witness-key`): cosign
        /// each checkpoint checked. Without it: monitor only.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Make a witness key (Ed25519, C2SP cosignature/v1): the private key
    /// goes to --out (mode 0600, must not exist), the verifier key to
    /// standard output for `hallctl audit witnesses add` or HALL_WITNESS_KEYS.
    WitnessKey {
        /// The witness's name, a schema-less URL such as
        /// witness.example.com/w1 (no spaces, no '+').
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// The witnesses trusted to cosign your checkpoints: list, add, remove.
    Witnesses {
        #[command(subcommand)]
        command: super::witness::WitnessesCmd,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("offline").args(["receipt", "export"])))]
pub struct VerifyArgs {
    /// Offline: one receipt, or a decision answer (`decision make --json`)
    /// whose `receipt` field is the receipt. Checks its hash and signature
    /// (its link needs the chain: --export). `-` reads standard input.
    #[arg(long, value_name = "FILE", requires = "keys")]
    receipt: Option<PathBuf>,
    /// Offline: a whole chain, as `hallctl audit export` saves it, the JSON of
    /// GET /api/v1/audit/receipts (one page, or pages one after another), or
    /// a JSON array of receipts. `-` reads standard input.
    #[arg(long, value_name = "FILE", requires = "keys")]
    export: Option<PathBuf>,
    /// Offline: the registry's receipt keys, the JSON of GET /api/v1/keys
    /// (`hallctl keys export --out FILE` or `hallctl keys list --json`).
    #[arg(long, value_name = "FILE", requires = "offline")]
    keys: Option<PathBuf>,
    /// A signed checkpoint of your log (`GET /api/v1/audit/checkpoint`: the
    /// note as text, or its JSON): its signature must verify with the keys,
    /// and the chain must hold the tree it signed — at least its size, and
    /// its first receipts making its tree head — so a truncated or
    /// rewritten history is found.
    #[arg(long, value_name = "FILE", conflicts_with = "receipt")]
    checkpoint: Option<PathBuf>,
    /// With --checkpoint: require this witness's cosignature on it (its
    /// verifier key; repeat for more).
    #[arg(long, value_name = "VKEY", requires = "checkpoint")]
    witness: Vec<String>,
}

pub fn run(ctx: &Ctx, cmd: AuditCmd) -> CmdResult {
    match cmd {
        AuditCmd::Verify(VerifyArgs {
            receipt: Some(receipt),
            keys: Some(keys),
            ..
        }) => verify_receipt_file(ctx, &receipt, &keys),
        AuditCmd::Verify(VerifyArgs {
            export: Some(export),
            keys: Some(keys),
            checkpoint,
            witness,
            ..
        }) => verify_export_file(
            ctx,
            &export,
            &keys,
            checkpoint.as_deref(),
            &super::witness::parse_witnesses(&witness)?,
        ),
        // clap makes --keys go with --receipt or --export, and either with --keys.
        AuditCmd::Verify(VerifyArgs {
            checkpoint,
            witness,
            ..
        }) => verify_online(
            ctx,
            checkpoint.as_deref(),
            &super::witness::parse_witnesses(&witness)?,
        ),
        AuditCmd::Export { out } => export(ctx, out.as_deref()),
        AuditCmd::Prove {
            receipt_id,
            witness,
        } => prove(
            ctx,
            &receipt_id,
            &super::witness::parse_witnesses(&witness)?,
        ),
        AuditCmd::Witness { state, key } => super::witness::witness(ctx, &state, key.as_deref()),
        AuditCmd::WitnessKey { name, out } => super::witness::generate_key(ctx, &name, &out),
        AuditCmd::Witnesses { command } => super::witness::witnesses(ctx, command),
    }
}

/// The published keys, kid → key, from the JSON of `GET /api/v1/keys` (or
/// a bare array of its entries). `origin` names where it came from.
pub(super) fn keys_from(
    listing: &Value,
    origin: &str,
) -> Result<HashMap<String, VerifyingKey>, Failure> {
    let entries: Vec<&Value> = match listing {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.get("keys").is_some_and(Value::is_array) => {
            items(listing, "keys").collect()
        }
        _ => {
            return Err(Failure::error(format!(
                "{origin} is not a list of receipt keys (the JSON of GET /api/v1/keys: \
                 {{\"keys\": [{{\"kid\", \"public_key\", …}}]}})"
            )))
        }
    };
    let mut published = HashMap::new();
    for (i, k) in entries.into_iter().enumerate() {
        let (Some(kid), Some(public)) = (k["kid"].as_str(), k["public_key"].as_str()) else {
            return Err(Failure::error(format!(
                "{origin}: key {i} has no kid and public_key"
            )));
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(public)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| {
                Failure::error(format!(
                    "{origin}: key {kid} is not an Ed25519 public key (32 bytes of base64)"
                ))
            })?;
        published.insert(kid.to_string(), key);
    }
    Ok(published)
}

/// Receipts from JSON values, naming the first that is not one.
fn receipts_from(values: Vec<Value>, origin: &str) -> Result<Vec<audit::Receipt>, Failure> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let id = v["receipt_id"]
                .as_str()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            serde_json::from_value(v).map_err(|e| {
                Failure::error(format!(
                    "receipt {i}{id} in {origin} is not a well-formed receipt: {e}"
                ))
            })
        })
        .collect()
}

/// A file's text, or standard input's for `-`.
pub(super) fn read_text(path: &Path) -> Result<String, Failure> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin())
            .map_err(|e| Failure::error(format!("cannot read standard input: {e}")));
    }
    std::fs::read_to_string(path)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display())))
}

fn origin(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

/// Reads one JSON document.
fn read_json(path: &Path) -> Result<Value, Failure> {
    serde_json::from_str(&read_text(path)?)
        .map_err(|e| Failure::error(format!("{} is not JSON: {e}", origin(path))))
}

fn read_keys(path: &Path) -> Result<HashMap<String, VerifyingKey>, Failure> {
    keys_from(&read_json(path)?, &origin(path))
}

/// Both inputs cannot be standard input.
fn one_stdin(a: &Path, b: &Path) -> Result<(), Failure> {
    if a == Path::new("-") && b == Path::new("-") {
        return Err(Failure::usage(
            "only one of the files can be standard input (-)",
        ));
    }
    Ok(())
}

/// What the chain check found, as a line and as JSON.
fn report_chain(
    ctx: &Ctx,
    receipts: &[audit::Receipt],
    keys: &HashMap<String, VerifyingKey>,
    keys_origin: &str,
    checkpoint: Option<&SavedCheckpoint>,
    registry: Option<&Client>,
) -> CmdResult {
    let tenant = receipts.first().map(|r| r.content.tenant_id.clone());
    match audit::verify_chain(receipts, keys) {
        Ok(n) => {
            let held = match checkpoint {
                None => None,
                Some(c) => match chain_holds_checkpoint(receipts, keys, c, registry) {
                    Ok(size) => Some(size),
                    Err(message) => {
                        ctx.out.json(&json!({
                            "ok": false,
                            "receipts": receipts.len(),
                            "error": message,
                        }));
                        return Err(Failure::error(format!("BROKEN: {message}")));
                    }
                },
            };
            if !ctx.out.json(&json!({
                "ok": true,
                "receipts": n,
                "keys": keys.len(),
                "tenant_id": tenant,
                "checkpoint_size": held,
            })) {
                say!(
                    "OK: {n} receipts{}, every hash, link and signature verified ({} keys){}",
                    tenant.map(|t| format!(" of {t}")).unwrap_or_default(),
                    keys.len(),
                    held.map(|size| format!("; they hold the signed checkpoint's tree of {size}"))
                        .unwrap_or_default()
                );
            }
            Ok(Outcome::Done)
        }
        Err(e) => {
            let hint = match &e {
                audit::ChainError::BrokenLink {
                    index: 0,
                    expected: None,
                    ..
                } => " (the chain does not start at its first receipt: export it from the start)"
                    .to_string(),
                audit::ChainError::UnknownKey { .. } => {
                    format!(" (it is not in {keys_origin}: keys of another registry, or saved before that key existed?)")
                }
                _ => String::new(),
            };
            ctx.out.json(&json!({
                "ok": false,
                "receipts": receipts.len(),
                "error": format!("{e}{hint}"),
            }));
            Err(Failure::error(format!("BROKEN: {e}{hint}")))
        }
    }
}

fn verify_online(
    ctx: &Ctx,
    checkpoint: Option<&Path>,
    witnesses: &[audit::cosignature::WitnessKey],
) -> CmdResult {
    let checkpoint = checkpoint
        .map(|c| read_checkpoint(c, witnesses))
        .transpose()?;
    let client = ctx.client()?;
    let keys = keys_from(&client.get("/api/v1/keys")?, "GET /api/v1/keys")?;
    // Without a checkpoint file, the registry's latest one, read before the
    // chain so that the chain holds at least its tree.
    let checkpoint = match checkpoint {
        Some(c) => Some(c),
        None => latest_checkpoint(&client)?,
    };
    let receipts = receipts_from(fetch_chain(&client)?, "the registry's export")?;
    report_chain(
        ctx,
        &receipts,
        &keys,
        "the registry's published keys",
        checkpoint.as_ref(),
        Some(&client),
    )
}

/// The registry's latest checkpoint; `None` before the first.
fn latest_checkpoint(client: &Client) -> Result<Option<SavedCheckpoint>, Failure> {
    match client.call(client.request(reqwest::Method::GET, "/api/v1/audit/checkpoint")) {
        Ok(c) => Ok(Some(SavedCheckpoint {
            note: c["checkpoint"]
                .as_str()
                .ok_or_else(|| Failure::error("the registry's checkpoint has no signed note"))?
                .to_string(),
            from: "the registry's latest checkpoint".into(),
            witnesses: Vec::new(),
        })),
        Err(crate::client::CallError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Most checkpoints read back when looking for where a tree and the chain part.
const MAX_CHECKPOINTS_SEARCHED: usize = 10_000;

/// Where the registry's signed trees and the chain part: the checkpoints,
/// newest first, until one the chain holds; names the receipts between the
/// last that matches and the first that does not.
fn locate_divergence(
    client: &Client,
    receipts: &[audit::Receipt],
    keys: &HashMap<String, VerifyingKey>,
    tenant: &str,
) -> Result<String, Failure> {
    let mut bad: Option<u64> = None;
    let mut good: Option<u64> = None;
    let mut before: Option<u64> = None;
    let mut searched = 0;
    while good.is_none() && searched < MAX_CHECKPOINTS_SEARCHED {
        let mut query = vec![("limit", "500".to_string())];
        if let Some(b) = before {
            query.push(("before", b.to_string()));
        }
        let page = client.get_query("/api/v1/audit/checkpoints", &query)?;
        let mut signed = Vec::new();
        for c in items(&page, "checkpoints") {
            let saved = SavedCheckpoint {
                note: c["checkpoint"].as_str().unwrap_or_default().to_string(),
                from: "a checkpoint the registry lists".into(),
                witnesses: Vec::new(),
            };
            signed.push(open_checkpoint(&saved, tenant, keys).map_err(Failure::error)?);
        }
        if signed.is_empty() {
            break;
        }
        searched += signed.len();
        let sizes: Vec<u64> = signed.iter().map(|c| c.size).collect();
        let heads = audit::tree::heads_at(receipts.iter().map(|r| r.receipt_hash.as_str()), &sizes)
            .map_err(|e| Failure::error(e.to_string()))?;
        // Newest first: the first that matches ends the search.
        for c in &signed {
            let holds = heads
                .iter()
                .any(|(size, head)| *size == c.size && *head == c.root);
            if holds {
                good = Some(c.size);
                break;
            }
            bad = Some(c.size);
        }
        before = signed.last().map(|c| c.size);
    }
    let Some(bad) = bad else {
        return Ok(String::new());
    };
    let id = |position: u64| {
        receipts
            .get(position.saturating_sub(1) as usize)
            .map(|r| r.content.receipt_id.to_string())
            .unwrap_or_default()
    };
    let first = good.unwrap_or(0) + 1;
    let since = match good {
        Some(k) => format!("the checkpoint of {k} receipts still matches"),
        None => "no checkpoint searched matches".to_string(),
    };
    Ok(if first == bad {
        format!(" The tree and the chain part at receipt {first} ({}): {since}, the one of {bad} does not.", id(first))
    } else {
        format!(
            " The tree and the chain part between receipt {first} ({}) and receipt {bad} ({}): {since}, the one of {bad} does not.",
            id(first),
            id(bad)
        )
    })
}

/// A checkpoint note read from a file, and where it came from.
pub(super) struct SavedCheckpoint {
    pub note: String,
    pub from: String,
    /// Witnesses whose cosignature it must carry.
    pub witnesses: Vec<audit::cosignature::WitnessKey>,
}

/// `--checkpoint FILE`: the note as text, or the JSON of
/// `GET /api/v1/audit/checkpoint` (its `checkpoint` field).
fn read_checkpoint(
    path: &Path,
    witnesses: &[audit::cosignature::WitnessKey],
) -> Result<SavedCheckpoint, Failure> {
    let text = read_text(path)?;
    let from = origin(path);
    let note = if text.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Failure::error(format!("{from} is not JSON: {e}")))?;
        v["checkpoint"]
            .as_str()
            .ok_or_else(|| Failure::error(format!("{from} has no \"checkpoint\" (a signed note)")))?
            .to_string()
    } else {
        text
    };
    Ok(SavedCheckpoint {
        note,
        from,
        witnesses: witnesses.to_vec(),
    })
}

/// Opens a checkpoint of `tenant`'s log signed by one of `keys` (under the
/// log's name: its origin without `/<tenant>`).
pub(super) fn open_checkpoint(
    c: &SavedCheckpoint,
    tenant: &str,
    keys: &HashMap<String, VerifyingKey>,
) -> Result<audit::note::Checkpoint, String> {
    let unsigned = audit::note::Checkpoint::parse(
        c.note
            .rsplit_once("\n\n")
            .map(|(text, _)| format!("{text}\n"))
            .as_deref()
            .unwrap_or(&c.note),
    )
    .map_err(|e| format!("{} is not a signed checkpoint: {e}", c.from))?;
    let Some((log, of)) = unsigned.origin.rsplit_once('/') else {
        return Err(format!(
            "{}: origin {:?} does not name a tenant's log",
            c.from, unsigned.origin
        ));
    };
    if of != tenant {
        return Err(format!(
            "{} is a checkpoint of {of}'s log, not of {tenant}'s",
            c.from
        ));
    }
    let verifiers: Vec<audit::note::NoteVerifier> = keys
        .values()
        .filter_map(|k| audit::note::NoteVerifier::new(log, *k).ok())
        .collect();
    let checkpoint =
        audit::note::Checkpoint::open(&c.note, &unsigned.origin, &verifiers).map_err(|e| {
            format!(
                "the checkpoint in {} does not verify with the keys: {e}",
                c.from
            )
        })?;
    super::witness::require_cosignatures(&c.note, &c.witnesses)
        .map_err(|e| format!("{}: {e}", c.from))?;
    Ok(checkpoint)
}

/// Whether the chain holds the checkpoint's tree; its size when it does.
fn chain_holds_checkpoint(
    receipts: &[audit::Receipt],
    keys: &HashMap<String, VerifyingKey>,
    c: &SavedCheckpoint,
    registry: Option<&Client>,
) -> Result<u64, String> {
    let tenant = receipts
        .first()
        .map(|r| r.content.tenant_id.as_str())
        .unwrap_or_default();
    let checkpoint = open_checkpoint(c, tenant, keys)?;
    match audit::tree::check_against_checkpoint(
        receipts.iter().map(|r| r.receipt_hash.as_str()),
        checkpoint.size,
        &checkpoint.root,
    ) {
        Ok(()) => Ok(checkpoint.size),
        Err(e @ audit::tree::NotTheCheckpointsTree::RootDiffers { .. }) => {
            // Online, the registry's other checkpoints say where.
            let located = match registry {
                Some(client) => {
                    locate_divergence(client, receipts, keys, tenant).unwrap_or_else(|f| match f {
                        Failure::Error(m) | Failure::Usage(m) => {
                            format!(" (where could not be found: {m})")
                        }
                    })
                }
                None => String::new(),
            };
            Err(format!("{e}.{located}"))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `audit prove RECEIPT_ID`.
fn prove(ctx: &Ctx, receipt_id: &str, witnesses: &[audit::cosignature::WitnessKey]) -> CmdResult {
    let client = ctx.client()?;
    let keys = keys_from(&client.get("/api/v1/keys")?, "GET /api/v1/keys")?;
    // With witnesses, the latest checkpoint the first cosigned (the
    // others must have cosigned it too).
    let witnessed = !witnesses.is_empty();
    let query: Vec<(&str, String)> = witnesses
        .first()
        .map(|w| ("witness", w.name().to_string()))
        .into_iter()
        .collect();
    let latest = client.get_query("/api/v1/audit/checkpoint", &query)?;
    let saved = SavedCheckpoint {
        note: latest["checkpoint"]
            .as_str()
            .ok_or_else(|| Failure::error("the registry's checkpoint has no signed note"))?
            .to_string(),
        from: if witnessed {
            "the latest checkpoint the witness cosigned".into()
        } else {
            "the registry's latest checkpoint".into()
        },
        witnesses: witnesses.to_vec(),
    };
    let decision = client.get(&format!("/api/v1/decisions/{receipt_id}"))?;
    let receipt: audit::Receipt = serde_json::from_value(decision["receipt"].clone())
        .map_err(|e| Failure::error(format!("the registry's receipt {receipt_id}: {e}")))?;
    let broken = |message: String| {
        ctx.out
            .json(&json!({"ok": false, "receipt_id": receipt_id, "error": message}));
        Failure::error(format!("BROKEN: {message}"))
    };
    audit::verify_receipt(&receipt, &keys).map_err(|e| broken(e.to_string()))?;
    let checkpoint = open_checkpoint(&saved, &receipt.content.tenant_id, &keys).map_err(&broken)?;
    let proof = client.get_query(
        "/api/v1/audit/proof/inclusion",
        &[
            ("receipt_id", receipt_id.to_string()),
            ("tree_size", checkpoint.size.to_string()),
        ],
    )?;
    let index = proof["leaf_index"]
        .as_u64()
        .ok_or_else(|| Failure::error("the registry's proof has no leaf_index"))?;
    let hashes: Vec<audit::merkle::Hash> = items(&proof, "hashes")
        .map(|h| {
            h.as_str()
                .and_then(audit::tree::hex_hash)
                .ok_or_else(|| Failure::error("the registry's proof holds a malformed hash"))
        })
        .collect::<Result<_, _>>()?;
    let leaf = audit::tree::receipt_leaf(&receipt.receipt_hash)
        .ok_or_else(|| broken("the receipt's hash is not a SHA-256 hash".into()))?;
    audit::merkle::verify_inclusion(&leaf, index, checkpoint.size, &hashes, &checkpoint.root)
        .map_err(|e| {
            broken(format!(
                "receipt {receipt_id} is not in the signed tree: {e}"
            ))
        })?;
    if !ctx.out.json(&json!({
        "ok": true,
        "receipt_id": receipt_id,
        "leaf_index": index,
        "tree_size": checkpoint.size,
        "origin": checkpoint.origin,
    })) {
        say!(
            "OK: receipt {receipt_id} is leaf {index} of {}'s tree of {} receipts; the checkpoint is signed with a published key and the proof leads to its head",
            receipt.content.tenant_id,
            checkpoint.size
        );
    }
    Ok(Outcome::Done)
}

/// The tenant's whole chain, every page, as the registry sent it.
fn fetch_chain(client: &Client) -> Result<Vec<Value>, Failure> {
    let mut receipts = Vec::new();
    let mut after = 0i64;
    loop {
        let page = client.get(&format!("/api/v1/audit/receipts?after={after}&limit=5000"))?;
        let Some(batch) = page["receipts"].as_array() else {
            return Err(Failure::error(
                "the registry's export has no list of receipts",
            ));
        };
        receipts.extend(batch.iter().cloned());
        match page["next_after"].as_i64() {
            Some(next) if next > after => after = next,
            _ => return Ok(receipts),
        }
    }
}

/// `audit verify --export FILE --keys FILE [--checkpoint FILE]`.
fn verify_export_file(
    ctx: &Ctx,
    export: &Path,
    keys_file: &Path,
    checkpoint: Option<&Path>,
    witnesses: &[audit::cosignature::WitnessKey],
) -> CmdResult {
    one_stdin(export, keys_file)?;
    if let Some(c) = checkpoint {
        one_stdin(export, c)?;
        one_stdin(keys_file, c)?;
    }
    let checkpoint = checkpoint
        .map(|c| read_checkpoint(c, witnesses))
        .transpose()?;
    let keys = read_keys(keys_file)?;
    let from = origin(export);
    let values = chain_from(&read_text(export)?, &from)?;
    let receipts = match receipts_from(values, &from) {
        Ok(r) => r,
        Err(Failure::Error(message)) => {
            ctx.out.json(&json!({"ok": false, "error": message}));
            return Err(Failure::error(format!("BROKEN: {message}")));
        }
        Err(usage) => return Err(usage),
    };
    report_chain(
        ctx,
        &receipts,
        &keys,
        &origin(keys_file),
        checkpoint.as_ref(),
        None,
    )
}

/// The receipts of a saved chain: one or more JSON documents, one after
/// another, each an export (`{"receipts": [...], "next_after": …}`) or an
/// array of receipts.
fn chain_from(text: &str, origin: &str) -> Result<Vec<Value>, Failure> {
    let mut receipts = Vec::new();
    let mut documents = 0;
    let mut unfinished = None;
    for (n, doc) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let doc = doc.map_err(|e| Failure::error(format!("{origin} is not JSON: {e}")))?;
        documents += 1;
        unfinished = None;
        match doc {
            Value::Array(list) => receipts.extend(list),
            Value::Object(mut page) => match page.remove("receipts") {
                Some(Value::Array(list)) => {
                    receipts.extend(list);
                    unfinished = page.get("next_after").and_then(Value::as_i64);
                }
                _ => {
                    return Err(Failure::error(format!(
                        "{origin}: document {} is not a receipt export (no \"receipts\" list); \
                         for one receipt or decision use --receipt",
                        n + 1
                    )))
                }
            },
            _ => {
                return Err(Failure::error(format!(
                    "{origin}: document {} is neither an export nor a JSON array of receipts",
                    n + 1
                )))
            }
        }
    }
    if documents == 0 {
        return Err(Failure::error(format!("{origin} is empty")));
    }
    if let Some(after) = unfinished {
        note!(
            "hallctl: warning: {origin} ends with a page whose next_after is {after}: the \
             receipts after it are not in the file and are not checked \
             (`hallctl audit export` saves every page)"
        );
    }
    Ok(receipts)
}

/// The fields a decision answer repeats from its receipt: (decision field,
/// receipt field).
const DECISION_FIELDS: [(&str, &str); 10] = [
    ("id", "receipt_id"),
    ("proof", "receipt_hash"),
    ("decided_at", "decided_at"),
    ("tenant_id", "tenant_id"),
    ("worker_id", "worker_id"),
    ("capability_id", "capability_id"),
    ("env", "env"),
    ("data_label", "data_label"),
    ("correlation_id", "correlation_id"),
    ("tier", "tier"),
];

/// A decision answer's own fields must say what its signed receipt says;
/// names the first that does not.
fn decision_matches_receipt(decision: &Value, receipt: &Value) -> Result<(), String> {
    let differs = |field: &str, stated: &Value, signed: &Value| {
        format!(
            "the decision's {field} ({stated}) is not what its signed receipt says ({signed}): \
             the decision was changed after it was signed"
        )
    };
    for (field, in_receipt) in DECISION_FIELDS {
        if let Some(stated) = decision.get(field) {
            if stated != &receipt[in_receipt] {
                return Err(differs(field, stated, &receipt[in_receipt]));
            }
        }
    }
    if let Some(denied) = decision.get("denied") {
        let signed = receipt["outcome"] == audit::Outcome::Deny.as_str();
        if denied != &Value::Bool(signed) {
            return Err(differs("denied", denied, &receipt["outcome"]));
        }
    }
    if let Some(code) = decision.get("deny_code") {
        let signed = receipt.get("deny_code").unwrap_or(&Value::Null);
        if code != signed {
            return Err(differs("deny_code", code, signed));
        }
    }
    Ok(())
}

/// `audit verify --receipt FILE --keys FILE`.
fn verify_receipt_file(ctx: &Ctx, file: &Path, keys_file: &Path) -> CmdResult {
    one_stdin(file, keys_file)?;
    let keys = read_keys(keys_file)?;
    let from = origin(file);
    let doc = read_json(file)?;
    let (receipt, decision) = match &doc {
        Value::Object(o) if o.get("receipt").is_some_and(Value::is_object) => {
            (doc["receipt"].clone(), Some(&doc))
        }
        Value::Object(o) if o.contains_key("receipt_hash") => (doc.clone(), None),
        Value::Array(_) => {
            return Err(Failure::error(format!(
                "{from} holds a list; check a chain with --export {from}"
            )))
        }
        _ => {
            return Err(Failure::error(format!(
                "{from} is neither a receipt (with receipt_hash and signature) nor a decision \
                 answer with a receipt"
            )))
        }
    };
    let broken = |message: String| {
        ctx.out.json(&json!({"ok": false, "error": message}));
        Err(Failure::error(format!("BROKEN: {message}")))
    };
    if let Some(decision) = decision {
        if let Err(message) = decision_matches_receipt(decision, &receipt) {
            return broken(message);
        }
    }
    let parsed: audit::Receipt = match serde_json::from_value(receipt.clone()) {
        Ok(r) => r,
        Err(e) => return broken(format!("{from} does not hold a well-formed receipt: {e}")),
    };
    let c = &parsed.content;
    if let Err(e) = audit::verify_receipt(&parsed, &keys) {
        let id = &c.receipt_id;
        return broken(match e {
            audit::ChainError::HashMismatch { computed, .. } => format!(
                "receipt {id}: receipt_hash does not match its content (recomputed {computed}, \
                 stated {}): the receipt was changed after it was signed",
                parsed.receipt_hash
            ),
            audit::ChainError::UnknownKey { kid, .. } => format!(
                "receipt {id}: signed with key {kid}, which is not in {} (keys of another \
                 registry, or saved before that key existed?)",
                origin(keys_file)
            ),
            audit::ChainError::BadSignature { kid, .. } => {
                format!("receipt {id}: the signature does not verify with key {kid}")
            }
            other => other.to_string(),
        });
    }
    let outcome = match &c.deny_code {
        Some(code) => format!("{} {code}", c.outcome),
        None => c.outcome.to_string(),
    };
    if !ctx.out.json(&json!({
        "ok": true,
        "receipt_id": c.receipt_id,
        "receipt_hash": parsed.receipt_hash,
        "signing_key_id": c.signing_key_id,
        "tenant_id": c.tenant_id,
        "outcome": c.outcome,
        "receipt_version": u64::from(c.receipt_version),
        "acting_key_id": c.acting_key_id,
        "checked": ["hash", "signature"],
    })) {
        say!(
            "OK: receipt {}, hash and signature verified (key {})",
            c.receipt_id,
            c.signing_key_id
        );
        say!(
            "  {}  {}  {} {}  {outcome}",
            c.decided_at,
            c.tenant_id,
            c.worker_id,
            c.capability_id
        );
        say!("  {}", acted(c));
        note!(
            "hallctl: note: one receipt shows no link to the one before it; \
             `hallctl audit verify --export` checks the whole chain"
        );
    }
    Ok(Outcome::Done)
}

/// Which API key asked for the decision, as the receipt's format records it.
fn acted(c: &audit::UnsignedReceipt) -> String {
    match (&c.acting_key_id, c.receipt_version) {
        (Some(key), v) => format!("acting key {key} (receipt format {})", u64::from(v)),
        (None, v) => format!(
            "receipt format {}: the acting key is not recorded (receipts before format 2)",
            u64::from(v)
        ),
    }
}

/// `audit export [--out FILE]`.
fn export(ctx: &Ctx, out: Option<&Path>) -> CmdResult {
    let client = ctx.client()?;
    let receipts = fetch_chain(&client)?;
    let n = receipts.len();
    let tenant = receipts
        .first()
        .map(|r| r["tenant_id"].as_str().unwrap_or("-").to_string());
    let document = json!({
        "registry": ctx.settings.registry,
        "tenant_id": tenant,
        "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "receipts": receipts,
        "next_after": null,
    });
    let Some(path) = out else {
        say!("{}", crate::output::pretty(&document));
        note!("hallctl: exported {n} receipts");
        return Ok(Outcome::Done);
    };
    write_file(path, &document)?;
    if !ctx.out.json(&json!({
        "out": path.display().to_string(),
        "receipts": n,
        "tenant_id": tenant,
    })) {
        say!(
            "Exported {n} receipts{} to {}",
            tenant.map(|t| format!(" of {t}")).unwrap_or_default(),
            path.display()
        );
        note!(
            "hallctl: check it offline with `hallctl audit verify --export {} --keys <keys.json>` \
             (save the keys with `hallctl keys export --out keys.json`)",
            path.display()
        );
    }
    Ok(Outcome::Done)
}

/// Writes `value` as pretty JSON to `path`: a new file next to it renamed
/// over it, so an earlier file is never left half replaced.
pub fn write_file(path: &Path, value: &Value) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::error(format!("cannot write {}: {e}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Failure::usage(format!("{} is not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut body = crate::output::pretty(value).into_bytes();
    body.push(b'\n');
    let written = std::fs::write(&tmp, &body).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

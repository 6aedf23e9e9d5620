//! `hallctl`: the Hall Registry command line.
//!
//! It finds the registry the way the PyHall SDKs do (`--registry`, then
//! `PYHALL_REGISTRY`, then `PYHALL_REGISTRY_URL`) and authenticates with
//! `--api-key` or `PYHALL_API_KEY`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(
    name = "hallctl",
    version,
    about = "Command line for Hall Registry, a self-hostable WCP governance registry."
)]
struct Cli {
    /// Registry base URL [default: $PYHALL_REGISTRY, else $PYHALL_REGISTRY_URL, else http://127.0.0.1:8765].
    #[arg(long, global = true)]
    registry: Option<String>,

    /// API key (or session token) [default: $PYHALL_API_KEY].
    #[arg(long, global = true, hide_env_values = true, env = "PYHALL_API_KEY")]
    api_key: Option<String>,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the registry URL hallctl would use, and where it came from.
    Where,
    /// Check the registry's health and version.
    Status,
    /// The WCP catalog.
    Catalog {
        #[command(subcommand)]
        command: CatalogCmd,
    },
    /// Make an Ed25519 key pair for signing capability cards. The private key
    /// (base64 seed) goes to a new 0600 file; the public key and its kid are
    /// printed, to register with `POST /api/v1/namespaces/{ns}/keys`.
    Keygen {
        /// Where to write the private key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the canonical package hash of a worker package directory.
    Hash {
        /// The package directory.
        package_dir: PathBuf,
    },
    /// Decisions: make one, or query the log.
    Decision {
        #[command(subcommand)]
        command: DecisionCmd,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// Human approvals of REQUIRE_HUMAN decisions (WCP §5.8).
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCmd,
    },
    /// The registry's receipt signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCmd,
    },
    /// Hash a package, sign a capability card for it and submit it.
    Attest {
        /// The package directory.
        package_dir: PathBuf,
        /// The worker (`wrk_…` or its WCP worker id).
        #[arg(long)]
        worker: String,
        /// The private key file written by `hallctl keygen`.
        #[arg(long)]
        key: PathBuf,
        /// Days until the card expires (default: no expiry).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCmd {
    /// Import a catalog file (the format of the public WCP taxonomy catalog); operator only.
    Import {
        /// Path to the catalog JSON (`{"_meta": {...}, "entities": [...]}`).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DecisionCmd {
    /// Ask whether a worker may run a capability (prints ALLOW or DENY and the proof).
    Make {
        /// `wrk_…` or the WCP worker id.
        #[arg(long)]
        worker: String,
        /// The capability, e.g. cap.data.read.v1.
        #[arg(long = "cap")]
        capability: String,
        #[arg(long, default_value = "dev")]
        env: String,
        #[arg(long = "label", default_value = "PUBLIC")]
        data_label: String,
        /// The requesting tenant (default: the key's).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        dry_run: bool,
        /// An approved human approval for exactly this request (from an
        /// earlier call's pending approval).
        #[arg(long)]
        approval: Option<String>,
    },
    /// List decisions, newest first.
    Query {
        #[arg(long)]
        worker: Option<String>,
        #[arg(long = "cap")]
        capability: Option<String>,
        /// Only denies (`true`) or only allows (`false`).
        #[arg(long)]
        denied: Option<bool>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
enum ApprovalsCmd {
    /// Approvals waiting for a human, oldest first.
    List,
    /// Approve one: the same decision, repeated with `--approval`, passes once.
    Approve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Deny one.
    Deny {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Raise one from gatekeeper to incident commander.
    Escalate {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Every kid receipts were ever signed with, and its status.
    List,
    /// Operator: start a new receipt signing key (old receipts keep verifying).
    /// With HALL_RECEIPT_SIGNING_KEY_FILE, write the new key into that file
    /// first (`hallctl keygen --out`).
    Rotate,
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Export the tenant's receipts and check every hash, link and signature
    /// offline against the registry's published keys. Names the first broken
    /// receipt and exits 1 if there is one.
    Verify,
}

const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8765";

/// The registry URL and where it came from.
fn registry_url(flag: Option<String>) -> (String, &'static str) {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (url, source) = if let Some(url) = flag {
        (url, "--registry")
    } else if let Some(url) = from_env("PYHALL_REGISTRY") {
        (url, "PYHALL_REGISTRY")
    } else if let Some(url) = from_env("PYHALL_REGISTRY_URL") {
        (url, "PYHALL_REGISTRY_URL")
    } else {
        (DEFAULT_REGISTRY.to_string(), "default")
    };
    (url.trim_end_matches('/').to_string(), source)
}

/// A failure worth one line on stderr.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

struct Client {
    base: String,
    api_key: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    fn new(base: String, api_key: Option<String>) -> Result<Self, Failure> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("hallctl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            base,
            api_key,
            http,
        })
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<Value, Failure> {
        let req = match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        };
        let resp = req
            .header("Accept", "application/json")
            .send()
            .map_err(|e| Failure(format!("cannot reach {}: {e}", self.base)))?;
        let status = resp.status();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let code = body["error"]["code"].as_str().unwrap_or("error");
        let message = body["error"]["message"].as_str().unwrap_or("no details");
        Err(Failure(format!("{} {code}: {message}", status.as_u16())))
    }

    fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let (base, source) = registry_url(cli.registry);
    match cli.command {
        Cmd::Where => println!("{base} (from {source})"),
        Cmd::Status => {
            let client = Client::new(base.clone(), None)?;
            let health = client.get("/health")?;
            let ok = health["ok"].as_bool() == Some(true);
            println!("Registry: {base}");
            println!("Status:   {}", if ok { "ok" } else { "degraded" });
            println!(
                "Version:  {}",
                health["version"].as_str().unwrap_or("unknown")
            );
            if !ok {
                return Err(Failure("the registry reports it is degraded".into()));
            }
        }
        Cmd::Catalog {
            command: CatalogCmd::Import { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure(format!("cannot read {}: {e}", file.display())))?;
            let catalog: Value = serde_json::from_str(&text)
                .map_err(|e| Failure(format!("{} is not JSON: {e}", file.display())))?;
            let client = Client::new(base, cli.api_key)?;
            let result = client.post("/api/v1/catalog/import", &catalog)?;
            println!(
                "Imported {}: {} new, {} updated (catalog version {})",
                file.display(),
                result["inserted"],
                result["updated"],
                result["catalog_version"].as_str().unwrap_or("unknown")
            );
        }
        Cmd::Keygen { out } => keygen(&out)?,
        Cmd::Decision { command } => {
            let client = Client::new(base, cli.api_key)?;
            match command {
                DecisionCmd::Make {
                    worker,
                    capability,
                    env,
                    data_label,
                    tenant,
                    dry_run,
                    approval,
                } => {
                    let mut body = serde_json::json!({"worker_id": worker, "capability": capability,
                        "env": env, "data_label": data_label, "dry_run": dry_run});
                    if let Some(t) = tenant {
                        body["tenant_id"] = Value::from(t);
                    }
                    if let Some(a) = approval {
                        body["approval_id"] = Value::from(a);
                    }
                    let d = client.post("/api/v1/decisions", &body)?;
                    if d["denied"] == true {
                        println!(
                            "DENY  {} ({})",
                            d["deny_code"].as_str().unwrap_or("?"),
                            d["deny_reason"].as_str().unwrap_or("")
                        );
                    } else {
                        println!("ALLOW");
                    }
                    println!("tier:  L{}", d["tier"]);
                    println!("id:    {}", d["id"].as_str().unwrap_or("?"));
                    println!("proof: {}", d["proof"].as_str().unwrap_or("?"));
                    if let Some(pending) = d["pending_approval_id"].as_str() {
                        println!(
                            "approval: {pending} ({}, waiting for a human until {}); once approved, repeat with --approval {pending}",
                            d["supervisor_level"].as_str().unwrap_or("gatekeeper"),
                            d["approval_expires_at"].as_str().unwrap_or("?")
                        );
                    }
                }
                DecisionCmd::Query {
                    worker,
                    capability,
                    denied,
                    limit,
                } => {
                    let mut query = vec![format!("limit={limit}")];
                    if let Some(w) = worker {
                        query.push(format!("worker_id={w}"));
                    }
                    if let Some(c) = capability {
                        query.push(format!("capability_id={c}"));
                    }
                    if let Some(d) = denied {
                        query.push(format!("denied={d}"));
                    }
                    let page = client.get(&format!("/api/v1/decisions?{}", query.join("&")))?;
                    for d in page["decisions"].as_array().into_iter().flatten() {
                        let outcome = if d["denied"] == true {
                            format!("DENY ({})", d["deny_reason"].as_str().unwrap_or(""))
                        } else {
                            "ALLOW".to_string()
                        };
                        println!(
                            "{} {} {} {}",
                            d["decided_at"].as_str().unwrap_or("?"),
                            d["worker_id"].as_str().unwrap_or("?"),
                            d["capability_id"].as_str().unwrap_or("?"),
                            outcome
                        );
                    }
                }
            }
        }
        Cmd::Approvals { command } => {
            let client = Client::new(base, cli.api_key)?;
            let (id, action, note) = match command {
                ApprovalsCmd::List => {
                    let page = client.get("/wcp/approvals/pending")?;
                    for a in page["pending"].as_array().into_iter().flatten() {
                        println!(
                            "{}  {}  {} {} {} {}  until {}  {}",
                            a["id"].as_str().unwrap_or("?"),
                            a["supervisor_level"].as_str().unwrap_or("?"),
                            a["worker_id"].as_str().unwrap_or("?"),
                            a["capability_id"].as_str().unwrap_or("?"),
                            a["env"].as_str().unwrap_or("?"),
                            a["data_label"].as_str().unwrap_or("?"),
                            a["expires_at"].as_str().unwrap_or("?"),
                            a["reason"].as_str().unwrap_or("")
                        );
                    }
                    return Ok(());
                }
                ApprovalsCmd::Approve { id, note } => (id, "approve", note),
                ApprovalsCmd::Deny { id, note } => (id, "deny", note),
                ApprovalsCmd::Escalate { id, note } => (id, "escalate", note),
            };
            let a = client.post(
                "/wcp/approvals/resolve",
                &serde_json::json!({"approval_id": id, "resolution": action, "note": note}),
            )?;
            println!(
                "{}: {} ({})",
                a["id"].as_str().unwrap_or("?"),
                a["status"].as_str().unwrap_or("?"),
                a["supervisor_level"].as_str().unwrap_or("?")
            );
        }
        Cmd::Keys { command } => {
            let client = Client::new(base, cli.api_key)?;
            if let KeysCmd::Rotate = command {
                let r = client.post("/api/v1/keys/rotate", &serde_json::json!({}))?;
                println!(
                    "Receipts are now signed with {} ({} is retired and still verifies)",
                    r["kid"].as_str().unwrap_or("?"),
                    r["retired_kid"].as_str().unwrap_or("?")
                );
            }
            let keys = client.get("/api/v1/keys")?;
            for k in keys["keys"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:7}  since {}",
                    k["kid"].as_str().unwrap_or("?"),
                    k["status"].as_str().unwrap_or("?"),
                    k["created_at"].as_str().unwrap_or("?")
                );
            }
        }
        Cmd::Audit {
            command: AuditCmd::Verify,
        } => {
            let client = Client::new(base, cli.api_key)?;
            audit_verify(&client)?;
        }
        Cmd::Hash { package_dir } => println!("{}", package_hash(&package_dir)?),
        Cmd::Attest {
            package_dir,
            worker,
            key,
            expires_in_days,
        } => {
            let client = Client::new(base, cli.api_key)?;
            attest(&client, &package_dir, &worker, &key, expires_in_days)?;
        }
    }
    Ok(())
}

/// Reads a private key file: the 32-byte Ed25519 seed as base64 or hex.
fn read_signing_key(path: &std::path::Path) -> Result<ed25519_dalek::SigningKey, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    audit::parse_seed(&text).ok_or_else(|| {
        Failure(format!(
            "{} is not a key file (base64 or hex of a 32-byte Ed25519 seed)",
            path.display()
        ))
    })
}

fn keygen(out: &std::path::Path) -> Result<(), Failure> {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Failure(format!("no randomness: {e}")))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| {
            Failure(format!(
                "cannot create {} (it must not exist yet): {e}",
                out.display()
            ))
        })?;
    writeln!(
        file,
        "{}",
        base64::engine::general_purpose::STANDARD.encode(seed)
    )?;
    let public = attestation::NamespacePublicKey::from_bytes(key.verifying_key().as_bytes())
        .map_err(|e| Failure(e.to_string()))?;
    println!("Private key: {} (mode 0600; keep it secret)", out.display());
    println!("Public key:  {}", public.to_base64());
    println!("Key id:      {}", public.kid());
    Ok(())
}

/// Every regular file under `root`, as (relative POSIX path, content).
/// Symbolic links to files are read; directories behind symbolic links are not entered.
fn package_files(root: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(), Failure> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Failure(format!("cannot read {}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
                let rel = path
                    .strip_prefix(root)
                    .map_err(|e| Failure(e.to_string()))?;
                let rel = rel
                    .to_str()
                    .ok_or_else(|| Failure(format!("{} is not a UTF-8 file name", path.display())))?
                    .to_string();
                let content = std::fs::read(&path)
                    .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
                out.push((rel, content));
            }
        }
        Ok(())
    }
    if !root.is_dir() {
        return Err(Failure(format!("{} is not a directory", root.display())));
    }
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    Ok(files)
}

fn package_hash(root: &std::path::Path) -> Result<String, Failure> {
    use attestation::package::{package_hash, PackageFile};
    let files = package_files(root)?;
    Ok(package_hash(files.iter().map(|(p, c)| PackageFile {
        relative_path: p,
        content: c,
    })))
}

fn attest(
    client: &Client,
    dir: &std::path::Path,
    worker: &str,
    key_file: &std::path::Path,
    expires_in_days: Option<u32>,
) -> Result<(), Failure> {
    let key = read_signing_key(key_file)?;
    let public = attestation::NamespacePublicKey::from_bytes(key.verifying_key().as_bytes())
        .map_err(|e| Failure(e.to_string()))?;
    let sha256 = package_hash(dir)?;
    let w = client.get(&format!("/api/v1/workers/{worker}"))?;
    let now = chrono::Utc::now();
    let mut card = serde_json::json!({
        "worker_id": w["worker_id"],
        "capabilities": w["capabilities"],
        "sha256": sha256,
        "issued_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "kid": public.kid(),
    });
    if let Some(species) = w["worker_species_id"].as_str() {
        card["worker_species_id"] = Value::from(species);
    }
    if let Some(days) = expires_in_days {
        card["expires_at"] = Value::from(
            (now + chrono::Duration::days(days.into()))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    let signature = attestation::card::sign_card(&card, &key);
    let result = client.post(
        &format!("/api/v1/workers/{worker}/attestations"),
        &serde_json::json!({"card": card, "signature": signature}),
    )?;
    println!("Package hash: {sha256}");
    println!("Signed by:    {}", public.kid());
    println!(
        "Attestation:  {} {}",
        result["id"].as_str().unwrap_or("?"),
        result["status"].as_str().unwrap_or("?")
    );
    if let Some(reason) = result["reason"].as_str() {
        println!("Reason:       {reason}");
    }
    if result["status"] != "attested" {
        return Err(Failure(format!(
            "the registry did not attest the package ({})",
            result["status"].as_str().unwrap_or("unknown status")
        )));
    }
    Ok(())
}

/// Downloads the published keys and the whole chain, then verifies offline.
fn audit_verify(client: &Client) -> Result<(), Failure> {
    use base64::Engine;
    let keys = client.get("/api/v1/keys")?;
    let mut published = std::collections::HashMap::new();
    for k in keys["keys"].as_array().into_iter().flatten() {
        let kid = k["kid"].as_str().unwrap_or_default().to_string();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(k["public_key"].as_str().unwrap_or_default())
            .map_err(|e| Failure(format!("key {kid}: {e}")))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Failure(format!("key {kid} is not 32 bytes")))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .map_err(|e| Failure(format!("key {kid}: {e}")))?;
        published.insert(kid, key);
    }
    let mut receipts: Vec<audit::Receipt> = Vec::new();
    let mut after = 0i64;
    loop {
        let page = client.get(&format!("/api/v1/audit/receipts?after={after}&limit=5000"))?;
        let batch: Vec<audit::Receipt> = serde_json::from_value(page["receipts"].clone())
            .map_err(|e| Failure(format!("the export is not a list of receipts: {e}")))?;
        receipts.extend(batch);
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    match audit::verify_chain(&receipts, &published) {
        Ok(n) => {
            println!(
                "OK: {n} receipts, every hash, link and signature verified ({} keys)",
                published.len()
            );
            Ok(())
        }
        Err(e) => Err(Failure(format!("BROKEN: {e}"))),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("hallctl: {message}");
            ExitCode::FAILURE
        }
    }
}

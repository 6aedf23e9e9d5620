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
}

#[derive(Debug, Subcommand)]
enum CatalogCmd {
    /// Import a catalog file (the format of the public WCP taxonomy catalog); operator only.
    Import {
        /// Path to the catalog JSON (`{"_meta": {...}, "entities": [...]}`).
        file: PathBuf,
    },
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
    }
    Ok(())
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

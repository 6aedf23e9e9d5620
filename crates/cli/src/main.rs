//! `hallctl`: the Hall Registry command line.
//!
//! This is the skeleton later work fills in (tenants, keys, workers,
//! attestation, decisions, audit verification). It already knows where the
//! registry is, the way the PyHall SDKs find it.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hallctl",
    version,
    about = "Command line for Hall Registry, a self-hostable WCP governance registry."
)]
struct Cli {
    /// Registry base URL. `PYHALL_REGISTRY` wins over `PYHALL_REGISTRY_URL`, as in the PyHall SDKs.
    #[arg(long, global = true)]
    registry: Option<String>,

    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the registry URL hallctl would use, and where it came from.
    Where,
}

const DEFAULT_REGISTRY: &str = "http://127.0.0.1:8765";

/// The registry URL and where it came from: the flag, then `PYHALL_REGISTRY`,
/// then `PYHALL_REGISTRY_URL`, then the local default.
fn registry_url(flag: Option<String>) -> (String, &'static str) {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(url) = flag {
        return (url, "--registry");
    }
    if let Some(url) = from_env("PYHALL_REGISTRY") {
        return (url, "PYHALL_REGISTRY");
    }
    if let Some(url) = from_env("PYHALL_REGISTRY_URL") {
        return (url, "PYHALL_REGISTRY_URL");
    }
    (DEFAULT_REGISTRY.to_string(), "default")
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Where) => {
            let (url, source) = registry_url(cli.registry);
            println!("{url} (from {source})");
        }
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
        }
    }
}

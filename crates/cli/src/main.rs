//! `hallctl`: the Hall Registry command line.
//!
//! This file holds the command tree and the dispatch; each command group is a
//! module under `commands/`. `client` resolves the registry and credential
//! (flag, then environment, then the stored login of `hallctl auth login`,
//! see `credentials`) and talks HTTP; `output` prints human lines or, with
//! `--json`, the server's JSON; `failure` maps how a command ended to its
//! exit code (0 done, 1 error, 2 usage, 3 denied).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod client;
mod commands;
mod credentials;
mod failure;
mod operator_key;
mod output;
mod prompt;

use commands::Ctx;
use failure::{exit, CmdResult, Failure, Outcome};

const AFTER_HELP: &str = "\
Registry: --registry, else $PYHALL_REGISTRY, else $PYHALL_REGISTRY_URL, else the
stored login's, else http://127.0.0.1:8765 (`hallctl where` says which).
Credential: --api-key, else $PYHALL_API_KEY, else the key stored by
`hallctl auth login` (used only against the registry it was stored for).

Exit codes:
  0  success (for `decision make`: allowed)
  1  error: the registry refused the request or could not be reached, a file
     could not be read, or `audit verify` found a broken receipt (one line on
     stderr: HTTP status, error code, message)
  2  usage: a missing or invalid argument; nothing was sent
  3  denied: `decision make` was denied, `attest` was denied, `ban check`
     found a live ban, or `rules test` found a difference

Documentation: docs/cli.md";

#[derive(Debug, Parser)]
#[command(
    name = "hallctl",
    version,
    about = "Command line for Hall Registry, a self-hostable WCP governance registry.",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Registry base URL [default: $PYHALL_REGISTRY, else $PYHALL_REGISTRY_URL, else the stored login's, else http://127.0.0.1:8765].
    #[arg(long, global = true, value_name = "URL")]
    registry: Option<String>,

    /// API key (or session token) [default: $PYHALL_API_KEY, else the stored login's].
    #[arg(long, global = true, value_name = "KEY")]
    api_key: Option<String>,

    /// Print the registry's JSON answer instead of human-readable lines.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Print the registry URL hallctl would use, and where it came from.
    Where,
    /// Check the registry's health and version.
    Status,
    /// Log in (store a registry URL and API key), see who you are, log out.
    Auth {
        #[command(subcommand)]
        command: commands::auth::AuthCmd,
    },
    /// Authority namespaces (x.<name>, org.<name>) and their signing keys.
    Namespace {
        #[command(subcommand)]
        command: commands::namespace::NamespaceCmd,
    },
    /// Workers: register, list, show, revoke, attestation status.
    Worker {
        #[command(subcommand)]
        command: commands::worker::WorkerCmd,
    },
    /// Decisions: make one, show one, or query the log.
    Decision {
        #[command(subcommand)]
        command: commands::decision::DecisionCmd,
    },
    /// Route a capability request by your tenant's routing rules (WCP
    /// router): prints the decision. Exits 0 when allowed, 3 when denied.
    Route(commands::route::RouteArgs),
    /// The ban list of package hashes: check, report, review.
    Ban {
        #[command(subcommand)]
        command: commands::ban::BanCmd,
    },
    /// The tenant's policy: show it, set the approval TTL.
    Policy {
        #[command(subcommand)]
        command: commands::policy::PolicyCmd,
    },
    /// Tenants (operator): create, list, suspend, reactivate.
    Tenant {
        #[command(subcommand)]
        command: commands::tenant::TenantCmd,
    },
    /// API keys, the credentials clients present: create, list, revoke (not `keys`).
    ///
    /// `hallctl keys` (plural) is a different thing: the registry's receipt
    /// signing keys.
    Key {
        #[command(subcommand)]
        command: commands::key::KeyCmd,
    },
    /// Receipt signing keys of the registry: list, rotate (not `key`).
    ///
    /// API keys, the credentials clients present, are `hallctl key` (singular).
    Keys {
        #[command(subcommand)]
        command: commands::keys::KeysCmd,
    },
    /// Signed webhooks: endpoints, secrets, the delivery log, redelivery (`admin`).
    Webhook {
        #[command(subcommand)]
        command: commands::webhook::WebhookCmd,
    },
    /// Routing rules (PyHall rules JSON): get, put, test, versions, activate, snapshots.
    Rules {
        #[command(subcommand)]
        command: commands::rules::RulesCmd,
    },
    /// Human approvals of REQUIRE_HUMAN decisions (WCP §5.8).
    Approvals {
        #[command(subcommand)]
        command: commands::approvals::ApprovalsCmd,
    },
    /// The audit trail: verify it (online, or offline from saved files), export it.
    Audit {
        #[command(subcommand)]
        command: commands::audit::AuditCmd,
    },
    /// The WCP catalog.
    Catalog {
        #[command(subcommand)]
        command: commands::catalog::CatalogCmd,
    },
    /// Make an Ed25519 key pair for signing capability cards. The private key
    /// (base64 seed) goes to a new 0600 file; the public key and its kid are
    /// printed, to register with `hallctl namespace key add`.
    Keygen {
        /// Where to write the private key.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Print the canonical package hash of a worker package directory.
    Hash {
        /// The package directory.
        package_dir: std::path::PathBuf,
    },
    /// Hash a package, sign a capability card for it and submit it.
    Attest(commands::attest::AttestArgs),
}

fn run(cli: Cli) -> CmdResult {
    let ctx = Ctx::new(cli.registry, cli.api_key, cli.json);
    match cli.command {
        Cmd::Where => commands::status::where_(&ctx),
        Cmd::Status => commands::status::status(&ctx),
        Cmd::Auth { command } => commands::auth::run(&ctx, command),
        Cmd::Namespace { command } => commands::namespace::run(&ctx, command),
        Cmd::Worker { command } => commands::worker::run(&ctx, command),
        Cmd::Decision { command } => commands::decision::run(&ctx, command),
        Cmd::Route(args) => commands::route::run(&ctx, args),
        Cmd::Ban { command } => commands::ban::run(&ctx, command),
        Cmd::Policy { command } => commands::policy::run(&ctx, command),
        Cmd::Tenant { command } => commands::tenant::run(&ctx, command),
        Cmd::Key { command } => commands::key::run(&ctx, command),
        Cmd::Keys { command } => commands::keys::run(&ctx, command),
        Cmd::Rules { command } => commands::rules::run(&ctx, command),
        Cmd::Webhook { command } => commands::webhook::run(&ctx, command),
        Cmd::Approvals { command } => commands::approvals::run(&ctx, command),
        Cmd::Audit { command } => commands::audit::run(&ctx, command),
        Cmd::Catalog { command } => commands::catalog::run(&ctx, command),
        Cmd::Keygen { out } => commands::attest::keygen(&ctx, &out),
        Cmd::Hash { package_dir } => commands::attest::hash(&ctx, &package_dir),
        Cmd::Attest(args) => commands::attest::attest(&ctx, args),
    }
}

fn main() -> ExitCode {
    let (code, line) = match run(Cli::parse()) {
        Ok(Outcome::Done) => return ExitCode::SUCCESS,
        Ok(Outcome::Denied) => return ExitCode::from(exit::DENIED),
        Err(Failure::Error(message)) => (exit::ERROR, message),
        Err(Failure::Usage(message)) => (exit::USAGE, format!("{message} (see --help)")),
    };
    let _ = writeln!(std::io::stderr(), "hallctl: {line}");
    ExitCode::from(code)
}

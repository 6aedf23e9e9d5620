//! Server configuration: every setting is a flag and an environment variable
//! (`hall-registry --help` lists them all; the README has the table).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "hall-registry",
    version,
    about = "Hall Registry: a self-hostable, multi-tenant WCP governance registry.",
    long_about = "Hall Registry: a self-hostable, multi-tenant WCP governance registry.\n\n\
        With no configuration it serves on 127.0.0.1:8765, runs a private PostgreSQL in its \
        data directory and caches in-process. Set DATABASE_URL and REDIS_URL for deployments."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the registry (the default).
    Serve,
    /// Print the OpenAPI document (regenerate the checked-in copy with
    /// `cargo run --bin hall-registry -- openapi > openapi/openapi.json`).
    Openapi,
    /// Exit 0 when the server at HALL_LISTEN answers /readyz with 200
    /// (for container healthchecks; needs no curl).
    Healthcheck,
}

#[derive(Debug, Clone, Parser)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "HALL_LISTEN", default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,

    /// Directory for the private PostgreSQL and generated secrets. With the
    /// private PostgreSQL, one server at a time uses it (it is locked).
    /// Default: $XDG_DATA_HOME/hall-registry or ~/.local/share/hall-registry;
    /// /var/lib/hall-registry when running as root.
    #[arg(long, env = "HALL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// PostgreSQL URL. Without it, a private PostgreSQL runs in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Redis URL. Without it, caching is in-process (one replica only).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key, so several registries can share one Redis.
    #[arg(long, env = "HALL_REDIS_PREFIX", default_value = "hall:")]
    pub redis_prefix: String,

    /// Log format.
    #[arg(long, env = "HALL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `api=debug,info`.
    #[arg(long, env = "HALL_LOG_LEVEL", default_value = "info,sqlx=warn")]
    pub log_level: String,

    /// Largest request body accepted, in bytes; larger bodies get 413.
    #[arg(long, env = "HALL_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,

    /// Directory holding PostgreSQL's initdb and postgres, for the private PostgreSQL.
    /// Default: found on PATH or under /usr/lib/postgresql/*/bin.
    #[arg(long, env = "HALL_POSTGRES_BIN_DIR")]
    pub postgres_bin_dir: Option<PathBuf>,

    /// Size of the PostgreSQL connection pool of this process.
    #[arg(long, env = "HALL_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "HALL_WORKERS")]
    pub workers: Option<usize>,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "HALL_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,

    /// The operator's API key, used only on the first start against an empty
    /// database: `phk_` followed by at least 28 printable characters (a key
    /// without the prefix is refused at start). Without it a key is
    /// generated, printed once and written to <data dir>/operator-api-key (0600).
    #[arg(long, env = "HALL_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,

    /// Default lifetime of session tokens from POST /api/v1/auth/token, in seconds.
    #[arg(long, env = "HALL_SESSION_TTL_SECS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub session_ttl_secs: u64,

    /// Requests per minute allowed to one credential (0: no limit). Shared by
    /// every replica through Redis when REDIS_URL is set.
    #[arg(long, env = "HALL_RATE_LIMIT_PER_MINUTE", default_value_t = 60_000)]
    pub rate_limit_per_minute: u64,

    /// The Ed25519 key receipts are signed with: its 32-byte seed in base64 or
    /// hex. Replicas must share it. Without it (and without the file below)
    /// a key is generated into <data dir>/receipt-signing.key (0600).
    #[arg(long, env = "HALL_RECEIPT_SIGNING_KEY", hide_env_values = true)]
    pub receipt_signing_key: Option<String>,

    /// A file holding the receipt signing key (as `hallctl keygen` writes it).
    #[arg(long, env = "HALL_RECEIPT_SIGNING_KEY_FILE")]
    pub receipt_signing_key_file: Option<PathBuf>,

    /// The secret session tokens are signed with: at least 32 bytes, in
    /// base64 or hex. Replicas must share it. Without it (and without the
    /// file below) one is generated into <data dir>/session-secret (0600).
    /// Never kept in the database.
    #[arg(long, env = "HALL_SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<String>,

    /// A file holding the session secret.
    #[arg(long, env = "HALL_SESSION_SECRET_FILE")]
    pub session_secret_file: Option<PathBuf>,

    /// Whether claims on `org.*` namespaces wait for the operator's approval.
    #[arg(long, env = "HALL_ORG_CLAIMS_NEED_APPROVAL", default_value_t = false,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub org_claims_need_approval: bool,

    /// Different worker ids one tenant's SDK usage totals may hold per day
    /// (`POST /api/v1/telemetry/decisions`; more is refused with 429).
    #[arg(long, env = "HALL_TELEMETRY_IDS_PER_DAY", default_value_t = wcp::telemetry::DEFAULT_IDS_PER_DAY,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub telemetry_ids_per_day: u32,

    /// Ban reports one tenant may file per day, UTC (`POST
    /// /api/v1/ban-list/report`; more is refused with 429; the operator's
    /// own reports are not counted).
    #[arg(long, env = "HALL_BAN_REPORTS_PER_DAY", default_value_t = policy::ban_review::DEFAULT_REPORTS_PER_DAY,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub ban_reports_per_day: u32,

    /// Requests per minute allowed to one client IP without a valid credential (0: no limit).
    #[arg(long, env = "HALL_ANON_RATE_LIMIT_PER_MINUTE", default_value_t = 6_000)]
    pub anon_rate_limit_per_minute: u64,

    /// Reverse proxies whose `X-Forwarded-For` names the client, for the
    /// per-address limits: addresses or networks, comma-separated
    /// (e.g. `10.0.0.0/8,::1`). Empty: the peer is the client.
    #[arg(
        long,
        env = "HALL_TRUSTED_PROXIES",
        default_value = "",
        value_name = "LIST"
    )]
    pub trusted_proxies: crate::auth::TrustedProxies,

    /// Allow webhook endpoints on `http` and on private, loopback and
    /// link-local addresses (refused by default: a tenant's URL must not
    /// reach the operator's internal network). For receivers on the
    /// registry's own network, and for tests.
    #[arg(long, env = "HALL_WEBHOOK_ALLOW_PRIVATE", default_value_t = false,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub webhook_allow_private: bool,

    /// Seconds waited before each retry of a failed webhook delivery,
    /// comma-separated; after the last the delivery is failed. Each wait is
    /// moved at random by up to ±20 %. The default tries for about 27.6 hours.
    #[arg(
        long,
        env = "HALL_WEBHOOK_RETRY_SCHEDULE",
        value_name = "SECONDS,…",
        default_value = "5,300,1800,7200,18000,36000,36000"
    )]
    pub webhook_retry_schedule: webhooks::RetrySchedule,

    /// Days of nothing but failed attempts after which a webhook endpoint is
    /// disabled (and `endpoint.disabled` is sent to the tenant's others).
    #[arg(long, env = "HALL_WEBHOOK_DISABLE_AFTER_DAYS", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    pub webhook_disable_after_days: u32,

    /// Seconds a webhook secret replaced by a rotation keeps signing beside
    /// the new one.
    #[arg(long, env = "HALL_WEBHOOK_SECRET_OVERLAP_SECS", default_value_t = 86400,
          value_parser = clap::value_parser!(u32).range(0..=30 * 86400))]
    pub webhook_secret_overlap_secs: u32,

    /// Seconds one webhook delivery attempt may take.
    #[arg(long, env = "HALL_WEBHOOK_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_secs: u64,

    /// Milliseconds between the webhook dispatcher's looks for due deliveries
    /// when nothing announced any (new ones are announced and go at once).
    #[arg(long, env = "HALL_WEBHOOK_POLL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub webhook_poll_ms: u64,

    /// Days delivered and failed webhook deliveries stay in the delivery log
    /// (pending ones stay until they are done).
    #[arg(long, env = "HALL_WEBHOOK_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub webhook_retention_days: u32,

    /// Seconds between sweeps that mark pending approvals past their
    /// deadline `expired` and send `approval.expired`: an approval is
    /// announced at most this long after it lapsed (it reads expired at once).
    #[arg(long, env = "HALL_APPROVAL_SWEEP_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub approval_sweep_secs: u64,

    /// Seconds between the chain verifier's looks for receipts not yet
    /// re-checked (hash, link, signature, head) in every tenant's chain: a
    /// tampered receipt is found (and `chain.integrity_failure` sent) about
    /// this long after it was written, at the latest (a receipt is checked
    /// once, when new).
    #[arg(long, env = "HALL_CHAIN_CHECK_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub chain_check_secs: u64,

    /// How often each replica signs a checkpoint of every tenant's receipt
    /// tree that has grown (C2SP tlog-checkpoint; docs/audit.md): while
    /// receipts arrive, the newest checkpoint is about this far behind. A
    /// number with `ms`, `s` or `m` (100 ms to 1 h).
    #[arg(long, env = "HALL_CHECKPOINT_INTERVAL", default_value = "1s",
          value_parser = parse_interval)]
    pub checkpoint_interval: std::time::Duration,

    /// The name of this registry's verifiable log: a tenant's checkpoints
    /// have origin `<this>/<tenant id>` and are signed under this key name.
    /// A schema-less URL such as `registry.example.com/hall` (no spaces, no
    /// `+`). Default: `hall-registry/<installation id>`.
    #[arg(long, env = "HALL_LOG_ORIGIN", value_parser = parse_log_origin)]
    pub log_origin: Option<service::transparency::LogOrigin>,

    /// The operator's witnesses, trusted to cosign every tenant's
    /// checkpoints (C2SP tlog-cosignature; docs/audit.md): their verifier
    /// keys (`<name>+<key id>+<base64(0x04 ‖ Ed25519 key)>`, as
    /// `hallctl audit witness-key` prints them), separated by commas.
    /// Tenants register their own with `POST /api/v1/audit/witnesses`.
    #[arg(long, env = "HALL_WITNESS_KEYS", value_delimiter = ',',
          value_parser = parse_witness_key)]
    pub witness_keys: Vec<audit::cosignature::WitnessKey>,

    /// A bearer token GET /metrics requires (`Authorization: Bearer <token>`).
    /// Without it /metrics is public.
    #[arg(long, env = "HALL_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The webhook settings these flags make.
    pub fn webhook_settings(&self) -> service::WebhookSettings {
        service::WebhookSettings {
            allow_private: self.webhook_allow_private,
            rotation_overlap: chrono::Duration::seconds(i64::from(
                self.webhook_secret_overlap_secs,
            )),
            schedule: self.webhook_retry_schedule.clone(),
            disable_after: chrono::Duration::days(i64::from(self.webhook_disable_after_days)),
            timeout: std::time::Duration::from_secs(self.webhook_timeout_secs),
            poll: std::time::Duration::from_millis(self.webhook_poll_ms),
            retention: chrono::Duration::days(i64::from(self.webhook_retention_days)),
            ..service::WebhookSettings::default()
        }
    }

    /// The data directory, resolving the per-user default.
    pub fn resolved_data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        if running_as_root() {
            return PathBuf::from("/var/lib/hall-registry");
        }
        if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(xdg).join("hall-registry");
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".local/share/hall-registry"),
            None => PathBuf::from(".hall-registry"),
        }
    }

    /// Every environment variable the server reads, for documentation and tests.
    pub fn environment_variables() -> Vec<String> {
        use clap::CommandFactory;
        Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().to_string()))
            .collect()
    }
}

fn running_as_root() -> bool {
    // The effective uid from /proc keeps this crate free of unsafe code.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_on_localhost_8765_with_no_environment() {
        let cli = Cli::try_parse_from(["hall-registry"]).unwrap();
        assert_eq!(cli.config.listen, "127.0.0.1:8765".parse().unwrap());
        assert_eq!(cli.config.log_format, LogFormat::Text);
    }

    #[test]
    fn every_documented_variable_is_read() {
        let vars = Config::environment_variables();
        for v in [
            "HALL_LISTEN",
            "HALL_DATA_DIR",
            "DATABASE_URL",
            "REDIS_URL",
            "HALL_LOG_FORMAT",
            "HALL_MAX_BODY_BYTES",
        ] {
            assert!(vars.iter().any(|x| x == v), "{v} missing from {vars:?}");
        }
    }

    #[test]
    fn unknown_log_format_is_rejected() {
        assert!(Cli::try_parse_from(["hall-registry", "--log-format", "xml"]).is_err());
    }
}

/// `HALL_CHECKPOINT_INTERVAL`: `250ms`, `1s`, `2m` — 100 ms to 1 h.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a number with ms, s or m"))?;
    let d = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("{s:?}: the unit is ms, s or m")),
    };
    if d < std::time::Duration::from_millis(100) || d > std::time::Duration::from_secs(3600) {
        return Err(format!("{s:?} is not between 100ms and 60m"));
    }
    Ok(d)
}

fn parse_witness_key(s: &str) -> Result<audit::cosignature::WitnessKey, String> {
    audit::cosignature::WitnessKey::from_vkey(s.trim()).map_err(|e| format!("{s:?}: {e}"))
}

fn parse_log_origin(s: &str) -> Result<service::transparency::LogOrigin, String> {
    service::transparency::LogOrigin::parse(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod interval_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn checkpoint_intervals_read_with_their_unit_and_within_bounds() {
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("5"), Ok(Duration::from_secs(5)));
        for bad in ["", "ms", "10ms", "61m", "1h", "-1s", "1.5s"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}

//! Start-up and shutdown: bind the listening address, resolve the database
//! (given, or the private PostgreSQL), migrate, connect the cache, serve, and
//! on SIGTERM/SIGINT finish in-flight requests before stopping PostgreSQL.
//!
//! The address comes first: a port that is already taken must be found before
//! anything is created in the data directory (a cluster, key files).

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::web;
use registry::cache::CacheError;
use registry::credentials::KeyError;
use registry::{
    ApiKeySecret, Bootstrap, BootstrapKey, Cache, Instance, PrivatePgError, PrivatePostgres, Store,
    StoreError, StoreOptions,
};

use crate::auth::AuthConfig;

use crate::config::{Config, LogFormat};
use crate::server::{self, HttpOptions};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    PrivatePostgres(#[from] PrivatePgError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0} (REDIS_URL is set; unset it to cache in-process)")]
    Cache(#[from] CacheError),
    #[error("cannot listen on {addr}: {}", bind_advice(source))]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid HALL_LOG_LEVEL: {0}")]
    LogFilter(String),
    #[error("{}", bootstrap_key_error(.0))]
    BootstrapKey(KeyError),
    #[error("receipt signing key: {0}")]
    ReceiptKey(String),
    #[error("{0}")]
    Webhooks(#[from] service::webhooks::dispatch::ClientError),
    #[error("session secret: {0}")]
    SessionSecret(String),
}

pub use crate::receipt_keys::RECEIPT_KEY_FILE;

/// What to do about an address that cannot be listened on.
impl From<KeyError> for StartupError {
    fn from(e: KeyError) -> Self {
        StartupError::BootstrapKey(e)
    }
}

/// What the operator reads when the bootstrap key cannot be used.
fn bootstrap_key_error(e: &KeyError) -> String {
    match e {
        KeyError::Random(why) => format!("the system random number generator failed: {why}"),
        KeyError::WeakSuppliedKey => format!(
            "HALL_BOOTSTRAP_API_KEY must be at least {} printable ASCII characters without \
             spaces (e.g. `phk_` and 43 base64url characters)",
            registry::credentials::MIN_SUPPLIED_KEY_LEN
        ),
        KeyError::UnprefixedSuppliedKey => format!(
            "HALL_BOOTSTRAP_API_KEY must start with `{}` (API keys without it never \
             authenticate), e.g. `phk_` and 43 base64url characters",
            registry::credentials::KEY_PREFIX
        ),
    }
}

fn bind_advice(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let choose = "choose another address with HALL_LISTEN (--listen)";
    match e.kind() {
        ErrorKind::AddrInUse => format!(
            "the address is already in use (another process listens there); stop it or {choose}"
        ),
        ErrorKind::AddrNotAvailable => {
            format!("the address is not one of this machine's; {choose}")
        }
        ErrorKind::PermissionDenied => {
            format!("permission denied (ports below 1024 need privileges); {choose}")
        }
        _ => format!("{e}; {choose}"),
    }
}

/// Name of the file, in the data directory, holding a generated operator key.
pub const OPERATOR_KEY_FILE: &str = "operator-api-key";

/// What start-up says about the operator key.
enum OperatorKey {
    /// Generated now: shown once, and written to this file (if it could be).
    Generated {
        key: String,
        file: Result<std::path::PathBuf, String>,
    },
    /// Created now from HALL_BOOTSTRAP_API_KEY.
    Supplied,
    /// The database already had an operator.
    Existing,
}

/// Sets up structured logging: text for people, JSON (one object per line,
/// with the request span's fields) for machines. Colours only on a terminal
/// (and not with `NO_COLOR` set): a file or a pipe gets plain text.
pub fn init_logging(format: LogFormat, level: &str) -> Result<(), StartupError> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| StartupError::LogFilter(e.to_string()))?;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // A second initialisation (tests start several servers) keeps the first.
    let _ = result;
    Ok(())
}

/// Where the registry keeps its data this run.
enum Database {
    External { display_url: String },
    Private(PrivatePostgres),
}

/// A started registry: bound, migrated, serving once [`Registry::run`] or
/// [`Registry::spawn`] drives it.
pub struct Registry {
    bound: server::BoundServer,
    store: Store,
    cache: Cache,
    database: Database,
    instance: Instance,
    operator_key: OperatorKey,
}

impl Registry {
    /// Everything up to serving: the listener first, then the data.
    pub async fn start(config: &Config) -> Result<Self, StartupError> {
        let bind_error = |source| StartupError::Bind {
            addr: config.listen,
            source,
        };
        let listener = server::listen(config.listen).map_err(bind_error)?;
        let store_options = StoreOptions {
            max_connections: config.db_max_connections.max(1),
            ..StoreOptions::default()
        };
        let (store, database) = match &config.database_url {
            Some(url) => {
                let store = Store::connect(Store::parse_url(url)?, &store_options).await?;
                let display_url = registry::redact_url(url);
                (store, Database::External { display_url })
            }
            None => {
                let data_dir = config.resolved_data_dir();
                let pg =
                    PrivatePostgres::start(&data_dir, config.postgres_bin_dir.as_deref()).await?;
                // On failure from here on, dropping `pg` stops it.
                let store = Store::connect(pg.connect_options(), &store_options).await?;
                (store, Database::Private(pg))
            }
        };
        store.migrate().await?;
        let instance = store.instance().await?;
        let operator_key = bootstrap(&store, config).await?;
        let session_secret =
            crate::session_secret::load(config).map_err(StartupError::SessionSecret)?;
        let mut auth = AuthConfig::new(
            &session_secret,
            Duration::from_secs(config.session_ttl_secs),
            config.rate_limit_per_minute,
            config.anon_rate_limit_per_minute,
        );
        auth.trusted_proxies = config.trusted_proxies.clone();

        let cache = match &config.redis_url {
            Some(url) => Cache::redis(url, &config.redis_prefix).await?,
            None => Cache::in_process(),
        };

        let bans = registry::bans::BanCache::start(store.clone(), cache.clone()).await?;
        let (key_source, receipt_key) = crate::receipt_keys::KeySource::load(config)
            .map_err(|e| StartupError::ReceiptKey(e.to_string()))?;
        if let (
            Some(_),
            crate::receipt_keys::KeySource::File {
                path,
                generated: true,
            },
        ) = (&config.database_url, &key_source)
        {
            tracing::warn!(
                path = %path.display(),
                "the receipt signing key was generated into this replica's data directory; \
                 replicas sharing DATABASE_URL should share one key (HALL_RECEIPT_SIGNING_KEY_FILE)"
            );
        }
        store
            .publish_receipt_key(&receipt_key.kid, receipt_key.key.verifying_key().as_bytes())
            .await?;
        let receipts = registry::receipts::ReceiptWriter::start(store.clone(), receipt_key);
        store.prune_idempotency_keys_forever();
        let mut state = AppState::new(store.clone(), cache.clone(), auth, bans, receipts);
        crate::receipt_keys::follow_rotations(state.hall.clone(), key_source.clone());
        state.receipt_key_source = key_source;
        state.hall.org_claims_need_approval = config.org_claims_need_approval;
        state.hall.telemetry_ids_per_day = config.telemetry_ids_per_day;
        state.hall.ban_reports_per_day = config.ban_reports_per_day;
        state.hall.webhooks = config.webhook_settings();
        // Stops by itself when the store closes at shutdown.
        service::webhooks::dispatch::Dispatcher::new(store.clone(), state.hall.webhooks.clone())?
            .counting_into(state.hall.dispatch_stats.clone())
            .start();
        // Stops by itself when the store closes at shutdown.
        service::approvals::sweep_lapsed_approvals(
            state.hall.clone(),
            Duration::from_secs(config.approval_sweep_secs),
        );
        // Stops by itself when the store closes at shutdown.
        service::chain_check::check_chains_forever(
            state.hall.clone(),
            Duration::from_secs(config.chain_check_secs),
        );
        state.hall.log_origin = match &config.log_origin {
            Some(origin) => origin.clone(),
            // A UUID makes a valid origin; the fallback is never used.
            None => {
                service::transparency::LogOrigin::parse(&format!("hall-registry/{}", instance.id))
                    .unwrap_or_default()
            }
        };
        state.hall.operator_witnesses = config.witness_keys.clone().into();
        // Stops by itself when the store closes at shutdown.
        service::transparency::issue_checkpoints_forever(
            state.hall.clone(),
            config.checkpoint_interval,
        );
        state.metrics_token = config.metrics_token.clone().filter(|t| !t.is_empty());
        let state = web::Data::new(state);
        let options = HttpOptions {
            workers: config.workers,
            max_body_bytes: config.max_body_bytes,
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout_secs),
        };
        let bound = server::serve(state, listener, &options).map_err(bind_error)?;
        Ok(Self {
            bound,
            store,
            cache,
            database,
            instance,
            operator_key,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.bound.addr
    }

    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// What start-up prints: where it listens, the Swagger UI, the database and the cache.
    pub fn banner(&self) -> String {
        let base = format!("http://{}", self.bound.addr);
        let database = match &self.database {
            Database::External { display_url } => format!("PostgreSQL at {display_url}"),
            Database::Private(pg) => pg.describe(),
        };
        let data = if self.instance.created_now {
            "new registry (empty database, migrated)".to_string()
        } else {
            format!(
                "reusing registry {} created {}",
                self.instance.id,
                self.instance.created_at.to_rfc3339()
            )
        };
        let mut banner = format!(
            "Hall Registry {version} listening on {base}\n\
             \x20 Swagger UI: {base}/docs/\n\
             \x20 OpenAPI:    {base}/openapi.json\n\
             \x20 Database:   {database}\n\
             \x20 Data:       {data}\n\
             \x20 Cache:      {cache}",
            version = crate::VERSION,
            cache = self.cache.describe(),
        );
        match &self.operator_key {
            OperatorKey::Generated { key, file } => {
                banner.push_str(&format!(
                    "\n\n  Operator API key (shown this once): {key}\n"
                ));
                match file {
                    Ok(path) => banner
                        .push_str(&format!("  Also saved, mode 0600, in {}\n", path.display())),
                    Err(e) => {
                        banner.push_str(&format!("  It could not be saved ({e}): copy it now.\n"))
                    }
                }
            }
            OperatorKey::Supplied => {
                banner.push_str("\n  Operator API key: the one given in HALL_BOOTSTRAP_API_KEY")
            }
            OperatorKey::Existing => {}
        }
        banner
    }

    /// Serves until SIGTERM/SIGINT (or a stop through the handle), then
    /// finishes in-flight requests and stops the private PostgreSQL.
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.bound.server.await;
        self.store.close().await;
        if let Database::Private(pg) = self.database {
            pg.stop().await;
        }
        result
    }

    /// Serves in the background; for tests that drive the server over HTTP.
    pub fn spawn(self) -> RunningRegistry {
        let addr = self.bound.addr;
        let handle = self.bound.handle.clone();
        let task = tokio::spawn(self.run());
        RunningRegistry { addr, handle, task }
    }
}

/// Creates the operator on the first start against an empty database.
async fn bootstrap(store: &Store, config: &Config) -> Result<OperatorKey, StartupError> {
    let key = match config
        .bootstrap_api_key
        .as_deref()
        .filter(|k| !k.is_empty())
    {
        Some(k) => BootstrapKey::Supplied(ApiKeySecret::supplied(k)?),
        None => BootstrapKey::Generated(ApiKeySecret::generate()?),
    };
    Ok(match store.bootstrap_operator(key).await? {
        Bootstrap::Created { supplied: true, .. } => OperatorKey::Supplied,
        Bootstrap::Created { key, .. } => {
            let file = write_operator_key(&config.resolved_data_dir(), key.expose());
            if let Err(e) = &file {
                tracing::warn!(error = %e, "could not save the generated operator key");
            }
            OperatorKey::Generated {
                key: key.expose().to_string(),
                file,
            }
        }
        Bootstrap::Existing {
            supplied_key_is_live,
        } => {
            if supplied_key_is_live == Some(false) {
                tracing::warn!(
                    "HALL_BOOTSTRAP_API_KEY is ignored: it is used only on the first start, and \
                     it is not a live operator key of this registry"
                );
            }
            OperatorKey::Existing
        }
    })
}

/// Saves the generated operator key where only this user can read it.
fn write_operator_key(data_dir: &std::path::Path, key: &str) -> Result<std::path::PathBuf, String> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    registry::private_pg::create_data_dir(data_dir)
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let path = data_dir.join(OPERATOR_KEY_FILE);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // An existing file keeps its old mode on open; tighten it.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(file, "{key}").map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A registry serving in the background.
pub struct RunningRegistry {
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningRegistry {
    /// Stops gracefully: in-flight requests finish first.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

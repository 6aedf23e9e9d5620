//! Start-up and shutdown: resolve the database (given, or the private
//! PostgreSQL), migrate, connect the cache, bind, serve, and on
//! SIGTERM/SIGINT finish in-flight requests before stopping PostgreSQL.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::web;
use registry::cache::CacheError;
use registry::{Cache, Instance, PrivatePgError, PrivatePostgres, Store, StoreError, StoreOptions};

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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid HALL_LOG_LEVEL: {0}")]
    LogFilter(String),
}

/// Sets up structured logging: text for people, JSON (one object per line,
/// with the request span's fields) for machines.
pub fn init_logging(format: LogFormat, level: &str) -> Result<(), StartupError> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| StartupError::LogFilter(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
}

impl Registry {
    /// Everything up to and including binding the listener.
    pub async fn start(config: &Config) -> Result<Self, StartupError> {
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
                let pg = PrivatePostgres::start(&data_dir, config.postgres_bin_dir.as_deref()).await?;
                // On failure from here on, dropping `pg` stops it.
                let store = Store::connect(pg.connect_options(), &store_options).await?;
                (store, Database::Private(pg))
            }
        };
        store.migrate().await?;
        let instance = store.instance().await?;

        let cache = match &config.redis_url {
            Some(url) => Cache::redis(url, &config.redis_prefix).await?,
            None => Cache::in_process(),
        };

        let state = web::Data::new(AppState::new(store.clone(), cache.clone()));
        let options = HttpOptions {
            listen: config.listen,
            workers: config.workers,
            max_body_bytes: config.max_body_bytes,
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout_secs),
        };
        let bound = server::bind(state, &options).map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?;
        Ok(Self {
            bound,
            store,
            cache,
            database,
            instance,
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
        format!(
            "Hall Registry {version} listening on {base}\n\
             \x20 Swagger UI: {base}/docs/\n\
             \x20 OpenAPI:    {base}/openapi.json\n\
             \x20 Database:   {database}\n\
             \x20 Data:       {data}\n\
             \x20 Cache:      {cache}",
            version = crate::VERSION,
            cache = self.cache.describe(),
        )
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

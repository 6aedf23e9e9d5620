//! Hall Registry's store: every SQL statement of the registry lives in this
//! crate, behind typed methods. PostgreSQL is the truth; the [`cache`] module
//! holds what may be lost (Redis, or an in-process map without Redis).

pub mod api_keys;
pub mod approvals;
pub mod attestations;
pub mod bans;
pub mod cache;
pub mod catalog;
pub mod chain_checks;
pub mod checkpoints;
pub mod credentials;
pub mod decisions;
mod error;
pub mod facts;
pub mod idempotency;
pub mod namespaces;
pub mod private_pg;
pub mod pubsub;
pub mod receipt_keys;
pub mod receipts;
pub mod route_events;
pub mod routing_rules;
pub mod telemetry;
pub mod tenant_policy;
pub mod tenants;
pub mod tree;
pub mod webhooks;
pub mod workers;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use uuid::Uuid;

pub use api_keys::{ApiKey, KeyCredential};
pub use cache::Cache;
pub use credentials::{ApiKeySecret, Scope, Scopes};
pub use error::{Conflict, Entity, StoreError, Unavailable};
pub use private_pg::{PrivatePgError, PrivatePostgres};
pub use tenants::{Bootstrap, BootstrapKey, Tenant, TenantStatus};
use wcp::TenantId;

/// Migrations embedded at build time, so the binary needs no files at run time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    has_sqlstate(e, "23505")
}

/// Whether a database error carries SQLSTATE `code`.
pub(crate) fn has_sqlstate(e: &sqlx::Error, code: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some(code))
}

/// How the store connects and how large its pool is.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 20,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// This installation's identity, created by the first start against an empty database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// True when this start created the row (a fresh database).
    pub created_now: bool,
}

/// The registry's PostgreSQL store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

/// The store as seen by one tenant: every query it runs is bound to that
/// tenant, so tenant-owned rows cannot be reached without naming the tenant.
#[derive(Clone, Copy, Debug)]
pub struct TenantStore<'a> {
    store: &'a Store,
    tenant: &'a TenantId,
}

impl TenantStore<'_> {
    pub fn tenant_id(&self) -> &TenantId {
        self.tenant
    }
}

impl Store {
    /// The tenant-scoped view of the store.
    pub fn tenant<'a>(&'a self, tenant: &'a TenantId) -> TenantStore<'a> {
        TenantStore {
            store: self,
            tenant,
        }
    }

    /// Parses a `postgres://` URL into connection options.
    pub fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::InvalidUrl(format!(
                "{} is not a postgres:// or postgresql:// URL",
                redact_url(url)
            )));
        }
        url.parse::<PgConnectOptions>()
            .map_err(|e| StoreError::InvalidUrl(e.to_string()))
    }

    /// Opens a pool and checks that PostgreSQL answers.
    pub async fn connect(
        connect: PgConnectOptions,
        options: &StoreOptions,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.application_name("hall-registry"))
            .await
            .map_err(|e| StoreError::from(Unavailable::Database(e)))?;
        Ok(Self { pool })
    }

    /// Applies pending migrations. sqlx holds a PostgreSQL advisory lock while
    /// migrating, so replicas starting together apply each migration once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Round trip to PostgreSQL, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from(Unavailable::Database(e)))?;
        Ok(())
    }

    /// Reads this installation's identity, creating it on the first start.
    pub async fn instance(&self) -> Result<Instance, StoreError> {
        let inserted: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "INSERT INTO registry_instance (instance_id) VALUES ($1)
             ON CONFLICT (singleton) DO NOTHING
             RETURNING instance_id, created_at",
        )
        .bind(Uuid::now_v7())
        .fetch_optional(&self.pool)
        .await?;
        if let Some((id, created_at)) = inserted {
            return Ok(Instance {
                id,
                created_at,
                created_now: true,
            });
        }
        let (id, created_at): (Uuid, DateTime<Utc>) =
            sqlx::query_as("SELECT instance_id, created_at FROM registry_instance")
                .fetch_one(&self.pool)
                .await?;
        Ok(Instance {
            id,
            created_at,
            created_now: false,
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every pooled connection; used on shutdown before the private
    /// PostgreSQL stops.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Whether [`Store::close`] was called: background listeners stop
    /// quietly then instead of reporting a lost connection.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}

/// Renders a database URL for people: the password is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparseable URL>".to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    // Query parameters may carry a password too (`?password=`).
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacted_url_hides_the_password_and_keeps_the_rest() {
        assert_eq!(
            redact_url("postgres://hall:s3cret@db:5432/hall?sslmode=require"),
            "postgres://hall:***@db:5432/hall?sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:pw@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(
            redact_url("postgres://db/hall?user=a&password=b"),
            "postgres://db/hall?user=a&password=***"
        );
        assert_eq!(redact_url("postgres://db/hall"), "postgres://db/hall");
        assert_eq!(redact_url("not a url"), "<unparseable URL>");
    }
}

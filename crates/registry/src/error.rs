//! What can go wrong in the store, said in the store's terms.
//!
//! [`StoreError`] names what happened — PostgreSQL or the receipt writer is
//! unavailable, a row is missing, a change collides with a stored row, a
//! stored row breaks an invariant — never what a client should be told:
//! the messages people read are written by `api`, where these are mapped to
//! HTTP. The store judges nothing: the rules live in the pure crates and
//! are applied by the use cases (`crates/service`), which may hand the store
//! a rule to apply under a row lock.

use wcp::{Namespace, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),
    /// The store cannot serve now; the same call may succeed later.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure: a bug of ours, not the caller's.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// No such row.
    #[error("{0} not found")]
    NotFound(Entity),
    /// The change collides with the row as stored.
    #[error("{0}: {1}")]
    Conflict(Entity, Conflict),
    /// A row that breaks an invariant the code relies on (never client input).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

/// Why the store cannot serve now.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// PostgreSQL refused or lost the connection, no pooled connection came
    /// free in time, or the pool is closed (shutting down).
    #[error("PostgreSQL is unreachable: {0}")]
    Database(#[source] sqlx::Error),
    /// The receipt writer's task has ended: nothing more can be appended.
    #[error("the receipt writer has stopped")]
    WriterStopped,
    /// The receipt's batch did not commit (or its idempotency claim was
    /// taken over); nothing of it was stored.
    #[error("the receipt was not committed: {0}")]
    NotCommitted(String),
    /// The connection was lost after the receipt's batch sent its last
    /// statement (the autocommitted call, or COMMIT): it may or may not be
    /// stored (whatever it used stays used).
    #[error("the receipt's commit was not confirmed: {0}")]
    CommitUnknown(String),
}

impl From<sqlx::Error> for StoreError {
    /// Connection trouble (refused, lost, pool timed out or closed, and the
    /// server's own "shutting down"/"cannot connect now") is [`Unavailable`];
    /// everything else is a database error.
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(Unavailable::Database(e))
        } else {
            StoreError::Database(e)
        }
    }
}

/// Whether a database error means "not now" rather than "wrong".
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08 (connection exception), 57P01..57P03 (admin/crash
        // shutdown, cannot connect now), 53300 (too many connections).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// A stored row, named by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    Tenant(TenantId),
    ApiKey {
        tenant: String,
        name: String,
    },
    Worker(String),
    Attestation(String),
    Namespace(Namespace),
    /// A namespace claim waiting for the operator.
    PendingClaim(Namespace),
    NamespaceKey {
        namespace: Namespace,
        kid: String,
    },
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entity::Tenant(t) => write!(f, "tenant {t}"),
            Entity::ApiKey { tenant, name } => write!(f, "API key {name:?} of tenant {tenant}"),
            Entity::Worker(w) => write!(f, "worker {w}"),
            Entity::Attestation(a) => write!(f, "attestation {a}"),
            Entity::Namespace(ns) => write!(f, "namespace {ns}"),
            Entity::PendingClaim(ns) => write!(f, "pending claim on {ns}"),
            Entity::NamespaceKey { namespace, kid } => {
                write!(f, "key {kid} of namespace {namespace}")
            }
        }
    }
}

/// How a change collides with a stored row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// A row with this key exists already (a unique constraint).
    #[error("exists already")]
    Exists,
    /// The row is in a status the change does not apply to (`status` as stored).
    #[error("its status is {0}")]
    Status(String),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Store, StoreOptions};

    async fn one_connection(db: &testkit::TestDb) -> Store {
        let options = StoreOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(200),
        };
        Store::connect(Store::parse_url(db.url()).unwrap(), &options)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_pool_timeout_is_unavailable() {
        let db = testkit::TestDb::create().await;
        let store = one_connection(&db).await;
        let _held = store.pool().acquire().await.unwrap();
        let err = store.instance().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unavailable(Unavailable::Database(sqlx::Error::PoolTimedOut))
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_closed_pool_is_unavailable() {
        let db = testkit::TestDb::create().await;
        let store = one_connection(&db).await;
        store.close().await;
        let err = store.instance().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unavailable(Unavailable::Database(sqlx::Error::PoolClosed))
            ),
            "{err:?}"
        );
    }

    #[test]
    fn other_database_errors_are_not_unavailable() {
        let err = StoreError::from(sqlx::Error::RowNotFound);
        assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    }
}

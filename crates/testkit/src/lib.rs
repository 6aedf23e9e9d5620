//! Test harness shared by every crate's integration tests.
//!
//! - [`TestDb`]: a fresh PostgreSQL database per test, created through
//!   `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//!   and dropped when the value is dropped.
//! - [`TestRedis`]: a key space of its own in the Redis at `REDIS_URL`
//!   (default `redis://127.0.0.1:6379`), emptied when dropped.
//!
//! The HTTP server helper lives in `crates/api/tests/common`, beside the
//! server it starts.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The PostgreSQL the tests create their databases in.
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string())
}

/// The Redis the tests share, each under its own prefix.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_string())
}

/// Replaces the database name in a `postgres://` URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("DATABASE_URL has a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.split_once('?').map(|(_, q)| q);
    match query {
        Some(q) => format!("{scheme}://{authority}/{database}?{q}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// A database that exists for one test.
pub struct TestDb {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDb {
    /// Creates an empty database with a unique name.
    pub async fn create() -> Self {
        let admin_url = admin_database_url();
        let name = format!("hall_test_{}", Uuid::new_v4().simple());
        let mut conn = connect_with_retry(&admin_url).await;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        conn.close().await.ok();
        Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        }
    }

    /// `postgres://…/hall_test_<id>`, to hand to the server as `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A direct connection, for tests that look at rows themselves.
    pub async fn connect(&self) -> PgConnection {
        connect_with_retry(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which must not block on itself.
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping the test database");
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&admin_url).await?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                conn.close().await
            })
        })
        .join();
        if let Ok(Err(e)) = result {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

async fn connect_with_retry(url: &str) -> PgConnection {
    let mut last = None;
    for _ in 0..50 {
        match PgConnection::connect(url).await {
            Ok(c) => return c,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "cannot reach PostgreSQL at {url} (set DATABASE_URL): {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    );
}

/// A Redis key space of one test: every key under [`TestRedis::prefix`].
pub struct TestRedis {
    url: String,
    prefix: String,
}

impl TestRedis {
    pub fn new() -> Self {
        Self {
            url: redis_url(),
            prefix: format!("hall-test:{}:", Uuid::new_v4().simple()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key prefix to give the server (`HALL_REDIS_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Keys currently in this key space (prefix included).
    pub fn keys(&self) -> Vec<String> {
        self.try_keys().unwrap_or_else(|e| {
            panic!(
                "cannot list keys in Redis at {} (set REDIS_URL): {e}",
                self.url
            )
        })
    }

    fn try_keys(&self) -> redis::RedisResult<Vec<String>> {
        let client = redis::Client::open(self.url.as_str())?;
        let mut conn = client.get_connection()?;
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // A Redis that went away mid-test (some tests stop it) leaves nothing to clean.
        let Ok(keys) = self.try_keys() else { return };
        if keys.is_empty() {
            return;
        }
        if let Ok(mut conn) =
            redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/test?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}

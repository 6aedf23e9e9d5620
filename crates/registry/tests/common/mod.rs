//! What the store's test binaries share: a store on a fresh test database,
//! a tenant in it, and plain SQL run behind the store's back (as an
//! operator in psql would).
//!
//! Each test binary uses only some of these.
#![allow(dead_code)]

use registry::{Store, StoreOptions};
use testkit::TestDb;
use wcp::TenantId;

/// A store on `db`, not migrated.
pub async fn connect(db: &TestDb) -> Store {
    Store::connect(
        Store::parse_url(db.url()).unwrap(),
        &StoreOptions::default(),
    )
    .await
    .unwrap()
}

/// A store on `db` with every migration applied.
pub async fn store(db: &TestDb) -> Store {
    let s = connect(db).await;
    s.migrate().await.unwrap();
    s
}

/// Creates tenant `id` (named `name`) and returns its id.
pub async fn tenant(s: &Store, id: &str, name: &str) -> TenantId {
    let t = TenantId::parse(id).unwrap();
    s.create_tenant(&t, name).await.unwrap();
    t
}

/// Runs `sql` on `db` directly, not through the store.
pub async fn execute(db: &TestDb, sql: &str) {
    sqlx::query(sql)
        .execute(&mut db.connect().await)
        .await
        .unwrap();
}

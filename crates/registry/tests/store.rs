//! The store and the cache against real PostgreSQL and Redis.

use std::time::Duration;

use registry::{Cache, Store};
use testkit::{TestDb, TestRedis};

mod common;
use common::connect;

#[tokio::test]
async fn concurrent_migrations_on_one_database_apply_each_migration_once() {
    let db = TestDb::create().await;
    let (a, b) = (connect(&db).await, connect(&db).await);
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    // And again: migrating an up-to-date database changes nothing.
    a.migrate().await.unwrap();
    let mut conn = db.connect().await;
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT version) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(rows, distinct);
    assert!(rows >= 1);
}

#[tokio::test]
async fn installation_identity_is_created_once_and_then_reused() {
    let db = TestDb::create().await;
    let s = connect(&db).await;
    s.migrate().await.unwrap();
    let first = s.instance().await.unwrap();
    assert!(first.created_now);
    let again = connect(&db).await.instance().await.unwrap();
    assert!(!again.created_now);
    assert_eq!(again.id, first.id);
    assert_eq!(again.created_at, first.created_at);
}

#[tokio::test]
async fn invalid_database_url_is_reported_as_invalid() {
    let err = Store::parse_url("mysql://nope").unwrap_err();
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
}

#[tokio::test]
async fn redis_cache_keeps_every_key_under_its_prefix() {
    let space = TestRedis::new();
    let cache = Cache::redis(space.url(), space.prefix()).await.unwrap();
    assert!(cache.is_redis());
    cache
        .set("answer", b"42", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(cache.get("answer").await.unwrap(), Some(b"42".to_vec()));
    assert_eq!(space.keys(), vec![format!("{}answer", space.prefix())]);
    cache.delete("answer").await.unwrap();
    assert_eq!(cache.get("answer").await.unwrap(), None);
    assert!(space.keys().is_empty());
}

#[tokio::test]
async fn redis_window_counter_is_shared_by_two_processes_and_expires() {
    let space = TestRedis::new();
    let replica_a = Cache::redis(space.url(), space.prefix()).await.unwrap();
    let replica_b = Cache::redis(space.url(), space.prefix()).await.unwrap();
    let window = Duration::from_millis(300);
    assert_eq!(replica_a.incr_in_window("rl", window).await.unwrap().0, 1);
    assert_eq!(replica_b.incr_in_window("rl", window).await.unwrap().0, 2);
    let (count, reset) = replica_a.incr_in_window("rl", window).await.unwrap();
    assert_eq!(count, 3);
    assert!(reset > Duration::ZERO && reset <= window, "{reset:?}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(replica_b.incr_in_window("rl", window).await.unwrap().0, 1);
}

#[tokio::test]
async fn unreachable_redis_is_an_error_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let err = Cache::redis(&format!("redis://127.0.0.1:{port}"), "x:")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The registry's migrations older than `version`, to set a database up as
/// an earlier release left it.
fn migrations_before(version: i64) -> sqlx::migrate::Migrator {
    let all = sqlx::migrate!("../../migrations");
    sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            all.iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    }
}

/// Migration 31 keeps only what a route's envelopes add to its receipt: rows
/// stored before it are rewritten into that form, nothing lost.
#[tokio::test]
async fn route_telemetry_stored_as_envelopes_is_rewritten_to_what_they_add() {
    const COMPACT: i64 = 20261126000031;
    let db = TestDb::create().await;
    let mut conn = db.connect().await;
    migrations_before(COMPACT).run(&mut conn).await.unwrap();
    let common = serde_json::json!({"correlation_id": "c1", "tenant_id": "org.acme"});
    let with = |extra: serde_json::Value| {
        let mut e = common.clone();
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    let routed = serde_json::json!([
        with(serde_json::json!({"event_id": "evt.os.task.routed",
            "policy_version": "p/1", "qos_class": "P1"})),
        with(serde_json::json!({"event_id": "evt.os.worker.selected",
            "selected_worker_id": "x.acme.w", "reason": "first_available_candidate"})),
        with(
            serde_json::json!({"event_id": "evt.os.policy.gated", "decision": "ALLOW",
            "policy_version": "p/1", "reason": "human_approved"})
        ),
    ]);
    let denied = serde_json::json!([with(serde_json::json!({
        "event_id": "evt.os.task.denied", "deny_code": "DENY_NO_MATCHING_RULE",
        "deny_message": "no rule matched"}))]);
    for (n, envelopes) in [(1, &routed), (2, &denied)] {
        sqlx::query(
            "INSERT INTO route_telemetry (tenant_id, correlation_id, decision_id, envelopes)
             VALUES ('org.acme', 'c1', $1, $2::json)",
        )
        .bind(uuid::Uuid::from_u128(n))
        .bind(envelopes.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    }

    // Up to the migration that moves the rows onto their receipts (37).
    migrations_before(RECEIPT_COLUMN)
        .run(&mut conn)
        .await
        .unwrap();
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT telemetry::text FROM route_telemetry ORDER BY decision_id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let read: Vec<routing::telemetry::Telemetry> = rows
        .iter()
        .map(|(t,)| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(
        read,
        [
            routing::telemetry::Telemetry::Routed {
                policy_version: "p/1".into(),
                qos_class: "P1".into(),
                selected_worker_id: Some("x.acme.w".into()),
                gate_reason: "human_approved".into(),
            },
            routing::telemetry::Telemetry::Denied {
                deny_code: "DENY_NO_MATCHING_RULE".into(),
                deny_message: "no rule matched".into(),
            },
        ]
    );
}

/// The migration that makes route telemetry a column of the receipt row.
const RECEIPT_COLUMN: i64 = 20261126000037;

/// Migration 37: a route decision's telemetry moves from its own table onto
/// its receipt's row, every row kept; the signed body is untouched and the
/// receipts stay append-only.
#[tokio::test]
async fn route_telemetry_rows_move_onto_their_receipts_and_receipts_stay_append_only() {
    let db = TestDb::create().await;
    let mut conn = db.connect().await;
    migrations_before(RECEIPT_COLUMN)
        .run(&mut conn)
        .await
        .unwrap();
    let run = |sql: &'static str| sqlx::query(sql);
    run("INSERT INTO tenants (id, display_name) VALUES ('org.acme', 'Acme')")
        .execute(&mut conn)
        .await
        .unwrap();
    // A routed receipt with its telemetry row, and a named-worker one without.
    for (seq, id, body) in [
        (
            1_i64,
            1_u128,
            r#"{"correlation_id": "c1", "matched_rule_id": "rr_a"}"#,
        ),
        (2, 2, r#"{"correlation_id": "c2"}"#),
    ] {
        sqlx::query(
            "INSERT INTO receipts (tenant_id, seq, receipt_id, receipt_hash, decided_at,
                                   worker_id, capability_id, denied, body)
             VALUES ('org.acme', $1, $2, 'h', now(), 'x.acme.w', 'cap.a', false, $3::jsonb)",
        )
        .bind(seq)
        .bind(uuid::Uuid::from_u128(id))
        .bind(body)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let telemetry = r#"{"kind":"denied","deny_code":"DENY_X","deny_message":"no"}"#;
    sqlx::query(
        "INSERT INTO route_telemetry (tenant_id, correlation_id, decision_id, telemetry)
         VALUES ('org.acme', 'c1', $1, $2::json)",
    )
    .bind(uuid::Uuid::from_u128(1))
    .bind(telemetry)
    .execute(&mut conn)
    .await
    .unwrap();
    let bodies_before: Vec<(String,)> =
        sqlx::query_as("SELECT body::text FROM receipts ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();

    connect(&db).await.migrate().await.unwrap();
    let rows: Vec<(i64, Option<String>, String)> =
        sqlx::query_as("SELECT seq, route_telemetry::text, body::text FROM receipts ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(rows[0].1.as_deref(), Some(telemetry));
    assert_eq!(rows[1].1, None);
    let bodies_after: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    let bodies_before: Vec<&str> = bodies_before.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(bodies_after, bodies_before);
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('route_telemetry')::text")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(table, None, "the old table is gone");
    let refused = run("UPDATE receipts SET route_telemetry = NULL")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
}

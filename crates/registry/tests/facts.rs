//! The in-process copies of decision facts against real PostgreSQL: they
//! answer from memory while listening, and a change made by another
//! process (another pool here, as another replica would be) reaches them
//! through the `hall_facts` NOTIFY without anyone telling this process.

use std::time::{Duration, Instant};

use policy::TenantPolicy;
use registry::credentials::KeyHash;
use registry::facts::FactsCache;
use registry::{KeyCredential, Scopes, Store, TenantStatus};
use testkit::TestDb;
use wcp::{Env, TenantId};

mod common;
use common::{execute, store};

async fn listening(facts: &FactsCache) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !facts.is_listening() {
        assert!(Instant::now() < deadline, "the change feed never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `check` until it holds (or fails after five seconds).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls until the credential `facts` gives for `hash` is there and `holds`.
async fn credential_eventually(
    what: &str,
    facts: &FactsCache,
    hash: &KeyHash,
    holds: impl Fn(&KeyCredential) -> bool,
) {
    eventually(what, || async {
        facts
            .credential_by_secret(hash)
            .await
            .unwrap()
            .is_some_and(|c| holds(&c))
    })
    .await;
}

/// A tenant `org.facts` with one API key, and a listening cache over `here`.
struct Fixture {
    db: TestDb,
    here: Store,
    tenant: TenantId,
    key_id: uuid::Uuid,
    /// The hash of the API key's hash, as a credential check looks it up.
    hash: KeyHash,
    facts: std::sync::Arc<FactsCache>,
}

async fn fixture(listen: bool) -> Fixture {
    let db = TestDb::create().await;
    let here = store(&db).await;
    let tenant = common::tenant(&here, "org.facts", "Facts").await;
    let secret = registry::ApiKeySecret::generate().unwrap();
    let key = here
        .tenant(&tenant)
        .create_api_key("k", &secret, &Scopes::all(), None)
        .await
        .unwrap();
    let facts = if listen {
        let f = FactsCache::start(here.clone());
        listening(&f).await;
        f
    } else {
        FactsCache::unlistened(here.clone())
    };
    Fixture {
        db,
        here,
        tenant,
        key_id: key.id,
        hash: secret.hash(),
        facts,
    }
}

#[tokio::test]
async fn key_revoked_by_another_process_stops_working_without_telling_this_one() {
    let Fixture {
        db,
        tenant,
        key_id,
        hash,
        facts,
        ..
    } = fixture(true).await;
    let elsewhere = store(&db).await;
    let first = facts.credential_by_secret(&hash).await.unwrap().unwrap();
    assert!(first.key.revoked_at.is_none());
    let before = facts.stats();
    let again = facts.credential_by_secret(&hash).await.unwrap().unwrap();
    assert!(again.key.revoked_at.is_none());
    assert_eq!(
        facts.stats().hits,
        before.hits + 1,
        "the second check answered from memory"
    );

    elsewhere
        .tenant(&tenant)
        .revoke_api_key(key_id)
        .await
        .unwrap();
    credential_eventually("the revocation reaching this process", &facts, &hash, |c| {
        c.key.revoked_at.is_some()
    })
    .await;
}

#[tokio::test]
async fn tenant_suspended_and_policy_changed_elsewhere_are_seen_here() {
    let Fixture {
        db,
        tenant,
        hash,
        facts,
        ..
    } = fixture(true).await;
    let elsewhere = store(&db).await;
    assert_eq!(
        facts
            .credential_by_secret(&hash)
            .await
            .unwrap()
            .unwrap()
            .tenant_status,
        TenantStatus::Active
    );
    assert!(facts
        .decision_policy(&tenant)
        .await
        .unwrap()
        .floors
        .is_empty());

    elsewhere
        .set_tenant_status(&tenant, TenantStatus::Suspended)
        .await
        .unwrap();
    let policy = TenantPolicy {
        floors: [(Env::Prod, 4)].into(),
        ..Default::default()
    };
    elsewhere
        .tenant(&tenant)
        .set_decision_policy(&policy)
        .await
        .unwrap();

    credential_eventually("the suspension reaching this process", &facts, &hash, |c| {
        c.tenant_status == TenantStatus::Suspended
    })
    .await;
    eventually("the new floors reaching this process", || async {
        facts
            .decision_policy(&tenant)
            .await
            .unwrap()
            .floors
            .get(&Env::Prod)
            == Some(&4)
    })
    .await;
}

#[tokio::test]
async fn a_change_made_in_plain_sql_is_announced_too() {
    let Fixture {
        db, hash, facts, ..
    } = fixture(true).await;
    assert!(facts.credential_by_secret(&hash).await.unwrap().is_some());

    // An operator in psql, not the registry: only the trigger can tell.
    execute(
        &db,
        "UPDATE api_keys SET expires_at = now() - interval '1 second'",
    )
    .await;
    credential_eventually("the expiry reaching this process", &facts, &hash, |c| {
        c.key.expires_at.is_some()
    })
    .await;
}

#[tokio::test]
async fn recording_key_use_does_not_drop_the_copies() {
    let Fixture {
        db: _db,
        here,
        tenant,
        key_id,
        hash,
        facts,
    } = fixture(true).await;
    facts.credential_by_secret(&hash).await.unwrap();
    let before = facts.stats();
    here.tenant(&tenant).touch_api_key(key_id).await.unwrap();
    // Give a NOTIFY, were there one, time to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(facts.stats().invalidations, before.invalidations);
    facts.credential_by_secret(&hash).await.unwrap();
    assert_eq!(facts.stats().hits, before.hits + 1);
}

#[tokio::test]
async fn without_the_change_feed_every_check_reads_postgres() {
    let Fixture {
        db: _db,
        here,
        tenant,
        key_id,
        hash,
        facts,
    } = fixture(false).await;
    assert!(facts
        .credential_by_secret(&hash)
        .await
        .unwrap()
        .is_some_and(|c| c.key.revoked_at.is_none()));
    here.tenant(&tenant).revoke_api_key(key_id).await.unwrap();
    // No announcement is listened for, so the very next read must see it.
    assert!(facts
        .credential_by_secret(&hash)
        .await
        .unwrap()
        .is_some_and(|c| c.key.revoked_at.is_some()));
    assert_eq!(facts.stats().hits, 0);
}

//! A [`Hall`] as the server starts one (`crates/api/src/runtime.rs`): a
//! migrated store on a fresh database, the ban cache, the facts cache
//! listening for changes and the receipt writer with a published key; and
//! the few rows a decision needs, written through the store.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use attestation::card::{sign_card, CapabilityCard};
use attestation::keys::{sign_key_proof, KeyProof, NamespacePublicKey};
use audit::Outcome;
use ed25519_dalek::SigningKey;
use registry::attestations::Provenance;
use registry::receipts::{ReceiptKey, ReceiptWriter};
use registry::workers::{Worker, WorkerRef};
use registry::{Cache, Store, StoreOptions};
use serde_json::{json, Value};
use service::decide::{
    DecideError, Decided, DecisionCommand, Fingerprint, Idempotency, IdempotencyKey,
};
use service::{AttestCommand, Caller, Hall, Submission};
use testkit::TestDb;
use wcp::{CapabilityId, DataLabel, Env, TenantId, WorkerRecord};

pub const CAP: &str = "cap.tier.run";
const CONTROL: &str = "ctrl.tier.audit";

/// How the fact copies learn of changes.
enum Facts {
    /// From PostgreSQL's NOTIFY, as in the server.
    Listening,
    /// Only from this process's own use cases.
    Deaf,
}

pub struct Fixture {
    pub hall: Hall,
    receipt_key: SigningKey,
    // Last: the database outlives the handles above.
    db: TestDb,
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// A tenant's key: it decides for its own tenant.
pub fn key_of(tenant: &TenantId) -> Caller<'_> {
    Caller {
        tenant,
        operator: false,
        admin: false,
        key_id: uuid::Uuid::nil(),
    }
}

/// A decision for `tenant` about `worker` running [`CAP`].
pub fn command(tenant: &TenantId, worker: &str, env: Env, label: DataLabel) -> DecisionCommand {
    DecisionCommand {
        worker: WorkerRef::parse(worker).unwrap(),
        worker_named: worker.to_string(),
        capability: CapabilityId::parse(CAP).unwrap(),
        env,
        data_label: Some(label),
        tenant: tenant.clone(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        request_hash: None,
        dry_run: false,
        approval: None,
    }
}

/// `key` for a request whose body was `body`.
pub fn with_key(key: &str, body: &Value) -> Option<Idempotency> {
    Some(Idempotency {
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: Fingerprint::of(body).unwrap(),
    })
}

impl Fixture {
    pub async fn start() -> Self {
        Self::start_with(Facts::Listening).await
    }

    /// A registry whose fact copies hear of no change but those this
    /// process's use cases announce: what they do not drop stays stale.
    pub async fn start_deaf() -> Self {
        Self::start_with(Facts::Deaf).await
    }

    async fn start_with(facts: Facts) -> Self {
        let db = TestDb::create().await;
        let store = Store::connect(
            Store::parse_url(db.url()).unwrap(),
            &StoreOptions::default(),
        )
        .await
        .unwrap();
        store.migrate().await.unwrap();
        let bans = registry::bans::BanCache::start(store.clone(), Cache::in_process())
            .await
            .unwrap();
        let receipt_key = SigningKey::from_bytes(&[1u8; 32]);
        let kid = audit::key_id(&receipt_key.verifying_key());
        store
            .publish_receipt_key(&kid, receipt_key.verifying_key().as_bytes())
            .await
            .unwrap();
        let receipts = ReceiptWriter::start(
            store.clone(),
            ReceiptKey {
                kid,
                key: receipt_key.clone(),
            },
        );
        let facts = match facts {
            Facts::Listening => registry::facts::FactsCache::start(store.clone()),
            Facts::Deaf => registry::facts::FactsCache::without_notifications(store.clone()),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !facts.is_listening() {
            assert!(Instant::now() < deadline, "the facts cache never listened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            hall: Hall::new(store, facts, bans, receipts),
            receipt_key,
            db,
        }
    }

    /// The fresh database's URL, for a test's own connection.
    pub fn db_url(&self) -> &str {
        self.db.url()
    }

    /// After a write straight to the store (not through a use case, which
    /// would do it itself): the copies are dropped, so the next decision
    /// reads what was written.
    fn wrote(&self) {
        self.hall.facts.invalidate();
    }

    pub async fn create_tenant(&self, id: &str) -> TenantId {
        let t = tenant(id);
        self.hall.store.create_tenant(&t, id).await.unwrap();
        t
    }

    /// A fresh registry with the tenants org.acme and org.other.
    pub async fn acme_and_other() -> (Self, TenantId, TenantId) {
        let f = Self::start().await;
        let acme = f.create_tenant("org.acme").await;
        let other = f.create_tenant("org.other").await;
        (f, acme, other)
    }

    /// Registers `worker_id` for `owner`: declares [`CAP`], runs in dev and
    /// prod, clears INTERNAL data, implements its one required control,
    /// blast score 5; `overrides` replace any of those fields.
    pub async fn register(
        &self,
        owner: &TenantId,
        worker_id: &str,
        tier: u8,
        overrides: Value,
    ) -> Worker {
        let mut body = json!({
            "worker_id": worker_id, "capabilities": [CAP], "policy_tier": tier,
            "allowed_environments": ["dev", "prod"], "max_data_label": "INTERNAL",
            "required_controls": [CONTROL], "currently_implements": [CONTROL],
            "blast_radius": {"data": 1, "network": 1, "financial": 1, "time": 1, "reversibility": 1},
        });
        for (k, v) in overrides.as_object().unwrap() {
            body[k] = v.clone();
        }
        let record = WorkerRecord::parse(&body).unwrap();
        self.hall.register_worker(owner, record).await.unwrap()
    }

    /// Lists `signatories` as tenants whose requests `owner` accepts.
    pub async fn sign_for(&self, owner: &TenantId, signatories: &[&TenantId]) {
        let mut policy = self.hall.store.decision_policy(owner).await.unwrap();
        policy.signatories = signatories.iter().map(|t| (*t).clone()).collect();
        self.hall
            .store
            .tenant(owner)
            .set_decision_policy(&policy)
            .await
            .unwrap();
        self.wrote();
    }

    /// A capability card of `worker_id` for package `sha`, signed with a
    /// key of its namespace (registered here).
    pub async fn attest_card(&self, owner: &TenantId, worker_id: &str, sha: &str) {
        let a = self
            .hall
            .attest(AttestCommand {
                tenant: owner.clone(),
                worker: WorkerRef::parse(worker_id).unwrap(),
                submission: self.signed_card(owner, worker_id, sha).await,
                provenance: Provenance::default(),
                named_in_body: None,
            })
            .await
            .unwrap();
        assert_eq!(
            a.verdict.status,
            attestation::AttestationStatus::Attested,
            "{a:?}"
        );
    }

    /// `worker_id`'s capability card for package `sha`, declaring [`CAP`],
    /// signed with a key of its namespace (registered here if it has none).
    pub async fn signed_card(&self, owner: &TenantId, worker_id: &str, sha: &str) -> Submission {
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let public = NamespacePublicKey::from_bytes(signing.verifying_key().as_bytes()).unwrap();
        let ns = wcp::WorkerId::parse(worker_id).unwrap().namespace();
        let store = self.hall.store.tenant(owner);
        if store.list_namespace_keys(&ns).await.unwrap().is_empty() {
            self.hall
                .add_namespace_key(service::AddKeyCommand {
                    tenant: owner.clone(),
                    namespace: ns.clone(),
                    key: public,
                    label: "release".into(),
                    proof: KeyProof::parse(&sign_key_proof(&signing, owner, &ns)).unwrap(),
                })
                .await
                .unwrap();
        }
        let card = json!({"worker_id": worker_id, "capabilities": [CAP], "sha256": sha,
            "kid": public.kid(),
            "issued_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
        Submission::Card {
            signature: sign_card(&card, &signing),
            card: CapabilityCard::parse(&card).unwrap(),
        }
    }

    /// `caller`'s decision on `tenant`'s `worker` running [`CAP`] in dev on
    /// public data, without an idempotency key.
    pub async fn decide_dev(
        &self,
        caller: Caller<'_>,
        tenant: &TenantId,
        worker: &str,
    ) -> Result<Decided, DecideError> {
        self.hall
            .decide(
                caller,
                command(tenant, worker, Env::Dev, DataLabel::Public),
                None,
            )
            .await
    }

    /// `tenant`'s key decides once about its `worker` (as
    /// [`Fixture::decide_dev`]); answers the committed receipt.
    pub async fn decide_once(&self, tenant: &TenantId, worker: &str) -> audit::Receipt {
        self.decide_dev(key_of(tenant), tenant, worker)
            .await
            .unwrap()
            .decision
            .receipt
    }

    /// The outcome and deny code of `tenant`'s own decision on its `worker`
    /// (as [`Fixture::decide_dev`]).
    pub async fn outcome(&self, tenant: &TenantId, worker: &str) -> (Outcome, Option<String>) {
        let r = self.decide_once(tenant, worker).await.content;
        (r.outcome, r.deny_code)
    }

    /// `tenant`'s chain, checked: every receipt linked and signed with the
    /// writer's key.
    pub async fn chain(&self, tenant: &TenantId) -> Vec<audit::Receipt> {
        let receipts: Vec<audit::Receipt> = self
            .hall
            .store
            .tenant(tenant)
            .receipts(0, wcp::PageLimit::max_of(wcp::PageSize::RECEIPT_EXPORT))
            .await
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let vk = self.receipt_key.verifying_key();
        let keys = HashMap::from([(audit::key_id(&vk), vk)]);
        assert_eq!(
            audit::verify_chain(&receipts, &keys).unwrap(),
            receipts.len()
        );
        receipts
    }

    /// Runs `sql` straight on the database (to put a row where only time
    /// would take it).
    pub async fn sql(&self, sql: &str) {
        let mut conn = self.db.connect().await;
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }

    /// Runs `sql` straight on the database and answers what PostgreSQL said.
    pub async fn try_sql(&self, sql: &str) -> Result<(), sqlx::Error> {
        let mut conn = self.db.connect().await;
        sqlx::query(sql).execute(&mut conn).await.map(|_| ())
    }

    /// The ids of `tenant`'s approvals waiting for a human.
    pub async fn pending(&self, tenant: &TenantId) -> Vec<uuid::Uuid> {
        self.hall
            .store
            .tenant(tenant)
            .pending_approvals(100)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect()
    }
}

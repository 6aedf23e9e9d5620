//! The test client: the requests tests make again and again, each written
//! once. A helper named for an action asserts that it succeeded and returns
//! the body; its `try_` twin returns `(status, body)` for tests about refusals.

use base64::Engine;
use ed25519_dalek::SigningKey;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::TestServer;

/// A worker registration body, built field by field.
#[derive(Clone, Debug)]
pub struct Worker(Map<String, Value>);

impl Worker {
    /// The quick-start form: `name` under `namespace` (`x.acme` + `a` is `x.acme.a`).
    pub fn named(namespace: &str, name: &str) -> Self {
        Self(Map::new())
            .set("name", json!(name))
            .set("namespace", json!(namespace))
    }

    /// The WCP record form, with the full `worker_id`.
    pub fn id(worker_id: &str) -> Self {
        Self(Map::new()).set("worker_id", json!(worker_id))
    }

    pub fn capabilities(self, capabilities: &[&str]) -> Self {
        self.set("capabilities", json!(capabilities))
    }

    pub fn species(self, species: &str) -> Self {
        self.set("worker_species_id", json!(species))
    }

    pub fn tier(self, tier: u8) -> Self {
        self.set("policy_tier", json!(tier))
    }

    pub fn environments(self, envs: &[&str]) -> Self {
        self.set("allowed_environments", json!(envs))
    }

    pub fn max_data_label(self, label: &str) -> Self {
        self.set("max_data_label", json!(label))
    }

    pub fn private(self) -> Self {
        self.set("visibility", json!("private"))
    }

    /// Any field, replacing what the builder put there.
    pub fn set(mut self, field: &str, value: Value) -> Self {
        self.0.insert(field.to_string(), value);
        self
    }

    pub fn body(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// A decision request for `worker` and `capability` (`POST /api/v1/decisions`).
pub fn decision(worker: &str, capability: &str, env: &str, data_label: &str) -> Value {
    json!({"worker_id": worker, "capability": capability, "env": env, "data_label": data_label})
}

/// A capability card as a namespace signs it, issued now.
pub fn card(worker: &str, species: &str, capabilities: &[&str], sha256: &str, kid: &str) -> Value {
    json!({"worker_id": worker, "worker_species_id": species, "capabilities": capabilities,
        "sha256": sha256, "kid": kid,
        "issued_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
}

/// A SHA-256 hex string of one repeated character.
pub fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

/// The string `field` of every element of the array `list`, in order.
pub fn each<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e[field].as_str().unwrap())
        .collect()
}

/// The body's `error.code`, or `""`.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// The body's `error.message`, or `""`.
pub fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// `signing`'s public key, standard base64.
pub fn public_key_b64(signing: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().as_bytes())
}

/// The proof of possession of `signing` for registering it on `namespace`
/// of `tenant`.
pub fn key_proof(signing: &SigningKey, tenant: &str, namespace: &str) -> String {
    attestation::keys::sign_key_proof(
        signing,
        &wcp::TenantId::parse(tenant).unwrap(),
        &wcp::Namespace::parse(namespace).unwrap(),
    )
}

impl TestServer {
    /// `GET path` with an optional bearer credential.
    pub async fn get_json(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        self.call(Method::GET, path, key, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// `POST path` without a body.
    pub async fn post_empty(&self, path: &str, key: &str) -> (u16, Value) {
        self.call(Method::POST, path, Some(key), None).await
    }

    pub async fn try_register(&self, key: &str, worker: &Worker) -> (u16, Value) {
        self.post("/api/v1/workers", key, worker.body()).await
    }

    /// Registers a worker; returns the registered worker.
    pub async fn register(&self, key: &str, worker: &Worker) -> Value {
        let (status, w) = self.try_register(key, worker).await;
        assert_eq!(status, 201, "registering {}: {w}", worker.body());
        w
    }

    /// A tenant with an API key of the given scopes and `worker` registered
    /// with it: `(secret, registered worker)`.
    pub async fn tenant_with_worker(
        &self,
        tenant: &str,
        scopes: &[&str],
        worker: &Worker,
    ) -> (String, Value) {
        let (_, key) = self.tenant_with_key(tenant, scopes).await;
        let w = self.register(&key, worker).await;
        (key, w)
    }

    pub async fn claim_namespace(&self, key: &str, namespace: &str) -> (u16, Value) {
        self.post("/api/v1/namespaces", key, json!({"namespace": namespace}))
            .await
    }

    /// Registers `signing`'s public key on `namespace` (label `release`) as
    /// `key`, with its proof of possession; returns its kid.
    pub async fn add_namespace_key(
        &self,
        key: &str,
        namespace: &str,
        signing: &SigningKey,
    ) -> String {
        let (status, k) = self.try_add_namespace_key(key, namespace, signing).await;
        assert_eq!(status, 201, "{k}");
        k["kid"].as_str().unwrap().to_string()
    }

    /// `POST /api/v1/namespaces/{namespace}/keys` with `signing`'s public key
    /// and the proof it signs for `key`'s tenant.
    pub async fn try_add_namespace_key(
        &self,
        key: &str,
        namespace: &str,
        signing: &SigningKey,
    ) -> (u16, Value) {
        let (_, me) = self.get_json("/api/v1/auth/whoami", Some(key)).await;
        let tenant = me["tenant_id"].as_str().unwrap();
        self.post(
            &format!("/api/v1/namespaces/{namespace}/keys"),
            key,
            json!({"public_key": public_key_b64(signing), "label": "release",
                   "proof": key_proof(signing, tenant, namespace)}),
        )
        .await
    }

    /// An unsigned attestation of `sha256` (`PUT …/attest`, not AI-generated).
    pub async fn try_attest_hash(&self, key: &str, worker: &str, sha256: &str) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/api/v1/workers/{worker}/attest"),
            Some(key),
            Some(json!({"sha256": sha256, "ai_generated": false})),
        )
        .await
    }

    /// Attests `sha256` unsigned; returns the attestation (which may be pending or denied).
    pub async fn attest_hash(&self, key: &str, worker: &str, sha256: &str) -> Value {
        let (status, a) = self.try_attest_hash(key, worker, sha256).await;
        assert_eq!(status, 200, "{a}");
        a
    }

    /// Submits `card` signed with `signing` to `worker`'s attestations.
    pub async fn submit_card(
        &self,
        key: &str,
        worker: &str,
        card: &Value,
        signing: &SigningKey,
    ) -> (u16, Value) {
        let signature = attestation::card::sign_card(card, signing);
        self.post(
            &format!("/api/v1/workers/{worker}/attestations"),
            key,
            json!({"card": card, "signature": signature}),
        )
        .await
    }

    /// Submits a signed card to its worker; asserts that it was attested.
    pub async fn attest_signed(&self, key: &str, card: &Value, signing: &SigningKey) -> Value {
        let worker = card["worker_id"].as_str().expect("the card's worker_id");
        let (status, a) = self.submit_card(key, worker, card, signing).await;
        assert_eq!(status, 201, "{a}");
        assert_eq!(a["status"], "attested", "{a}");
        a
    }

    /// The worker's current attestation status (`GET …/attestation`).
    pub async fn attestation_of(&self, key: &str, worker: &str) -> Value {
        let (status, a) = self
            .get_json(&format!("/api/v1/workers/{worker}/attestation"), Some(key))
            .await;
        assert_eq!(status, 200, "{a}");
        a
    }

    /// Anyone's view of a worker (`GET /api/v1/verify/…`, no credential).
    pub async fn verify(&self, worker: &str) -> Value {
        let (status, v) = self
            .get_json(&format!("/api/v1/verify/{worker}"), None)
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    pub async fn try_decide(&self, key: &str, request: Value) -> (u16, Value) {
        self.post("/api/v1/decisions", key, request).await
    }

    /// Decides; asserts a 200 (a deny is a 200 too) and returns the decision.
    pub async fn decide(&self, key: &str, request: Value) -> Value {
        let (status, d) = self.try_decide(key, request).await;
        assert_eq!(status, 200, "{d}");
        d
    }

    pub async fn try_set_policy(&self, key: &str, policy: Value) -> (u16, Value) {
        self.call(Method::PUT, "/api/v1/policy", Some(key), Some(policy))
            .await
    }

    /// Sets the tenant's policy; returns it.
    pub async fn set_policy(&self, key: &str, policy: Value) -> Value {
        let (status, p) = self.try_set_policy(key, policy).await;
        assert_eq!(status, 200, "{p}");
        p
    }

    /// Reports `sha256` for the ban list; returns the report.
    pub async fn report_ban(&self, key: &str, sha256: &str, reason: &str) -> Value {
        let (status, r) = self
            .post(
                "/api/v1/ban-list/report",
                key,
                json!({"sha256": sha256, "reason": reason}),
            )
            .await;
        assert_eq!(status, 201, "{r}");
        r
    }

    /// The operator confirms a ban report.
    pub async fn confirm_ban(&self, report: &Value) {
        let id = report["id"].as_str().expect("a report id");
        let (status, c) = self
            .post_empty(
                &format!("/api/v1/ban-list/reports/{id}/confirm"),
                &self.operator_key,
            )
            .await;
        assert_eq!(status, 200, "{c}");
    }

    /// Bans `sha256`: reported by `key`, confirmed by the operator.
    pub async fn ban(&self, key: &str, sha256: &str, reason: &str) {
        let report = self.report_ban(key, sha256, reason).await;
        self.confirm_ban(&report).await;
    }

    /// Runs one SQL statement on the server's database, behind its back.
    pub async fn sql(&self, statement: &str) {
        let mut conn = self.db.connect().await;
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }

    /// The one number a SQL query returns.
    pub async fn count(&self, query: &str) -> i64 {
        let mut conn = self.db.connect().await;
        sqlx::query_scalar(query)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

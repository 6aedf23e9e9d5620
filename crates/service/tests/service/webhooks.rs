//! Webhooks end to end below HTTP: events written with the changes that
//! cause them, delivered by the dispatcher to a receiver started here,
//! signed, retried with the same `webhook-id`, shared safely between two
//! dispatchers, refused for private addresses, and an endpoint failing too
//! long disabled with an event saying so.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use registry::webhooks::DeliveryState;
use serde_json::{json, Value};
use service::webhooks::dispatch::Dispatcher;
use service::webhooks::{CreateWebhook, WebhookSettings, WithSecret};
use service::WebhookError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wcp::{DataLabel, Env, TenantId};
use webhooks::{EndpointId, SigningSecret};

use crate::fixture::{command, key_of, Fixture};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// Whether `secret` made one of the `webhook-signature` signatures.
    fn signed_with(&self, secret: &SigningSecret) -> bool {
        let ts: i64 = self.header("webhook-timestamp").parse().unwrap();
        let expected = webhooks::sign(secret, self.header("webhook-id"), ts, &self.body);
        self.header("webhook-signature")
            .split(' ')
            .any(|s| s == expected)
    }
}

/// A plain HTTP receiver on a local port: answers each request with the
/// next status of `statuses` (the last one repeats) and a body of `answer`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: Vec<u16>, answer: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let status = statuses[n.min(statuses.len() - 1)];
                n += 1;
                let seen = seen.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head_end, length) = loop {
                        let read = socket.read(&mut chunk).await.unwrap_or(0);
                        if read == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..read]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .map(|v| v.trim().parse::<usize>().unwrap())
                                .unwrap_or(0);
                            break (i + 4, length);
                        }
                    };
                    while buf.len() < head_end + length {
                        let read = socket.read(&mut chunk).await.unwrap_or(0);
                        if read == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..read]);
                    }
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let headers = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                        .collect();
                    seen.lock().unwrap().push(Received {
                        headers,
                        body: buf[head_end..].to_vec(),
                    });
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { url, got }
    }

    async fn ok() -> Self {
        Self::start(vec![204], String::new()).await
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// Settings for tests: private receivers allowed, one quick retry.
fn settings() -> WebhookSettings {
    WebhookSettings {
        allow_private: true,
        schedule: "0".parse().unwrap(),
        timeout: Duration::from_secs(5),
        ..WebhookSettings::default()
    }
}

async fn start() -> Fixture {
    let mut f = Fixture::start().await;
    f.hall.webhooks = settings();
    f
}

async fn endpoint(f: &Fixture, tenant: &TenantId, url: &str, types: &[&str]) -> WithSecret {
    f.hall
        .create_webhook(CreateWebhook {
            tenant: tenant.clone(),
            url: url.to_string(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            description: None,
            enabled: true,
        })
        .await
        .unwrap()
}

fn dispatcher(f: &Fixture) -> Dispatcher {
    Dispatcher::new(f.hall.store.clone(), f.hall.webhooks.clone()).unwrap()
}

/// A decision about a tier-8 worker in prod: it opens an approval.
async fn open_approval(f: &Fixture, tenant: &TenantId) -> String {
    f.register(tenant, "x.acme.gk", 8, json!({})).await;
    f.attest_card(tenant, "x.acme.gk", &"a".repeat(64)).await;
    let d = f
        .hall
        .decide(
            key_of(tenant),
            command(tenant, "x.acme.gk", Env::Prod, DataLabel::Public),
            None,
        )
        .await
        .unwrap();
    d.supervision.pending_approval_id.expect("an approval")
}

async fn deliveries(
    f: &Fixture,
    tenant: &TenantId,
    id: &EndpointId,
) -> Vec<registry::webhooks::Delivery> {
    f.hall
        .webhook_deliveries(
            tenant,
            id,
            None,
            wcp::PageLimit::max_of(wcp::PageSize::WEBHOOK_DELIVERIES),
        )
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn an_approval_pending_is_delivered_signed_to_the_endpoints_that_subscribe_only() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let receiver = Receiver::ok().await;
    let wants = endpoint(&f, &acme, &receiver.url, &["approval.pending"]).await;
    let other = endpoint(&f, &acme, &receiver.url, &["ban.confirmed"]).await;
    let approval = open_approval(&f, &acme).await;

    assert_eq!(dispatcher(&f).deliver_due().await.unwrap(), 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["type"], "approval.pending");
    assert_eq!(body["data"]["approval_id"], approval.as_str());
    assert_eq!(body["data"]["tenant_id"], "org.acme");
    assert_eq!(body["data"]["worker_id"], "x.acme.gk");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(got[0].header("webhook-id").starts_with("msg_"));
    assert!(got[0].signed_with(&wants.secret));
    assert!(!got[0].signed_with(&other.secret));

    let log = deliveries(&f, &acme, &wants.endpoint.id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].state, DeliveryState::Delivered);
    assert_eq!(log[0].last_status, Some(204));
    assert_eq!(log[0].attempts, 1);
    assert_eq!(log[0].event_id, got[0].header("webhook-id"));
    assert!(deliveries(&f, &acme, &other.endpoint.id).await.is_empty());
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_webhook_id_and_failed_when_the_schedule_ends() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let receiver = Receiver::start(vec![500], "e".repeat(5000)).await;
    let e = endpoint(&f, &acme, &receiver.url, &["worker.registered"]).await;
    f.register(&acme, "x.acme.one", 0, json!({})).await;

    let d = dispatcher(&f);
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    let log = deliveries(&f, &acme, &e.endpoint.id).await;
    assert_eq!(log[0].state, DeliveryState::Pending);
    assert_eq!(log[0].last_status, Some(500));
    assert_eq!(log[0].last_response.as_deref().map(str::len), Some(1024));
    // The schedule's one retry, due at once.
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    assert_eq!(d.deliver_due().await.unwrap(), 0);
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(got[0].body, got[1].body);
    let log = deliveries(&f, &acme, &e.endpoint.id).await;
    assert_eq!(log[0].state, DeliveryState::Failed);
    assert_eq!(log[0].attempts, 2);
    assert_eq!(log[0].next_attempt_at, None);

    // Sent again by hand: the same id, from the start of the schedule.
    let again = f
        .hall
        .redeliver(&acme, &e.endpoint.id, &log[0].id)
        .await
        .unwrap();
    assert_eq!(again.state, DeliveryState::Pending);
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    assert_eq!(
        receiver.got()[2].header("webhook-id"),
        got[0].header("webhook-id")
    );
}

#[tokio::test]
async fn two_dispatchers_taking_at_once_send_each_delivery_once() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let receiver = Receiver::ok().await;
    endpoint(&f, &acme, &receiver.url, &["worker.registered"]).await;
    for i in 0..20 {
        f.register(&acme, &format!("x.acme.w{i}"), 0, json!({}))
            .await;
    }
    let (a, b) = (dispatcher(&f), dispatcher(&f));
    let mut taken = 0;
    for _ in 0..3 {
        let (x, y) = tokio::join!(a.deliver_due(), b.deliver_due());
        taken += x.unwrap() + y.unwrap();
    }
    assert_eq!(taken, 20);
    let mut ids: Vec<String> = receiver
        .got()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    assert_eq!(ids.len(), 20);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "an event was delivered twice");
}

#[tokio::test]
async fn a_private_url_is_refused_without_the_operators_permission() {
    let mut f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let receiver = Receiver::ok().await;
    // Registered while the operator allowed it…
    let e = endpoint(&f, &acme, &receiver.url, &["worker.registered"]).await;
    f.hall.webhooks.allow_private = false;
    let refused = f
        .hall
        .create_webhook(CreateWebhook {
            tenant: acme.clone(),
            url: receiver.url.clone(),
            event_types: vec!["*".into()],
            description: None,
            enabled: true,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WebhookError::InvalidUrl(_)),
        "{refused:?}"
    );
    let refused = f
        .hall
        .create_webhook(CreateWebhook {
            tenant: acme.clone(),
            url: "https://169.254.169.254/latest".into(),
            event_types: vec!["*".into()],
            description: None,
            enabled: true,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused, WebhookError::InvalidUrl(_)),
        "{refused:?}"
    );

    // …is not delivered to once the permission is withdrawn.
    f.register(&acme, "x.acme.one", 0, json!({})).await;
    assert_eq!(dispatcher(&f).deliver_due().await.unwrap(), 1);
    assert!(receiver.got().is_empty());
    let log = deliveries(&f, &acme, &e.endpoint.id).await;
    assert_eq!(log[0].last_status, None);
    assert!(log[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("HALL_WEBHOOK_ALLOW_PRIVATE"));
}

#[tokio::test]
async fn an_endpoint_failing_past_the_limit_is_disabled_and_the_tenants_others_are_told() {
    let mut f = start().await;
    f.hall.webhooks.disable_after = chrono::Duration::zero();
    let acme = f.create_tenant("org.acme").await;
    let failing = Receiver::start(vec![503], String::new()).await;
    let watching = Receiver::ok().await;
    let bad = endpoint(&f, &acme, &failing.url, &["worker.registered"]).await;
    endpoint(&f, &acme, &watching.url, &["endpoint.disabled"]).await;
    f.register(&acme, "x.acme.one", 0, json!({})).await;

    let d = dispatcher(&f);
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    let now = f.hall.webhook(&acme, &bad.endpoint.id).await.unwrap();
    assert!(!now.enabled);
    assert!(now.disabled_reason.is_some());
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    let told = watching.got();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].json()["type"], "endpoint.disabled");
    assert_eq!(
        told[0].json()["data"]["endpoint_id"],
        bad.endpoint.id.as_str()
    );
    // A disabled endpoint's pending retry is not sent.
    assert_eq!(d.deliver_due().await.unwrap(), 0);
    assert_eq!(failing.got().len(), 1);
}

#[tokio::test]
async fn decision_denied_goes_only_to_endpoints_that_name_it() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    f.register(&acme, "x.acme.one", 0, json!({})).await;
    let receiver = Receiver::ok().await;
    let everything = endpoint(&f, &acme, &receiver.url, &["*"]).await;
    let denials = endpoint(&f, &acme, &receiver.url, &["decision.denied"]).await;
    f.hall
        .revoke_worker(
            &acme,
            &registry::workers::WorkerRef::parse("x.acme.one").unwrap(),
        )
        .await
        .unwrap();
    let receipt = f.decide_once(&acme, "x.acme.one").await;
    assert_eq!(receipt.content.outcome, audit::Outcome::Deny);
    // An allowed decision announces nothing.
    f.register(&acme, "x.acme.two", 0, json!({})).await;
    assert_eq!(
        f.decide_once(&acme, "x.acme.two").await.content.outcome,
        audit::Outcome::Allow
    );

    let d = dispatcher(&f);
    while d.deliver_due().await.unwrap() > 0 {}
    let types = |id: &EndpointId, got: &[Received]| -> Vec<String> {
        let _ = id;
        got.iter()
            .filter(|r| {
                r.signed_with(if id == &everything.endpoint.id {
                    &everything.secret
                } else {
                    &denials.secret
                })
            })
            .map(|r| r.json()["type"].as_str().unwrap().to_string())
            .collect()
    };
    let got = receiver.got();
    assert_eq!(types(&denials.endpoint.id, &got), vec!["decision.denied"]);
    let denied = got
        .iter()
        .find(|r| r.json()["type"] == "decision.denied")
        .unwrap()
        .json();
    assert_eq!(
        denied["data"]["receipt_id"],
        receipt.content.receipt_id.as_str()
    );
    assert_eq!(
        denied["data"]["deny_code"],
        json!(receipt.content.deny_code)
    );
    let mut all = types(&everything.endpoint.id, &got);
    all.sort();
    assert_eq!(all, vec!["worker.registered", "worker.revoked"]);
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_during_the_overlap() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let receiver = Receiver::ok().await;
    let e = endpoint(&f, &acme, &receiver.url, &["worker.registered"]).await;
    let rotated = f
        .hall
        .rotate_webhook_secret(&acme, &e.endpoint.id)
        .await
        .unwrap();
    assert_ne!(rotated.secret, e.secret);
    f.register(&acme, "x.acme.one", 0, json!({})).await;
    dispatcher(&f).deliver_due().await.unwrap();
    let got = receiver.got();
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    assert!(got[0].signed_with(&e.secret));
    assert!(got[0].signed_with(&rotated.secret));
}

#[tokio::test]
async fn another_tenants_endpoints_are_out_of_reach() {
    let (f, acme, other) = Fixture::acme_and_other().await;
    let e = f
        .hall
        .create_webhook(CreateWebhook {
            tenant: acme.clone(),
            url: "https://hooks.example.com/x".into(),
            event_types: vec!["*".into()],
            description: Some("pager".into()),
            enabled: true,
        })
        .await
        .unwrap();
    assert!(matches!(
        f.hall.webhook(&other, &e.endpoint.id).await,
        Err(WebhookError::EndpointNotFound(_))
    ));
    assert!(matches!(
        f.hall.delete_webhook(&other, &e.endpoint.id).await,
        Err(WebhookError::EndpointNotFound(_))
    ));
    assert!(f.hall.webhooks(&other).await.unwrap().is_empty());
    assert_eq!(f.hall.webhooks(&acme).await.unwrap().len(), 1);
}

/// The event types of an endpoint's deliveries, oldest first.
async fn types_of(f: &Fixture, tenant: &TenantId, id: &EndpointId) -> Vec<String> {
    let mut log = deliveries(f, tenant, id).await;
    log.reverse();
    log.into_iter().map(|d| d.event_type).collect()
}

#[tokio::test]
async fn ban_events_go_to_their_audiences_in_the_transactions_of_the_changes() {
    use service::bans::{PackageHash, ReportCommand};
    let f = start().await;
    let op = match f
        .hall
        .store
        .bootstrap_operator(registry::BootstrapKey::Generated(
            registry::ApiKeySecret::generate().unwrap(),
        ))
        .await
        .unwrap()
    {
        registry::Bootstrap::Created { tenant, .. } => tenant,
        other => panic!("{other:?}"),
    };
    let reporter = f.create_tenant("org.reporter").await;
    let bystander = f.create_tenant("org.bystander").await;
    let url = "https://hooks.example.com/x";
    let at_op = endpoint(&f, &op, url, &["*"]).await;
    let at_reporter = endpoint(&f, &reporter, url, &["ban.reported", "ban.confirmed"]).await;
    let at_bystander = endpoint(&f, &bystander, url, &["*"]).await;

    let sha = PackageHash::parse(&"d".repeat(64)).unwrap();
    let filed = f
        .hall
        .report_hash(
            key_of(&reporter),
            ReportCommand {
                sha256: sha.clone(),
                reason: "steals tokens".into(),
                evidence_url: None,
            },
        )
        .await
        .unwrap();
    f.hall
        .confirm_report(&filed.id, Some("confirmed".into()))
        .await
        .unwrap();
    f.hall
        .lift_ban(&sha, Some("false positive".into()))
        .await
        .unwrap();

    assert_eq!(
        types_of(&f, &op, &at_op.endpoint.id).await,
        vec!["ban.reported", "ban.confirmed", "ban.lifted"]
    );
    assert_eq!(
        types_of(&f, &reporter, &at_reporter.endpoint.id).await,
        vec!["ban.reported", "ban.confirmed"]
    );
    // A report is the operator's and the reporter's business only.
    assert_eq!(
        types_of(&f, &bystander, &at_bystander.endpoint.id).await,
        vec!["ban.confirmed", "ban.lifted"]
    );
}

#[tokio::test]
async fn tenant_events_are_written_once_for_the_tenant_only() {
    use service::approvals::{Answer, ResolveCommand};
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    let url = "https://hooks.example.com/x";
    let mine = endpoint(&f, &acme, url, &["*"]).await;
    let theirs = endpoint(&f, &other, url, &["*", "decision.denied"]).await;

    let approval = open_approval(&f, &acme).await;
    f.hall
        .resolve_approval(ResolveCommand {
            tenant: acme.clone(),
            approval: approval.parse().unwrap(),
            answer: Answer::Deny,
            by: "alice".into(),
            note: None,
        })
        .await
        .unwrap();
    let gk = registry::workers::WorkerRef::parse("x.acme.gk").unwrap();
    f.hall.revoke_worker(&acme, &gk).await.unwrap();
    // Revoking again changes nothing and announces nothing.
    f.hall.revoke_worker(&acme, &gk).await.unwrap();

    assert_eq!(
        types_of(&f, &acme, &mine.endpoint.id).await,
        vec![
            "namespace.claimed",
            "worker.registered",
            "attestation.submitted",
            "approval.pending",
            "approval.resolved",
            "worker.revoked",
        ]
    );
    assert!(types_of(&f, &other, &theirs.endpoint.id).await.is_empty());
}

#[tokio::test]
async fn a_new_receipt_key_is_announced_to_every_tenant() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let e = endpoint(&f, &acme, "https://hooks.example.com/x", &["key.rotated"]).await;
    let kid = "kid-rotated-for-the-test";
    f.hall
        .store
        .publish_receipt_key(kid, &[9u8; 32])
        .await
        .unwrap();
    // Published again (a restart): not a rotation.
    f.hall
        .store
        .publish_receipt_key(kid, &[9u8; 32])
        .await
        .unwrap();
    assert_eq!(
        types_of(&f, &acme, &e.endpoint.id).await,
        vec!["key.rotated"]
    );
}

#[tokio::test]
async fn pruning_removes_old_finished_deliveries_and_their_events_and_keeps_pending_ones() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let receiver = Receiver::ok().await;
    let e = endpoint(&f, &acme, &receiver.url, &["worker.registered"]).await;
    f.register(&acme, "x.acme.one", 0, json!({})).await;
    dispatcher(&f).deliver_due().await.unwrap();
    f.hall
        .update_webhook(
            &acme,
            &e.endpoint.id,
            service::webhooks::UpdateWebhook {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    f.register(&acme, "x.acme.two", 0, json!({})).await;
    let log = deliveries(&f, &acme, &e.endpoint.id).await;
    assert_eq!(log.len(), 1, "disabled: nothing new: {log:?}");
    f.hall
        .update_webhook(
            &acme,
            &e.endpoint.id,
            service::webhooks::UpdateWebhook {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    f.register(&acme, "x.acme.three", 0, json!({})).await;
    f.sql("UPDATE webhook_deliveries SET created_at = now() - interval '40 days'")
        .await;
    f.sql("UPDATE webhook_events SET occurred_at = now() - interval '40 days'")
        .await;

    let store = &f.hall.store;
    assert_eq!(
        store
            .prune_webhook_log(chrono::Duration::days(30), 100)
            .await
            .unwrap(),
        2
    );
    let left = deliveries(&f, &acme, &e.endpoint.id).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].state, DeliveryState::Pending);
    assert_eq!(
        store
            .prune_webhook_log(chrono::Duration::days(30), 100)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_late_attempts_record_does_not_overwrite_a_later_lease() {
    use registry::webhooks::{AfterFailure, AttemptOutcome};
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let receiver = Receiver::ok().await;
    let e = endpoint(&f, &acme, &receiver.url, &["worker.registered"]).await;
    f.register(&acme, "x.acme.one", 0, json!({})).await;
    let lease = chrono::Duration::seconds(30);

    // A first attempt takes the delivery and is slow to answer…
    let first = f.hall.store.lease_due_deliveries(10, lease).await.unwrap();
    assert_eq!(first.len(), 1);
    // …meanwhile an administrator redelivers it, and a second attempt
    // takes it and delivers it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    f.hall
        .redeliver(&acme, &e.endpoint.id, &first[0].id)
        .await
        .unwrap();
    let second = f.hall.store.lease_due_deliveries(10, lease).await.unwrap();
    assert_eq!(second.len(), 1);
    let answered = |status| AttemptOutcome {
        status: Some(status),
        latency_ms: 1,
        error: None,
        response: None,
    };
    f.hall
        .store
        .record_delivered(&second[0], &answered(204))
        .await
        .unwrap();

    // The first attempt's failure arrives last: it is not recorded.
    let disabled = f
        .hall
        .store
        .record_failed_attempt(
            &first[0],
            &answered(500),
            AfterFailure::RetryAt(chrono::Utc::now()),
            chrono::Duration::days(5),
        )
        .await
        .unwrap();
    assert!(!disabled);
    let log = deliveries(&f, &acme, &e.endpoint.id).await;
    assert_eq!(log[0].state, DeliveryState::Delivered);
    assert_eq!(log[0].last_status, Some(204));
    assert_eq!(log[0].attempts, 1);
    assert_eq!(
        f.hall
            .store
            .lease_due_deliveries(10, lease)
            .await
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn a_tenant_registers_at_most_its_limit_of_endpoints() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    for _ in 0..webhooks::MAX_ENDPOINTS_PER_TENANT {
        endpoint(&f, &acme, "http://127.0.0.1:9/hook", &["worker.registered"]).await;
    }
    let refused = f
        .hall
        .create_webhook(CreateWebhook {
            tenant: acme.clone(),
            url: "http://127.0.0.1:9/hook".into(),
            event_types: vec!["worker.registered".into()],
            description: None,
            enabled: true,
        })
        .await;
    assert!(
        matches!(refused, Err(WebhookError::TooManyEndpoints(20))),
        "{refused:?}"
    );
    assert_eq!(f.hall.webhooks(&acme).await.unwrap().len(), 20);
    // Another tenant's count is its own.
    endpoint(
        &f,
        &other,
        "http://127.0.0.1:9/hook",
        &["worker.registered"],
    )
    .await;
}

/// Sets `tenant`'s approval TTL, the rest of its decision policy default.
async fn set_approval_ttl(f: &Fixture, tenant: &TenantId, seconds: u64) {
    f.hall
        .set_tenant_policy(service::tenant_policy::SetTenantPolicy {
            tenant: tenant.clone(),
            attestation: None,
            decisions: Some(policy::TenantPolicy {
                approval_ttl: policy::approvals::ApprovalTtl::from_seconds(seconds).unwrap(),
                ..policy::TenantPolicy::default()
            }),
        })
        .await
        .unwrap();
}

/// The stored status and every `approval.expired` event's data of approval `id`.
async fn stored_expiry(f: &Fixture, id: &str) -> (String, Vec<Value>) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(f.db_url()).await.unwrap();
    let id: uuid::Uuid = id.parse().unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM approvals WHERE id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let events: Vec<Value> = sqlx::query_scalar(
        "SELECT data FROM webhook_events
         WHERE type = 'approval.expired' AND data->>'approval_id' = $1::text",
    )
    .bind(id.to_string())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    (status, events)
}

#[tokio::test]
async fn a_new_approval_waits_for_the_tenants_ttl() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    set_approval_ttl(&f, &acme, 120).await;
    let id = open_approval(&f, &acme).await;
    let a = f.hall.approval(&acme, id.parse().unwrap()).await.unwrap();
    assert_eq!(a.expires_at - a.created_at, chrono::Duration::seconds(120));

    // A change of the TTL leaves the open approval's deadline as it was.
    set_approval_ttl(&f, &acme, 7200).await;
    let again = f.hall.approval(&acme, a.id).await.unwrap();
    assert_eq!(again.expires_at, a.expires_at);
    // Approved, it is usable for the tenant's TTL from the yes.
    let approved = f
        .hall
        .resolve_approval(service::approvals::ResolveCommand {
            tenant: acme.clone(),
            approval: a.id,
            answer: service::approvals::Answer::Approve,
            by: "alice".into(),
            note: None,
        })
        .await
        .unwrap();
    let resolved_at = approved.resolved_at.expect("resolved");
    assert_eq!(
        approved.expires_at - resolved_at,
        chrono::Duration::seconds(7200)
    );
}

#[tokio::test]
async fn a_lapsed_approval_is_marked_expired_and_announced_once() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let other = f.create_tenant("org.other").await;
    let mine = endpoint(&f, &acme, "https://hooks.example.com/x", &["*"]).await;
    let theirs = endpoint(&f, &other, "https://hooks.example.com/x", &["*"]).await;
    set_approval_ttl(&f, &acme, 60).await;
    let id = open_approval(&f, &acme).await;

    // Within its TTL it stays pending.
    assert_eq!(f.hall.expire_lapsed_approvals().await.unwrap(), 0);
    assert_eq!(stored_expiry(&f, &id).await.0, "pending");

    // Its minute passes.
    f.sql(&format!(
        "UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = '{id}'"
    ))
    .await;
    assert_eq!(f.hall.expire_lapsed_approvals().await.unwrap(), 1);
    // A second sweep (or another replica's) finds nothing more to announce.
    assert_eq!(f.hall.expire_lapsed_approvals().await.unwrap(), 0);

    let (status, events) = stored_expiry(&f, &id).await;
    assert_eq!(status, "expired");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["status"], "expired");
    assert_eq!(events[0]["tenant_id"], "org.acme");
    assert_eq!(events[0]["worker_id"], "x.acme.gk");
    let a = f.hall.approval(&acme, id.parse().unwrap()).await.unwrap();
    assert_eq!(
        a.status,
        registry::approvals::ApprovalStatus::Expired,
        "read back expired"
    );
    assert!(f.hall.pending_approvals(&acme).await.unwrap().is_empty());
    let types = types_of(&f, &acme, &mine.endpoint.id).await;
    assert_eq!(
        types.iter().filter(|t| *t == "approval.expired").count(),
        1,
        "{types:?}"
    );
    assert_eq!(types.last().map(String::as_str), Some("approval.expired"));
    assert!(types_of(&f, &other, &theirs.endpoint.id)
        .await
        .iter()
        .all(|t| t != "approval.expired"));

    // Expired, it is answered no more.
    let refused = f
        .hall
        .resolve_approval(service::approvals::ResolveCommand {
            tenant: acme.clone(),
            approval: a.id,
            answer: service::approvals::Answer::Approve,
            by: "alice".into(),
            note: None,
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(service::approvals::ApprovalError::NotPending { .. })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_approved_approval_past_its_deadline_is_not_announced_expired() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    endpoint(&f, &acme, "https://hooks.example.com/x", &["*"]).await;
    let id = open_approval(&f, &acme).await;
    f.hall
        .resolve_approval(service::approvals::ResolveCommand {
            tenant: acme.clone(),
            approval: id.parse().unwrap(),
            answer: service::approvals::Answer::Approve,
            by: "alice".into(),
            note: None,
        })
        .await
        .unwrap();
    f.sql("UPDATE approvals SET expires_at = now() - interval '1 second'")
        .await;
    // The human's yes was announced (approval.resolved); it lapses unused quietly.
    assert_eq!(f.hall.expire_lapsed_approvals().await.unwrap(), 0);
    let (status, events) = stored_expiry(&f, &id).await;
    assert_eq!(status, "approved");
    assert!(events.is_empty());
}

#[tokio::test]
async fn an_approval_exists_and_is_announced_only_with_its_decisions_receipt() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    let e = endpoint(
        &f,
        &acme,
        "https://hooks.example.com/x",
        &["approval.pending"],
    )
    .await;
    f.register(&acme, "x.acme.gk", 8, json!({})).await;
    f.attest_card(&acme, "x.acme.gk", &"a".repeat(64)).await;
    // The database refuses the receipt (as a full disk or a failover would).
    f.sql(
        "CREATE FUNCTION refuse_receipts() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'no receipts today'; END $$",
    )
    .await;
    f.sql(
        "CREATE TRIGGER refuse_receipts BEFORE INSERT ON receipts
         FOR EACH ROW EXECUTE FUNCTION refuse_receipts()",
    )
    .await;
    let refused = f
        .hall
        .decide(
            key_of(&acme),
            command(&acme, "x.acme.gk", Env::Prod, DataLabel::Public),
            None,
        )
        .await;
    assert!(refused.is_err(), "no receipt, no decision");
    assert!(
        f.pending(&acme).await.is_empty(),
        "no approval without its decision"
    );
    assert!(
        deliveries(&f, &acme, &e.endpoint.id).await.is_empty(),
        "nothing announced"
    );

    f.sql("DROP TRIGGER refuse_receipts ON receipts").await;
    let d = f
        .hall
        .decide(
            key_of(&acme),
            command(&acme, "x.acme.gk", Env::Prod, DataLabel::Public),
            None,
        )
        .await
        .unwrap();
    let id = d.supervision.pending_approval_id.expect("an approval");
    assert_eq!(
        f.pending(&acme).await,
        vec![id.parse::<uuid::Uuid>().unwrap()]
    );
    let stored = f
        .hall
        .store
        .tenant(&acme)
        .approval(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    // The answer says what a later read says.
    assert_eq!(
        d.supervision.approval_expires_at.as_deref(),
        Some(
            stored
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                .as_str()
        )
    );
    assert_eq!(
        stored.decision_id.to_string(),
        d.decision.receipt.content.receipt_id
    );
    let log = deliveries(&f, &acme, &e.endpoint.id).await;
    assert_eq!(log.len(), 1);
}

#[tokio::test]
async fn an_endpoint_slow_to_answer_does_not_hold_up_the_others() {
    let f = start().await;
    let acme = f.create_tenant("org.acme").await;
    // Accepts connections and never answers: each attempt waits out its timeout (5 s).
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/silent", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let fast = Receiver::ok().await;
    endpoint(&f, &acme, &silent_url, &["worker.registered"]).await;
    endpoint(&f, &acme, &fast.url, &["worker.revoked"]).await;
    let running = dispatcher(&f).start();

    f.register(&acme, "x.acme.slow", 1, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let revoked_at = std::time::Instant::now();
    let w = registry::workers::WorkerRef::parse("x.acme.slow").unwrap();
    f.hall.revoke_worker(&acme, &w).await.unwrap();
    while fast.got().is_empty() {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "the fast endpoint waited for the silent one"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fast.got()[0].json()["type"], "worker.revoked");
    running.abort();
}

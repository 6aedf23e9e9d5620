//! The dispatcher: a background task of every replica that sends due
//! deliveries, signed per Standard Webhooks, and records what came of them.
//!
//! It wakes when PostgreSQL announces new deliveries (`hall_webhooks`, at
//! the commit of the change that wrote them, on every replica) and every
//! [`WebhookSettings::poll`] in any case (retries fall due without an
//! announcement). Replicas share the work safely: a delivery is taken with
//! `FOR UPDATE SKIP LOCKED` and a lease (`registry::webhooks`), so each is
//! sent by one dispatcher at a time — at least once, and in practice once.
//!
//! Each attempt applies the URL rule again to the addresses the host
//! resolves to now (a name may have moved to a private address since it was
//! registered) and connects to the address it checked; redirects are not
//! followed; the attempt has a deadline; at most [`RESPONSE_PREFIX`] bytes
//! of the answer are read, and that is all that is kept.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ::webhooks::{is_public_ip, signature_header, WebhookUrl};
use chrono::Utc;
use futures_util::future::join_all;
use registry::webhooks::{AfterFailure, AttemptOutcome, DueDelivery, CHANNEL};
use registry::{Store, StoreError};

use super::WebhookSettings;

/// The most bytes of an answer read and kept.
pub const RESPONSE_PREFIX: usize = 1024;

/// How often a dispatcher prunes the delivery log, how many rows of each
/// table one statement removes at most, and how many statements one
/// pruning runs at most (a backlog larger than that waits for the next).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: i64 = 10_000;
const PRUNE_ROUNDS: usize = 100;

/// Sends due deliveries for one process.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    settings: WebhookSettings,
}

impl Dispatcher {
    pub fn new(store: Store, settings: WebhookSettings) -> Self {
        Self { store, settings }
    }

    /// Runs until the store is closed (shutdown).
    pub fn start(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let mut listener = None;
        let mut pruned_at: Option<Instant> = None;
        loop {
            if self.store.is_closed() {
                return;
            }
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(Instant::now());
                self.prune().await;
            }
            if listener.is_none() {
                listener = match self.store.listen(CHANNEL).await {
                    Ok(l) => Some(l),
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook dispatcher cannot listen; polling");
                        None
                    }
                };
            }
            match self.deliver_due().await {
                // A full round: more may be due at once.
                Ok(n) if n as i64 >= self.settings.batch => continue,
                Ok(_) => {}
                Err(e) if self.store.is_closed() => {
                    tracing::debug!(error = %e, "webhook dispatcher stops");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "webhook dispatcher round failed"),
            }
            match listener.as_mut() {
                Some(l) => {
                    tokio::select! {
                        got = l.recv() => if got.is_err() { listener = None; },
                        _ = tokio::time::sleep(self.settings.poll) => {}
                    }
                }
                None => tokio::time::sleep(self.settings.poll).await,
            }
        }
    }

    /// Removes the finished deliveries past retention, a batch at a time
    /// until fewer than a batch are left (an hour of `decision.denied` may
    /// well hold more than one batch).
    async fn prune(&self) {
        let mut removed = 0u64;
        for _ in 0..PRUNE_ROUNDS {
            match self
                .store
                .prune_webhook_log(self.settings.retention, PRUNE_BATCH)
                .await
            {
                Ok(n) => {
                    removed += n;
                    if n < PRUNE_BATCH.unsigned_abs() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot prune the webhook delivery log");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(rows = removed, "pruned the webhook delivery log");
        }
    }

    /// One round: takes the due deliveries (at most a batch), sends them
    /// at once and records each; how many it took.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let lease = chrono::Duration::from_std(self.settings.timeout + Duration::from_secs(10))
            .unwrap_or(chrono::Duration::seconds(20));
        let due = self
            .store
            .lease_due_deliveries(self.settings.batch, lease)
            .await?;
        let n = due.len();
        let results = join_all(due.iter().map(|d| self.attempt(d))).await;
        let mut first_error = None;
        for r in results {
            if let Err(e) = r {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    async fn attempt(&self, due: &DueDelivery) -> Result<(), StoreError> {
        let started = Instant::now();
        // The whole attempt, the name's lookup included, ends within the
        // timeout: well inside the lease, so no other dispatcher takes the
        // delivery while this one may still send it.
        let sent = tokio::time::timeout(self.settings.timeout, self.send(due))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} s",
                    self.settings.timeout.as_secs_f64()
                ))
            });
        let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let outcome = match sent {
            Ok((status, response)) => AttemptOutcome {
                status: Some(status),
                latency_ms,
                error: None,
                response: Some(response),
            },
            Err(error) => AttemptOutcome {
                status: None,
                latency_ms,
                error: Some(error),
                response: None,
            },
        };
        if outcome.status.is_some_and(|s| (200..300).contains(&s)) {
            tracing::debug!(delivery = %due.id, endpoint = %due.endpoint.id, "webhook delivered");
            return self.store.record_delivered(due, &outcome).await;
        }
        let made = due.attempts + 1;
        let after = match self.settings.schedule.next_wait(made, jitter()) {
            Some(wait) => AfterFailure::RetryAt(
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
            ),
            None => AfterFailure::GiveUp,
        };
        tracing::info!(
            delivery = %due.id,
            endpoint = %due.endpoint.id,
            attempt = made,
            status = ?outcome.status,
            error = outcome.error.as_deref().unwrap_or(""),
            gave_up = matches!(after, AfterFailure::GiveUp),
            "webhook attempt failed"
        );
        let disabled = self
            .store
            .record_failed_attempt(due, &outcome, after, self.settings.disable_after)
            .await?;
        if disabled {
            tracing::warn!(endpoint = %due.endpoint.id, tenant = %due.endpoint.tenant_id,
                "webhook endpoint disabled: its deliveries have failed for too long");
        }
        Ok(())
    }

    /// Sends one attempt: the status and the first bytes of the answer, or
    /// why there was no answer.
    async fn send(&self, due: &DueDelivery) -> Result<(u16, String), String> {
        let allow_private = self.settings.allow_private;
        let url = WebhookUrl::parse(&due.endpoint.url, allow_private).map_err(|e| e.to_string())?;
        let addr = self.checked_address(&url).await?;
        let body = serde_json::to_vec(&serde_json::json!({
            "type": due.event_type,
            "timestamp": due.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": due.data,
        }))
        .map_err(|e| e.to_string())?;
        let now = Utc::now();
        let timestamp = now.timestamp();
        let signature = signature_header(
            &due.endpoint.signing_secrets(now),
            &due.message_id,
            timestamp,
            &body,
        );
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.settings.timeout)
            .no_proxy()
            .user_agent(concat!("HallRegistry-Webhooks/", env!("CARGO_PKG_VERSION")));
        if url.ip_literal().is_none() {
            // Connect to the address just checked, not to a new lookup's.
            client = client.resolve(&url.host(), addr);
        }
        let client = client.build().map_err(|e| e.to_string())?;
        let mut response = client
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("webhook-id", &due.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| without_url(&e))?;
        let status = response.status().as_u16();
        let mut prefix = Vec::new();
        while prefix.len() < RESPONSE_PREFIX {
            match response.chunk().await {
                Ok(Some(chunk)) => prefix.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        prefix.truncate(RESPONSE_PREFIX);
        Ok((status, String::from_utf8_lossy(&prefix).into_owned()))
    }

    /// The address to connect to: the literal, or the first the name
    /// resolves to — when every one of them passes the rule.
    async fn checked_address(&self, url: &WebhookUrl) -> Result<SocketAddr, String> {
        let addrs: Vec<SocketAddr> = match url.ip_literal() {
            Some(ip) => vec![SocketAddr::new(ip, url.port())],
            None => tokio::net::lookup_host((url.host(), url.port()))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", url.host()))?
                .collect(),
        };
        if !self.settings.allow_private {
            if let Some(private) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
                return Err(format!(
                    "{} resolves to {}, a private, loopback or link-local address; refused \
                     (HALL_WEBHOOK_ALLOW_PRIVATE is not set)",
                    url.host(),
                    private.ip()
                ));
            }
        }
        addrs
            .into_iter()
            .next()
            .ok_or_else(|| format!("{} resolves to no address", url.host()))
    }
}

/// A transport error without the URL (its query may carry a token).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// A number in [0, 1) for the retry jitter.
fn jitter() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

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
//! Attempts run side by side, each in its own task holding one of
//! [`WebhookSettings::batch`] sending slots: an endpoint that is slow to
//! answer holds only its own slot while the others' deliveries go on.
//!
//! One HTTP client is shared by every attempt (its connections are kept
//! and reused). Its resolver applies the URL rule again to the addresses a
//! host resolves to whenever it connects (a name may have moved to a
//! private address since it was registered), and connects only to addresses
//! it checked; literal addresses were checked when the URL was parsed.
//! Redirects are not followed; the attempt has a deadline; at most
//! [`RESPONSE_PREFIX`] bytes of the answer are read, and that is all that
//! is kept.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::webhooks::{is_public_ip, signature_header, WebhookUrl};
use chrono::Utc;
use futures_util::future::join_all;
use registry::webhooks::{AfterFailure, AttemptOutcome, DueDelivery, CHANNEL};
use registry::{Store, StoreError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    client: reqwest::Client,
    /// One permit per attempt in flight, [`WebhookSettings::batch`] in all.
    slots: Arc<Semaphore>,
    stats: Arc<DispatchStats>,
}

/// What this process's dispatcher has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct DispatchStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Sum of every attempt's latency, in milliseconds.
    latency_ms: AtomicU64,
    in_flight: AtomicU64,
}

impl DispatchStats {
    /// Attempts answered with a 2xx.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Attempts that failed (another status, a timeout, no connection, a refused address).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The sum of every attempt's latency, in seconds.
    pub fn latency_seconds(&self) -> f64 {
        self.latency_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Attempts being made now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Why the dispatcher could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the webhook HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl Dispatcher {
    pub fn new(store: Store, settings: WebhookSettings) -> Result<Self, ClientError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: settings.allow_private,
            }))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .user_agent(concat!("HallRegistry-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let slots = Arc::new(Semaphore::new(
            usize::try_from(settings.batch.max(1)).unwrap_or(1),
        ));
        Ok(Self {
            store,
            settings,
            client,
            slots,
            stats: Arc::default(),
        })
    }

    /// Counts its attempts into `stats` (the server's, shown in `/metrics`).
    pub fn counting_into(mut self, stats: Arc<DispatchStats>) -> Self {
        self.stats = stats;
        self
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
            match self.start_due().await {
                // Every free slot was filled: more may be due at once.
                Ok((started, free)) if started == free => continue,
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

    /// Leases as many due deliveries as there are free sending slots
    /// (waiting for one when none is free) and starts each attempt in its
    /// own task, which records what came of it and frees its slot. Returns
    /// how many it started and how many slots were free.
    async fn start_due(&self) -> Result<(usize, usize), StoreError> {
        let Ok(first) = self.slots.clone().acquire_owned().await else {
            return Ok((0, 0));
        };
        let mut permits: Vec<OwnedSemaphorePermit> = vec![first];
        while let Ok(p) = self.slots.clone().try_acquire_owned() {
            permits.push(p);
        }
        let free = permits.len();
        let due = self.lease(free).await?;
        let started = due.len();
        for (due, permit) in due.into_iter().zip(permits) {
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.attempt(&due).await {
                    tracing::warn!(error = %e, delivery = %due.id, "cannot record a webhook attempt");
                }
                drop(permit);
            });
        }
        Ok((started, free))
    }

    /// Leases up to `n` due deliveries.
    async fn lease(&self, n: usize) -> Result<Vec<DueDelivery>, StoreError> {
        let lease = chrono::Duration::from_std(self.settings.timeout + Duration::from_secs(10))
            .unwrap_or(chrono::Duration::seconds(20));
        let n = i64::try_from(n)
            .unwrap_or(i64::MAX)
            .min(self.settings.batch);
        self.store.lease_due_deliveries(n, lease).await
    }

    /// One round, waited for: takes the due deliveries (at most a batch),
    /// sends them at once and records each; how many it took. (The
    /// server's loop does not wait for a round: [`Dispatcher::start`].)
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let due = self
            .lease(usize::try_from(self.settings.batch).unwrap_or(1))
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
        /// Counts an attempt in flight until it is dropped, however it ends.
        struct InFlight<'a>(&'a AtomicU64);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let _counted = InFlight(&self.stats.in_flight);
        self.attempt_and_record(due).await
    }

    async fn attempt_and_record(&self, due: &DueDelivery) -> Result<(), StoreError> {
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
        self.stats
            .latency_ms
            .fetch_add(u64::from(latency_ms), Ordering::Relaxed);
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
            self.stats.delivered.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(delivery = %due.id, endpoint = %due.endpoint.id, "webhook delivered");
            return self.store.record_delivered(due, &outcome).await;
        }
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
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
        // Parsed again: the rule may have changed since it was registered
        // (HALL_WEBHOOK_ALLOW_PRIVATE turned off refuses literal private
        // addresses here; private names are refused by the resolver).
        let url = WebhookUrl::parse(&due.endpoint.url, self.settings.allow_private)
            .map_err(|e| e.to_string())?;
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
        let mut response = self
            .client
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
}

/// The shared client's resolver: a webhook host's addresses, each checked
/// against the URL rule whenever the client connects — so a name that has
/// moved to a private, loopback or link-local address since it was
/// registered is refused, and the client connects only to addresses that
/// were checked.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect::<Vec<SocketAddr>>();
            let addrs = checked_addresses(&host, addrs, allow_private)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `addrs`, the addresses `host` resolved to, when every one passes the
/// rule (all do when the operator allows private addresses).
fn checked_addresses(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, String> {
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if !allow_private {
        if let Some(private) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
            return Err(format!(
                "{host} resolves to {}, a private, loopback or link-local address; refused \
                 (HALL_WEBHOOK_ALLOW_PRIVATE is not set)",
                private.ip()
            ));
        }
    }
    Ok(addrs)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 0)
    }

    #[test]
    fn a_name_with_any_private_address_is_refused_unless_the_operator_allows_it() {
        let mixed = vec![at("93.184.216.34"), at("10.0.0.7")];
        let e = checked_addresses("hooks.example.com", mixed.clone(), false).unwrap_err();
        assert!(
            e.contains("10.0.0.7") && e.contains("HALL_WEBHOOK_ALLOW_PRIVATE"),
            "{e}"
        );
        assert_eq!(
            checked_addresses("hooks.example.com", mixed.clone(), true),
            Ok(mixed)
        );
        let public = vec![at("93.184.216.34"), at("2606:2800:220:1::248")];
        assert_eq!(
            checked_addresses("hooks.example.com", public.clone(), false),
            Ok(public)
        );
        assert!(checked_addresses("nowhere.example", vec![], true).is_err());
    }
}

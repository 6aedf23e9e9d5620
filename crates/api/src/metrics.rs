//! Prometheus metrics: request counts and latency histograms per route.
//!
//! The label set is bounded whatever clients send: routes are labelled by
//! their pattern (`/api/v1/verify/{worker_id}`), never by the concrete path,
//! requests that match no route share the label `unmatched`, and methods
//! outside [`METHODS`] share the label `other`. Recording takes no lock
//! but a shared read of the route map (written once per route pattern); the
//! counters themselves are atomics.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The method labels; any other method is counted as the last, `other`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

/// HTTP status codes are three digits: 100 to 999.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 900;

fn method_index(method: &str) -> usize {
    METHODS[..METHODS.len() - 1]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

#[derive(Default)]
pub struct Metrics {
    /// Route pattern → its series per method. Only a route's first request
    /// (of which there is one per pattern in the route table) writes.
    routes: RwLock<HashMap<String, Arc<RouteSeries>>>,
    /// Readiness checks that went to PostgreSQL and the cache (`/readyz`
    /// answers from the last one for a second).
    readiness_checks: AtomicU64,
}

#[derive(Default)]
struct RouteSeries {
    by_method: [OnceLock<Series>; METHODS.len()],
}

struct Series {
    /// Requests per status code, indexed from [`FIRST_STATUS`].
    by_status: Box<[AtomicU64]>,
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Series {
    fn new() -> Self {
        Self {
            by_status: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            buckets: Default::default(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one readiness check that asked PostgreSQL and the cache.
    pub fn readiness_checked(&self) {
        self.readiness_checks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        let existing = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
            .cloned();
        let route_series = match existing {
            Some(r) => r,
            None => self
                .routes
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(route.to_string())
                .or_default()
                .clone(),
        };
        let series = route_series.by_method[method_index(method)].get_or_init(Series::new);
        let status_slot = usize::from(status.clamp(FIRST_STATUS, 999) - FIRST_STATUS);
        series.by_status[status_slot].fetch_add(1, Ordering::Relaxed);
        series.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        series.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        series.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Every recorded series, by route then method.
    fn snapshot(&self) -> Vec<(String, &'static str, Arc<RouteSeries>, usize)> {
        let mut routes: Vec<(String, Arc<RouteSeries>)> = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::new();
        for (route, series) in routes {
            for (i, method) in METHODS.iter().enumerate() {
                if series.by_method[i].get().is_some() {
                    out.push((route.clone(), *method, series.clone(), i));
                }
            }
        }
        out
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(
        &self,
        version: &str,
        facts: registry::facts::FactsStats,
        chains: &service::chain_check::ChainCheckStatus,
        webhooks: &service::webhooks::dispatch::DispatchStats,
    ) -> String {
        let series = self.snapshot();
        let mut out = String::new();
        out.push_str("# HELP hall_build_info Hall Registry build information.\n");
        out.push_str("# TYPE hall_build_info gauge\n");
        let _ = writeln!(out, "hall_build_info{{version=\"{}\"}} 1", escape(version));

        out.push_str(
            "# HELP hall_facts_cache_lookups_total Decision-fact lookups answered from memory (hit) or PostgreSQL (miss).\n",
        );
        out.push_str("# TYPE hall_facts_cache_lookups_total counter\n");
        let _ = writeln!(
            out,
            "hall_facts_cache_lookups_total{{result=\"hit\"}} {}",
            facts.hits
        );
        let _ = writeln!(
            out,
            "hall_facts_cache_lookups_total{{result=\"miss\"}} {}",
            facts.misses
        );
        out.push_str(
            "# HELP hall_facts_cache_invalidations_total Times this process dropped its decision-fact copies.\n",
        );
        out.push_str("# TYPE hall_facts_cache_invalidations_total counter\n");
        let _ = writeln!(
            out,
            "hall_facts_cache_invalidations_total {}",
            facts.invalidations
        );

        out.push_str(
            "# HELP hall_readiness_checks_total Readiness checks that asked PostgreSQL and the cache (/readyz reuses one for a second).\n",
        );
        out.push_str("# TYPE hall_readiness_checks_total counter\n");
        let _ = writeln!(
            out,
            "hall_readiness_checks_total {}",
            self.readiness_checks.load(Ordering::Relaxed)
        );

        render_chain_checks(&mut out, chains);
        render_webhooks(&mut out, webhooks);

        out.push_str(
            "# HELP hall_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE hall_http_requests_total counter\n");
        for (route, method, route_series, i) in &series {
            let Some(stats) = route_series.by_method[*i].get() else {
                continue;
            };
            for (slot, n) in stats.by_status.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let status = slot + usize::from(FIRST_STATUS);
                let _ = writeln!(
                    out,
                    "hall_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(method),
                    escape(route)
                );
            }
        }

        out.push_str(
            "# HELP hall_http_request_duration_seconds HTTP request latency by route and method.\n",
        );
        out.push_str("# TYPE hall_http_request_duration_seconds histogram\n");
        for (route, method, route_series, i) in &series {
            let Some(stats) = route_series.by_method[*i].get() else {
                continue;
            };
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += stats.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "hall_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += stats.buckets[BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "hall_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "hall_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "hall_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// The background chain verifier: this process's counts, and every chain's
/// state as of its last look (absent until one finished).
fn render_chain_checks(out: &mut String, chains: &service::chain_check::ChainCheckStatus) {
    out.push_str("# HELP hall_chain_receipts_verified_total Receipts this process's chain verifier checked (hash, link, signature).\n");
    out.push_str("# TYPE hall_chain_receipts_verified_total counter\n");
    let _ = writeln!(
        out,
        "hall_chain_receipts_verified_total {}",
        chains.verified_total()
    );
    out.push_str("# HELP hall_chain_integrity_failures_total Receipt chain breaks this process found and announced (chain.integrity_failure, sev1).\n");
    out.push_str("# TYPE hall_chain_integrity_failures_total counter\n");
    let _ = writeln!(
        out,
        "hall_chain_integrity_failures_total {}",
        chains.breaks_total()
    );
    let Some(look) = chains.last_look() else {
        return;
    };
    let s = look.summary;
    out.push_str("# HELP hall_chain_receipts Receipts in every tenant's chain, as of the verifier's last look.\n");
    out.push_str("# TYPE hall_chain_receipts gauge\n");
    let _ = writeln!(out, "hall_chain_receipts {}", s.receipts);
    out.push_str("# HELP hall_chain_receipts_unverified Receipts not verified yet (or after a break), as of the verifier's last look.\n");
    out.push_str("# TYPE hall_chain_receipts_unverified gauge\n");
    let _ = writeln!(
        out,
        "hall_chain_receipts_unverified {}",
        s.receipts.saturating_sub(s.verified)
    );
    out.push_str("# HELP hall_chain_broken_chains Tenants whose receipt chain has a recorded break (sev1 until investigated).\n");
    out.push_str("# TYPE hall_chain_broken_chains gauge\n");
    let _ = writeln!(out, "hall_chain_broken_chains {}", s.broken);
    out.push_str("# HELP hall_chain_last_check_timestamp_seconds When the verifier last finished looking at every chain (Unix time).\n");
    out.push_str("# TYPE hall_chain_last_check_timestamp_seconds gauge\n");
    let _ = writeln!(
        out,
        "hall_chain_last_check_timestamp_seconds {}",
        look.at.timestamp()
    );
}

/// This process's webhook dispatcher.
fn render_webhooks(out: &mut String, w: &service::webhooks::dispatch::DispatchStats) {
    out.push_str("# HELP hall_webhook_attempts_total Webhook delivery attempts this process made, by result (delivered: a 2xx answer).\n");
    out.push_str("# TYPE hall_webhook_attempts_total counter\n");
    let _ = writeln!(
        out,
        "hall_webhook_attempts_total{{result=\"delivered\"}} {}",
        w.delivered()
    );
    let _ = writeln!(
        out,
        "hall_webhook_attempts_total{{result=\"failed\"}} {}",
        w.failed()
    );
    out.push_str("# HELP hall_webhook_attempt_seconds_total Time this process's webhook attempts took, summed (divide by hall_webhook_attempts_total for the mean).\n");
    out.push_str("# TYPE hall_webhook_attempt_seconds_total counter\n");
    let _ = writeln!(
        out,
        "hall_webhook_attempt_seconds_total {}",
        w.latency_seconds()
    );
    out.push_str(
        "# HELP hall_webhook_attempts_in_flight Webhook attempts this process is making now.\n",
    );
    out.push_str("# TYPE hall_webhook_attempts_in_flight gauge\n");
    let _ = writeln!(out, "hall_webhook_attempts_in_flight {}", w.in_flight());
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let m = Metrics::default();
        m.observe("GET", "/health", 200, Duration::from_micros(300));
        m.observe("GET", "/health", 200, Duration::from_millis(3));
        m.observe("GET", "/health", 503, Duration::from_secs(20));
        let text = m.render(
            "1.2.3",
            Default::default(),
            &Default::default(),
            &Default::default(),
        );
        assert!(text.contains(
            "hall_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "hall_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "hall_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"10\"} 2"
        ));
        assert!(text.contains(
            "hall_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains(
            "hall_http_requests_total{method=\"GET\",route=\"/health\",status=\"503\"} 1"
        ));
        assert!(text.contains("hall_build_info{version=\"1.2.3\"} 1"));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::default();
        for method in ["BREW", "get", "PROPFIND", "GET"] {
            m.observe(method, "unmatched", 404, Duration::from_millis(1));
        }
        let text = m.render(
            "1",
            Default::default(),
            &Default::default(),
            &Default::default(),
        );
        assert!(text.contains(
            "hall_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 3"
        ));
        assert!(text.contains(
            "hall_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"
        ));
        assert!(!text.contains("BREW"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

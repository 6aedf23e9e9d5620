//! Prometheus metrics: request counts and latency histograms per route.
//!
//! Routes are labelled by their pattern (`/api/v1/verify/{worker_id}`), never
//! by the concrete path, so a client cannot grow the label set; requests that
//! match no route share the label `unmatched`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
}

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = routes
            .entry((route.to_string(), method.to_string()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        stats.buckets[slot] += 1;
        stats.sum_seconds += seconds;
        stats.count += 1;
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, version: &str, facts: registry::facts::FactsStats) -> String {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
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
            "# HELP hall_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE hall_http_requests_total counter\n");
        for ((route, method), stats) in routes.iter() {
            for (status, n) in &stats.by_status {
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
        for ((route, method), stats) in routes.iter() {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += stats.buckets[i];
                let _ = writeln!(
                    out,
                    "hall_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += stats.buckets[BUCKETS.len()];
            let _ = writeln!(
                out,
                "hall_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "hall_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "hall_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
        out
    }
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
        let text = m.render("1.2.3", Default::default());
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
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

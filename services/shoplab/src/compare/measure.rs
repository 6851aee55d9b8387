//! What one phase of a compare run measured: the k6 summary plus deltas of the services' own metrics
//! and of Postgres' time spent executing statements, shaped as the rows of the book's Results tables.

use serde::Serialize;
use serde_json::Value;

use super::k6::stat;
use crate::scrape::{Bound, Scrape, bucket_delta, quantile};

/// One phase's numbers (None = not measured in this phase).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Measures {
    pub label: String,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub rps: Option<f64>,
    pub error_rate: Option<f64>,
    pub dropped_iterations: Option<f64>,
    pub server_p95_ms: Option<f64>,
    pub server_5xx: Option<f64>,
    pub queries_per_request: Option<f64>,
    /// Queries per product listing page served from the database (`GET /products` requests that ran at
    /// least one statement, i.e. not cache hits): where N+1 shows in full, 81 for a page of 20 vs 2.
    pub listing_queries_per_request: Option<f64>,
    pub cache_hit_rate: Option<f64>,
    pub pool_wait_ms: Option<f64>,
    pub db_time_ms: Option<f64>,
    pub validate_p99_ms: Option<f64>,
    pub coalesced: Option<f64>,
    pub emails_sent: Option<f64>,
    pub emails_short_circuited: Option<f64>,
    pub emails_dead_lettered: Option<f64>,
    pub outbox_pending: Option<f64>,
    pub rate_limited: Option<f64>,
    /// Case 3: verification emails the provider accepted (after it healed and the queues drained), as a
    /// percentage of the measured run's signup attempts.
    pub emails_delivered_pct: Option<f64>,
    /// Case 3: logins answered without a 5xx (or a transport error), in percent.
    pub login_availability_pct: Option<f64>,
}

/// A row of the Results table: name, getter, and whether lower is better.
pub struct Row {
    pub name: &'static str,
    pub get: fn(&Measures) -> Option<f64>,
    pub lower_is_better: bool,
}

/// Rows in print order.
pub const ROWS: &[Row] = &[
    Row { name: "p50 latency (ms)", get: |m| m.p50_ms, lower_is_better: true },
    Row { name: "p95 latency (ms)", get: |m| m.p95_ms, lower_is_better: true },
    Row { name: "p99 latency (ms)", get: |m| m.p99_ms, lower_is_better: true },
    Row { name: "validate p99 (ms)", get: |m| m.validate_p99_ms, lower_is_better: true },
    Row { name: "throughput (req/s)", get: |m| m.rps, lower_is_better: false },
    Row { name: "error rate (%)", get: |m| m.error_rate.map(|e| e * 100.0), lower_is_better: true },
    Row { name: "dropped iterations", get: |m| m.dropped_iterations, lower_is_better: true },
    Row { name: "server 5xx", get: |m| m.server_5xx, lower_is_better: true },
    Row { name: "server p95 (ms)", get: |m| m.server_p95_ms, lower_is_better: true },
    Row { name: "DB queries / request", get: |m| m.queries_per_request, lower_is_better: true },
    Row { name: "DB queries / uncached listing page", get: |m| m.listing_queries_per_request, lower_is_better: true },
    Row { name: "cache hit rate (%)", get: |m| m.cache_hit_rate.map(|h| h * 100.0), lower_is_better: false },
    Row { name: "DB pool wait (ms avg)", get: |m| m.pool_wait_ms, lower_is_better: true },
    Row { name: "DB time (ms)", get: |m| m.db_time_ms, lower_is_better: true },
    Row { name: "coalesced requests", get: |m| m.coalesced, lower_is_better: false },
    Row { name: "emails sent", get: |m| m.emails_sent, lower_is_better: false },
    Row { name: "emails short-circuited", get: |m| m.emails_short_circuited, lower_is_better: false },
    Row { name: "emails dead-lettered", get: |m| m.emails_dead_lettered, lower_is_better: true },
    Row { name: "outbox pending (end)", get: |m| m.outbox_pending, lower_is_better: true },
    Row { name: "rate limited (429)", get: |m| m.rate_limited, lower_is_better: true },
    Row { name: "emails delivered (%)", get: |m| m.emails_delivered_pct, lower_is_better: false },
    Row { name: "login availability (%)", get: |m| m.login_availability_pct, lower_is_better: false },
];

/// Builds a phase's measures from the k6 summary and the scrapes taken before and after the run.
pub fn measure(label: &str, service: &str, summary: &Value, before: &Scrape, after: &Scrape, db_time_ms: f64) -> Measures {
    let delta = |name: &str, f: &[(&str, &str)]| after.total(name, f) - before.total(name, f);
    let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
    let svc = [("service", service)];
    let hist = "http_server_request_duration_seconds";
    let latency = bucket_delta(&before.buckets(hist, &svc), &after.buckets(hist, &svc));
    let hits = delta("shoplab_cache_requests_total", &[("result", "hit")]);
    let lookups = hits
        + delta("shoplab_cache_requests_total", &[("result", "miss")])
        + delta("shoplab_cache_requests_total", &[("result", "stale")]);
    let emails = |r: &str| Some(delta("shoplab_email_send_total", &[("result", r)])).filter(|_| service == "auth");
    Measures {
        label: label.to_owned(),
        p50_ms: stat(summary, "http_req_duration", "med"),
        p95_ms: stat(summary, "http_req_duration", "p(95)"),
        p99_ms: stat(summary, "http_req_duration", "p(99)"),
        rps: stat(summary, "http_reqs", "rate"),
        error_rate: stat(summary, "http_req_failed", "rate"),
        dropped_iterations: stat(summary, "dropped_iterations", "count").or(Some(0.0)),
        server_p95_ms: quantile(&latency, 0.95).map(|s| s * 1000.0),
        server_5xx: Some(delta(&format!("{hist}_count"), &[("service", service), ("status", "~5")])),
        queries_per_request: ratio(
            delta("shoplab_db_queries_per_request_sum", &svc),
            delta("shoplab_db_queries_per_request_count", &svc),
        ),
        listing_queries_per_request: listing_queries(before, after).filter(|_| service == "product"),
        cache_hit_rate: ratio(hits, lookups),
        pool_wait_ms: ratio(
            delta("shoplab_db_pool_acquire_seconds_sum", &svc),
            delta("shoplab_db_pool_acquire_seconds_count", &svc),
        )
        .map(|s| s * 1000.0),
        db_time_ms: Some(db_time_ms),
        validate_p99_ms: stat(summary, "http_req_duration{name:validate}", "p(99)"),
        coalesced: Some(delta("shoplab_coalesced_requests_total", &[])).filter(|_| service == "analytics"),
        emails_sent: emails("sent"),
        emails_short_circuited: emails("short_circuited"),
        emails_dead_lettered: emails("dead_lettered"),
        outbox_pending: Some(after.total("shoplab_outbox_pending", &[("service", "auth-relay")])).filter(|_| service == "auth"),
        rate_limited: Some(delta("shoplab_rate_limited_total", &[])).filter(|_| service == "auth"),
        emails_delivered_pct: None,
        login_availability_pct: stat(summary, "server_errors{name:login}", "rate")
            .filter(|_| service == "auth")
            .map(|failed| (1.0 - failed) * 100.0),
    }
}

/// Emails delivered as a percentage of signup attempts (None without attempts).
pub fn delivered_pct(sent: f64, attempts: Option<f64>) -> Option<f64> {
    attempts.filter(|a| *a > 0.0).map(|a| sent / a * 100.0)
}

/// Statements per `GET /products` request that reached the database (the `le="0"` bucket counts the
/// requests that ran none: cache hits).
fn listing_queries(before: &Scrape, after: &Scrape) -> Option<f64> {
    let f = [("route", "/products")];
    let name = "shoplab_db_queries_per_request";
    let delta = |suffix: &str| after.total(&format!("{name}_{suffix}"), &f) - before.total(&format!("{name}_{suffix}"), &f);
    let zero = |s: &Scrape| s.buckets(name, &f).get(&Bound(0.0)).copied().unwrap_or(0.0);
    let served = delta("count") - (zero(after) - zero(before));
    (served > 0.0).then(|| delta("sum") / served)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn case3_headline_rows_count_logins_and_deliveries() {
        let summary = json!({ "metrics": { "server_errors{name:login}": { "values": { "rate": 0.005 } } } });
        let m = measure("before", "auth", &summary, &Scrape::default(), &Scrape::default(), 0.0);
        assert!((m.login_availability_pct.unwrap() - 99.5).abs() < 1e-9, "1 login in 200 failed");
        let product = measure("before", "product", &summary, &Scrape::default(), &Scrape::default(), 0.0);
        assert_eq!(product.login_availability_pct, None, "only case 3 has logins");
        assert_eq!(delivered_pct(499.0, Some(500.0)), Some(99.8));
        assert_eq!(delivered_pct(0.0, Some(0.0)), None);
    }
}

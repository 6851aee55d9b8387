//! The live numbers next to the switches, computed from two scrapes of one process taken a second apart.
//!
//! Counters and histogram buckets only ever grow, so what happened *during the last second* is the
//! difference between two scrapes: requests per second, the 95th percentile of the latency buckets that
//! filled up, the share of 5xx answers, queries per request and the cache hit rate. Gauges (breaker
//! state, outbox backlog) are read as they are. This is what Prometheus' `rate()` and
//! `histogram_quantile()` do, done here so the console works without Prometheus.

use serde::Serialize;
use utoipa::ToSchema;

use crate::scrape::{Sample, Scrape, bucket_delta, quantile};

/// The latency histogram every HTTP service exports (docs/architecture.md, "Metrics").
pub const LATENCY: &str = "http_server_request_duration_seconds";
const QUERIES: &str = "shoplab_db_queries_per_request";
const CACHE: &str = "shoplab_cache_requests_total";
const BREAKER: &str = "shoplab_circuit_breaker_state";
const OUTBOX: &str = "shoplab_outbox_pending";

/// What one process did during the last interval (`None` = nothing to compute it from).
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Numbers {
    /// Requests per second (the services do not measure their own /metrics, /healthz and /readyz).
    pub rps: f64,
    /// 95th percentile of server-side latency, in milliseconds, interpolated inside the bucket.
    pub p95_ms: Option<f64>,
    /// 99th percentile, the same way (the live charts draw it beside p95).
    pub p99_ms: Option<f64>,
    /// Share (0..1) of answers with a 5xx status.
    pub error_rate: Option<f64>,
    /// SQL statements per request, averaged over every request of the second (cache hits run none).
    pub queries_per_request: Option<f64>,
    /// Share (0..1) of cache lookups that were hits (hit / (hit + miss + stale)).
    pub cache_hit_rate: Option<f64>,
    /// Worst circuit breaker of the process: `closed`, `half-open` or `open`.
    pub breaker: Option<&'static str>,
    /// Outbox rows not yet published (relays).
    pub outbox_pending: Option<f64>,
}

/// The numbers between `before` and `after`, `secs` apart; `None` if a counter went backwards (the
/// process restarted between the scrapes, so the difference means nothing).
pub fn between(before: &Scrape, after: &Scrape, secs: f64) -> Option<Numbers> {
    let count = format!("{LATENCY}_count");
    let is_5xx = |s: &Sample| s.label("status").is_some_and(|st| st.starts_with('5'));
    let requests = delta(before, after, &count, |_| true)?;
    let errors = delta(before, after, &count, is_5xx)?;
    let queries = delta(before, after, &format!("{QUERIES}_sum"), |_| true)?;
    let counted = delta(before, after, &format!("{QUERIES}_count"), |_| true)?;
    let result = |r: &'static str| move |s: &Sample| s.label("result") == Some(r);
    let hits = delta(before, after, CACHE, result("hit"))?;
    let lookups = hits + delta(before, after, CACHE, result("miss"))? + delta(before, after, CACHE, result("stale"))?;
    let latency = bucket_delta(&before.buckets(LATENCY, &[]), &after.buckets(LATENCY, &[]));
    Some(Numbers {
        rps: if secs > 0.0 { requests / secs } else { 0.0 },
        p95_ms: quantile(&latency, 0.95).map(|s| s * 1000.0),
        p99_ms: quantile(&latency, 0.99).map(|s| s * 1000.0),
        error_rate: ratio(errors, requests),
        queries_per_request: ratio(queries, counted),
        cache_hit_rate: ratio(hits, lookups),
        breaker: after.max(BREAKER).map(breaker_name),
        outbox_pending: after.sum(OUTBOX, |_| true),
    })
}

/// Growth of the summed series `name` (absent series count as 0); `None` if it shrank.
fn delta(before: &Scrape, after: &Scrape, name: &str, keep: impl Fn(&Sample) -> bool + Copy) -> Option<f64> {
    let d = after.sum(name, keep).unwrap_or(0.0) - before.sum(name, keep).unwrap_or(0.0);
    (d >= 0.0).then_some(d)
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// The gauge's meaning (docs/architecture.md, "Metrics": 0 closed, 1 half-open, 2 open).
fn breaker_name(v: f64) -> &'static str {
    match v {
        v if v >= 2.0 => "open",
        v if v >= 1.0 => "half-open",
        _ => "closed",
    }
}

/// The trace of the slowest request that arrived since `before`: the `trace_id` exemplar of the latency
/// buckets whose exemplar changed between the scrapes. `None` when no new request carried one (tracing
/// off, or no traffic).
pub fn latest_trace(before: Option<&Scrape>, after: &Scrape) -> Option<String> {
    let name = format!("{LATENCY}_bucket");
    let old_exemplar =
        |s: &Sample| before.and_then(|b| b.series(&name).find(|o| o.labels == s.labels)).and_then(|o| o.exemplar.clone());
    after
        .series(&name)
        .filter_map(|s| s.exemplar.as_ref().map(|e| (s, e)))
        .filter(|(s, e)| old_exemplar(s).as_ref() != Some(*e))
        .filter_map(|(_, e)| e.label("trace_id").map(|t| (e.value, t)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, t)| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::parse;

    fn scrape(ok: u32, fail: u32, fast: u32, exemplar: &str) -> Scrape {
        let l = |st: &str| format!("service=\"p\",method=\"GET\",route=\"/a\",status=\"{st}\"");
        parse(&format!(
            "{LATENCY}_bucket{{{},le=\"0.01\"}} {fast} # {{trace_id=\"{exemplar}\"}} 0.004\n\
             {LATENCY}_bucket{{{},le=\"0.1\"}} {ok}\n\
             {LATENCY}_bucket{{{},le=\"+Inf\"}} {ok}\n\
             {LATENCY}_count{{{}}} {ok}\n\
             {LATENCY}_bucket{{{},le=\"0.01\"}} 0\n\
             {LATENCY}_bucket{{{},le=\"0.1\"}} {fail}\n\
             {LATENCY}_bucket{{{},le=\"+Inf\"}} {fail}\n\
             {LATENCY}_count{{{}}} {fail}\n\
             {CACHE}{{cache=\"product\",result=\"hit\"}} {ok}\n\
             {CACHE}{{cache=\"product\",result=\"miss\"}} {fail}\n\
             {BREAKER}{{dependency=\"email\"}} 2\n",
            l("200"),
            l("200"),
            l("200"),
            l("200"),
            l("500"),
            l("500"),
            l("500"),
            l("500")
        ))
    }

    #[test]
    fn rates_percentiles_and_ratios_come_from_the_difference() {
        let n = between(&scrape(10, 0, 10, "a"), &scrape(100, 10, 10, "a"), 2.0).expect("numbers");
        assert_eq!(n.rps, 50.0);
        assert_eq!(n.error_rate, Some(0.1));
        // 100 new requests, all between 10 and 100 ms: p95 interpolates to 10 + 0.95 * 90 = 95.5 ms
        assert!((n.p95_ms.unwrap() - 95.5).abs() < 1e-9, "{:?}", n.p95_ms);
        assert!((n.p99_ms.unwrap() - 99.1).abs() < 1e-9, "{:?}", n.p99_ms);
        assert_eq!(n.cache_hit_rate, Some(0.9));
        assert_eq!(n.queries_per_request, None);
        assert_eq!(n.breaker, Some("open"));
    }

    #[test]
    fn a_restart_is_not_a_negative_rate_and_idle_is_zero() {
        assert_eq!(between(&scrape(100, 0, 0, "a"), &scrape(5, 0, 0, "a"), 1.0), None);
        let idle = between(&scrape(5, 0, 0, "a"), &scrape(5, 0, 0, "a"), 1.0).unwrap();
        assert_eq!((idle.rps, idle.p95_ms, idle.error_rate), (0.0, None, None));
    }

    #[test]
    fn the_last_trace_is_a_new_exemplar() {
        let (a, b) = (scrape(1, 0, 1, "old"), scrape(2, 0, 2, "new"));
        assert_eq!(latest_trace(Some(&a), &b).as_deref(), Some("new"));
        assert_eq!(latest_trace(Some(&b), &b), None, "nothing new since the previous scrape");
        assert_eq!(latest_trace(None, &a).as_deref(), Some("old"));
    }
}

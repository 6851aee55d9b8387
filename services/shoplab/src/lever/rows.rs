//! The row arithmetic of `shoplab lever NAME --compare`, generic over every catalogue entry: what was
//! read around one measured run ([`Snapshot`] before and after, plus k6's summary) becomes one number per
//! row of the entry. Pure functions, tested here by counting.

use std::collections::BTreeMap;

use serde_json::Value;

use super::catalog::{Counter, RowSpec, Source};
use crate::compare::k6::stat;
use crate::scrape::Scrape;

/// The counters read just before and just after the measured run.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every scraped process's `/metrics`, merged.
    pub scrape: Scrape,
    /// `INFO commandstats`: command (lowercase) -> calls.
    pub redis: BTreeMap<String, f64>,
    /// `pg_stat_statements` calls in the lab database (None: extension missing).
    pub pg_statements: Option<f64>,
    /// Table -> `seq_tup_read + idx_tup_fetch`.
    pub pg_rows: BTreeMap<String, f64>,
}

/// Parses `INFO commandstats` (`cmdstat_get:calls=12,usec=...`) into command -> calls.
pub fn commandstats(info: &str) -> BTreeMap<String, f64> {
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_ascii_lowercase(), calls))
        })
        .collect()
}

fn counter_delta(c: &Counter, before: &Snapshot, after: &Snapshot) -> f64 {
    after.scrape.total(c.name, c.labels) - before.scrape.total(c.name, c.labels)
}

fn per(num: f64, den: Option<f64>) -> Option<f64> {
    den.filter(|d| *d > 0.0).map(|d| num / d)
}

/// The value of one row (None when the source was not measured: a metric the script lacks, no
/// requests, an extension not installed).
pub fn value(spec: &RowSpec, summary: &Value, before: &Snapshot, after: &Snapshot) -> Option<f64> {
    let requests = stat(summary, "http_reqs", "count");
    match spec.source {
        Source::K6Stat { metric, stat: s } => stat(summary, metric, s),
        Source::Throughput => stat(summary, "http_reqs", "rate"),
        Source::ErrorShare => stat(summary, "http_req_failed", "rate").map(|r| r * 100.0),
        Source::BytesPerRequest => per(stat(summary, "data_received", "count")?, requests),
        Source::K6Rate(name) => stat(summary, name, "rate").map(|r| r * 100.0),
        Source::K6CounterPerRequest(name) => per(stat(summary, name, "count")?, requests),
        Source::K6TrendP95(name) => stat(summary, name, "p(95)"),
        Source::RedisPerRequest(command) => {
            let calls = |s: &Snapshot| match command {
                Some(c) => s.redis.get(c).copied().unwrap_or(0.0),
                None => s.redis.values().sum(),
            };
            // the INFO read between the snapshots is one command of its own
            per((calls(after) - calls(before) - f64::from(u8::from(command.is_none()))).max(0.0), requests)
        }
        Source::PgStatementsPerRequest => per(after.pg_statements? - before.pg_statements?, requests),
        Source::PgRowsPerRequest(table) => {
            let rows = |s: &Snapshot| s.pg_rows.get(table).copied();
            per(rows(after)? - rows(before)?, requests)
        }
        Source::PromPerRequest(c) => per(counter_delta(&c, before, after), requests),
        Source::PromRatio(num, den) => {
            per(counter_delta(&num, before, after), Some(counter_delta(&den, before, after))).map(|r| r * 100.0)
        }
    }
}

/// Every row of an entry, in order.
pub fn values(rows: &[RowSpec], summary: &Value, before: &Snapshot, after: &Snapshot) -> Vec<Option<f64>> {
    rows.iter().map(|r| value(r, summary, before, after)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lever::catalog::{RowSpec, Source};
    use serde_json::json;

    fn spec(source: Source) -> RowSpec {
        RowSpec { name: "x", source, lower_is_better: true }
    }

    fn summary() -> Value {
        json!({ "metrics": {
            "http_reqs": { "values": { "count": 200.0, "rate": 20.0 } },
            "http_req_failed": { "values": { "rate": 0.05 } },
            "data_received": { "values": { "count": 50_000.0 } },
            "http_req_duration{name:deep}": { "values": { "p(95)": 42.0 } },
            "lever_not_modified": { "values": { "rate": 0.75 } },
            "lever_extra": { "values": { "count": 20.0 } },
        }})
    }

    fn snap(metrics: &str, redis: &str, statements: f64, rows: f64) -> Snapshot {
        Snapshot {
            scrape: crate::scrape::parse(metrics),
            redis: commandstats(redis),
            pg_statements: Some(statements),
            pg_rows: [("products".to_owned(), rows)].into(),
        }
    }

    fn pair() -> (Snapshot, Snapshot) {
        let before = snap(
            "shoplab_load_shed_total{service=\"product\",route=\"/products\"} 10\nhits_total{result=\"hit\"} 5\nhits_total{result=\"miss\"} 5\n",
            "# Commandstats\r\ncmdstat_get:calls=100,usec=5\r\ncmdstat_ping:calls=50,usec=1\r\n",
            1000.0,
            10.0,
        );
        let after = snap(
            "shoplab_load_shed_total{service=\"product\",route=\"/products\"} 50\nhits_total{result=\"hit\"} 35\nhits_total{result=\"miss\"} 15\n",
            "cmdstat_get:calls=500,usec=9\ncmdstat_ping:calls=251,usec=2\ncmdstat_info:calls=1,usec=3\n",
            1400.0,
            4010.0,
        );
        (before, after)
    }

    #[test]
    fn k6_rows_read_the_summary() {
        let (b, a) = pair();
        let v = |s| value(&spec(s), &summary(), &b, &a);
        assert_eq!(v(Source::Throughput), Some(20.0));
        assert_eq!(v(Source::ErrorShare), Some(5.0));
        assert_eq!(v(Source::BytesPerRequest), Some(250.0), "50 000 bytes over 200 requests");
        assert_eq!(v(Source::K6Rate("lever_not_modified")), Some(75.0));
        assert_eq!(v(Source::K6CounterPerRequest("lever_extra")), Some(0.1));
        assert_eq!(v(Source::K6Stat { metric: "http_req_duration{name:deep}", stat: "p(95)" }), Some(42.0));
        assert_eq!(v(Source::K6TrendP95("lever_missing")), None, "a metric the script lacks is not a zero");
    }

    #[test]
    fn store_rows_are_deltas_per_request() {
        let (b, a) = pair();
        let v = |s| value(&spec(s), &summary(), &b, &a);
        // get 400 + ping 201 + info 1, minus the INFO of the snapshot itself = 601 over 200 requests
        assert_eq!(v(Source::RedisPerRequest(None)), Some(601.0 / 200.0));
        assert_eq!(v(Source::RedisPerRequest(Some("ping"))), Some(201.0 / 200.0));
        assert_eq!(v(Source::PgStatementsPerRequest), Some(2.0));
        assert_eq!(v(Source::PgRowsPerRequest("products")), Some(20.0));
        assert_eq!(v(Source::PgRowsPerRequest("orders")), None);
    }

    #[test]
    fn prometheus_rows_are_counter_deltas() {
        let (b, a) = pair();
        let shed = Counter { name: "shoplab_load_shed_total", labels: &[("service", "product")] };
        let hits = Counter { name: "hits_total", labels: &[("result", "hit")] };
        let all = Counter { name: "hits_total", labels: &[] };
        let v = |s| value(&spec(s), &summary(), &b, &a);
        assert_eq!(v(Source::PromPerRequest(shed)), Some(0.2), "40 shed over 200 requests");
        assert_eq!(v(Source::PromRatio(hits, all)), Some(75.0), "30 hits of 40 lookups");
        let none = Counter { name: "nothing_total", labels: &[] };
        assert_eq!(v(Source::PromRatio(hits, none)), None, "no denominator, no ratio");
    }

    #[test]
    fn no_requests_no_per_request_rows() {
        let (b, a) = pair();
        let empty = json!({ "metrics": {} });
        assert_eq!(value(&spec(Source::PgStatementsPerRequest), &empty, &b, &a), None);
    }
}

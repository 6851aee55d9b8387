//! Reading the lab's state at the start of a phase: keys in a cache namespace, row counts, queue depths
//! and outbox backlogs, Postgres' cumulative counters (the baseline later numbers are diffed against),
//! and every process's own view of the flags.
//!
//! Each reader answers what it can: a queue that was never declared or a database without the
//! `pg_stat_statements` extension gives `None`, recorded as such, never a failed run.

use std::collections::BTreeMap;
use std::time::Duration;

use deadpool_redis::Pool;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::compare::lab::{Kind, Process};

/// Counts the keys under `prefix` (SCAN, so Redis is never blocked).
pub async fn count_keys(redis: &Pool, prefix: &str) -> anyhow::Result<u64> {
    kit::redis::count_prefix(redis, prefix).await
}

/// Exact row counts of the tables the case studies read.
pub async fn rows(pool: &PgPool) -> anyhow::Result<BTreeMap<&'static str, i64>> {
    let mut out = BTreeMap::new();
    for table in ["product.products", "auth.users", "analytics.events"] {
        let sql = format!("select count(*) from {table}");
        out.insert(table, sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?);
    }
    Ok(out)
}

/// Outbox rows not yet published, per outbox.
pub async fn outbox_pending(pool: &PgPool, case: u8) -> anyhow::Result<BTreeMap<&'static str, i64>> {
    let tables: &[&'static str] = match case {
        2 => &["analytics.outbox"],
        3 => &["auth.outbox"],
        _ => &[],
    };
    let mut out = BTreeMap::new();
    for table in tables {
        let sql = format!("select count(*) from {table} where published_at is null");
        out.insert(*table, sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?);
    }
    Ok(out)
}

/// The queues of a case: its work queue first, then its dead-letter queue.
pub fn queues(case: u8, amqp_prefix: &str) -> Vec<String> {
    let bases: &[&str] = match case {
        2 => &["analytics.aggregator", "analytics.aggregator.dead"],
        3 => &["auth.email.send", "auth.email.dlq"],
        _ => &[],
    };
    bases.iter().map(|b| format!("{amqp_prefix}.{b}")).collect()
}

/// Messages ready in each queue (`None`: not declared yet, or RabbitMQ unreachable).
pub async fn queue_depths(amqp_url: &str, names: &[String]) -> BTreeMap<String, Option<u32>> {
    let mut out: BTreeMap<String, Option<u32>> = names.iter().map(|n| (n.clone(), None)).collect();
    if names.is_empty() {
        return out;
    }
    let Ok(conn) = kit::amqp::connect(amqp_url).await else { return out };
    for name in names {
        // a passive declare of a missing queue closes its channel: one channel per queue
        let Ok(ch) = conn.create_channel().await else { continue };
        let opts = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        if let Ok(q) = ch.queue_declare(name.as_str().into(), opts, Default::default()).await {
            out.insert(name.clone(), Some(q.message_count()));
        }
        let _ = ch.close(200, "depth read".into()).await;
    }
    let _ = conn.close(200, "depth read".into()).await;
    out
}

/// Postgres' cumulative counters for this database, read as the phase's baseline.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PgCounters {
    /// `pg_stat_database`: transactions committed, rows returned/fetched, blocks read/hit, active time (ms).
    pub xact_commit: i64,
    pub tup_returned: i64,
    pub tup_fetched: i64,
    pub blks_read: i64,
    pub blks_hit: i64,
    pub active_time_ms: f64,
    /// `pg_stat_statements` (this database): statements executed and their total execution time (ms);
    /// None where the extension is not installed.
    pub statements_calls: Option<f64>,
    pub statements_exec_ms: Option<f64>,
}

/// Reads the baseline counters.
pub async fn pg_counters(pool: &PgPool) -> anyhow::Result<PgCounters> {
    const DB: &str = "select xact_commit, tup_returned, tup_fetched, blks_read, blks_hit, coalesce(active_time, 0)::float8 \
                      from pg_stat_database where datname = current_database()";
    let (xact_commit, tup_returned, tup_fetched, blks_read, blks_hit, active_time_ms): (i64, i64, i64, i64, i64, f64) =
        sqlx::query_as(DB).fetch_one(pool).await?;
    const STMTS: &str = "select coalesce(sum(calls), 0)::float8, coalesce(sum(total_exec_time), 0)::float8 from pg_stat_statements \
                         where dbid = (select oid from pg_database where datname = current_database())";
    let stmts: Option<(f64, f64)> = sqlx::query_as(STMTS).fetch_one(pool).await.ok();
    Ok(PgCounters {
        xact_commit,
        tup_returned,
        tup_fetched,
        blks_read,
        blks_hit,
        active_time_ms,
        statements_calls: stmts.map(|s| s.0),
        statements_exec_ms: stmts.map(|s| s.1),
    })
}

/// One process's view of the flags.
pub struct Seen {
    pub flags: BTreeMap<String, Value>,
    /// False while the process is still carrying a flip out (the product service building or dropping the
    /// composite indexes: `status.composite_indexes.in_sync` in `GET /admin/flags`).
    pub settled: bool,
}

/// What one process reports for the flags `names`: `GET /admin/flags` values for an API, the
/// `shoplab_flag_value` gauges (bools 0/1, enums by position) for a worker. None if it did not answer.
pub async fn flags_seen(client: &reqwest::Client, p: &Process, names: &[&str]) -> Option<Seen> {
    let get = |path: &str| client.get(format!("{}{path}", p.url)).timeout(Duration::from_secs(2)).send();
    match p.kind {
        Kind::Api => {
            let view: Value = get("/admin/flags").await.ok()?.json().await.ok()?;
            let flags = view["flags"].as_array()?;
            let pick = |n: &&str| flags.iter().find(|f| f["name"] == **n).map(|f| ((*n).to_owned(), f["value"].clone()));
            let settled = view["status"]["composite_indexes"]["in_sync"] != Value::Bool(false);
            Some(Seen { flags: names.iter().filter_map(pick).collect(), settled })
        }
        Kind::Worker => {
            let text = get("/metrics").await.ok()?.text().await.ok()?;
            let scrape = crate::scrape::parse(&text);
            let gauge = |n: &&str| {
                let v = scrape.sum("shoplab_flag_value", |s| s.label("flag") == Some(n))?;
                Some(((*n).to_owned(), serde_json::json!(v)))
            };
            Some(Seen { flags: names.iter().filter_map(gauge).collect(), settled: true })
        }
    }
}

/// Whether `seen` (one process's view) matches the values `want` in that process's terms.
pub fn agrees(kind: Kind, seen: &BTreeMap<String, Value>, want: &BTreeMap<String, Value>) -> bool {
    want.iter().all(|(name, value)| match (kind, seen.get(name)) {
        (Kind::Api, got) => got == Some(value),
        // a worker exports only what its process follows: a flag it does not export is not its concern
        (Kind::Worker, None) => true,
        (Kind::Worker, Some(got)) => {
            kit::flags::find(name).is_some_and(|d| got.as_f64() == Some(kit::flags::gauge_value(d, value)))
        }
    })
}

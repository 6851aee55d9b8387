//! One measured phase (shared by `shoplab case` and `shoplab calibrate`): apply the starting state,
//! warm up, then run the k6 scenario with the services' metrics and Postgres time read around it.
//! Also the report header's machine and tool versions.

use std::path::Path;
use std::time::Duration;

use kit::flags::V;
use sqlx::PgPool;

use super::k6;
use super::lab::{Kind, LabArgs};
use super::measure::{self, Measures};
use super::progress::{Progress, Spec};
use super::report::Header;
use crate::reset::{self, Conns, StartState};

/// Everything a phase needs besides its flags and load.
pub struct Ctx<'a> {
    pub conns: &'a Conns,
    pub case: u8,
    pub lab: &'a LabArgs,
    pub k6_dir: &'a Path,
    /// Extra k6 environment (`--k6-env`).
    pub k6_env: &'a [(String, String)],
    pub vus: Option<u32>,
    pub drain: Duration,
}

/// The load of one phase.
pub struct Load {
    /// Iterations per second (None: the script's default).
    pub rate: Option<u32>,
    pub warmup: Duration,
    pub duration: Duration,
}

/// Runs one phase: starting state (with `flags`, or the current flags when None), warm-up, measurement.
pub async fn phase(
    ctx: &Ctx<'_>,
    tag: &str,
    label: &str,
    flags: Option<&[(&'static str, V)]>,
    load: &Load,
) -> anyhow::Result<(StartState, Measures)> {
    let plan = reset::Plan { case: ctx.case, flags, lab: ctx.lab, drain: ctx.drain, strict: true, actor: "compare" };
    let start = reset::apply(ctx.conns, &plan).await?;
    let dir = tempdir()?;
    let script = k6::script(ctx.case);
    if !load.warmup.is_zero() {
        let shown = Progress::start(spec(ctx, tag, "warm-up", load.warmup));
        let warm = k6::run(ctx.k6_dir, script, &env(ctx, load, load.warmup), &dir.join("warmup.json")).await;
        shown.finish();
        warm?;
    }
    let client = reqwest::Client::new();
    let urls = metrics_urls(ctx);
    let (before, _) = crate::scrape::fetch_all(&client, &urls).await;
    let db_before = db_time_ms(&ctx.conns.pool).await?;
    let shown = Progress::start(spec(ctx, tag, "measure", load.duration));
    let measured_from = chrono::Utc::now();
    let summary = k6::run(ctx.k6_dir, script, &env(ctx, load, load.duration), &dir.join("summary.json")).await;
    shown.finish();
    let summary = summary?;
    let delivered = if ctx.case == 3 { emails_delivered(ctx, flags.is_some(), measured_from, &summary).await? } else { None };
    // Postgres publishes backend statistics about once a second
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (after, down) = crate::scrape::fetch_all(&client, &urls).await;
    let db_after = db_time_ms(&ctx.conns.pool).await?;
    if !down.is_empty() {
        eprintln!("warning: no metrics from {}", down.join(", "));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut measures = measure::measure(label, service(ctx.case), &summary, &before, &after, db_after - db_before);
    measures.emails_delivered_pct = delivered;
    Ok((start, measures))
}

/// Case 3: the share of the measured run's signup attempts whose verification email the provider
/// eventually accepted. A compare phase heals the provider once the load ends (the next phase's starting
/// state degrades it again), then waits for the outbox and the work queue to drain (`--drain`); a quick run
/// keeps the provider as it is and only waits.
async fn emails_delivered(
    ctx: &Ctx<'_>,
    heal: bool,
    since: chrono::DateTime<chrono::Utc>,
    summary: &serde_json::Value,
) -> anyhow::Result<Option<f64>> {
    if heal {
        kit::flags::apply_preset(&ctx.conns.pool, "case3-healthy-provider", "compare").await?;
    }
    crate::reset::wait_drained(ctx.conns, 3, ctx.lab, ctx.drain).await?;
    const SQL: &str = "select count(sent_at) from auth.email_verifications where created_at >= $1";
    let sent: i64 = sqlx::query_scalar(SQL).bind(since).fetch_one(&ctx.conns.pool).await?;
    let attempts = k6::stat(summary, "http_req_duration{name:signup}", "count");
    Ok(measure::delivered_pct(sent as f64, attempts))
}

fn spec(ctx: &Ctx<'_>, tag: &str, stage: &'static str, total: Duration) -> Spec {
    let apis = ctx.lab.processes(ctx.case).into_iter().filter(|p| p.kind == Kind::Api);
    Spec {
        label: tag.to_owned(),
        stage,
        total,
        metrics: apis.map(|p| format!("{}/metrics", p.url)).collect(),
        service: service(ctx.case),
    }
}

/// The `service` label of the case's API.
pub fn service(case: u8) -> &'static str {
    ["product", "analytics", "auth"][usize::from(case.clamp(1, 3) - 1)]
}

fn env(ctx: &Ctx<'_>, load: &Load, duration: Duration) -> Vec<(String, String)> {
    let mut env = ctx.lab.k6_env();
    env.push(("DURATION".to_owned(), format!("{}s", duration.as_secs())));
    if let Some(r) = load.rate {
        env.push(("RATE".into(), r.to_string()));
    }
    if let Some(v) = ctx.vus {
        env.push(("VUS".into(), v.to_string()));
    }
    env.extend(ctx.k6_env.iter().cloned());
    env
}

fn metrics_urls(ctx: &Ctx<'_>) -> Vec<String> {
    ctx.lab.processes(ctx.case).into_iter().map(|p| format!("{}/metrics", p.url)).collect()
}

/// Cumulative time Postgres spent executing statements in this database (ms).
async fn db_time_ms(pool: &PgPool) -> anyhow::Result<f64> {
    let t: Option<f64> =
        sqlx::query_scalar("select active_time from pg_stat_database where datname = current_database()").fetch_one(pool).await?;
    Ok(t.unwrap_or(0.0))
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("shoplab-k6-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The report header's machine and tools (a version that cannot be read is recorded as `?`).
pub async fn header(conns: &Conns, case: u8, rate: String, repeat: usize) -> Header {
    let postgres: String = sqlx::query_scalar("select current_setting('server_version')")
        .fetch_one(&conns.pool)
        .await
        .unwrap_or_else(|_| "?".into());
    let tools = vec![
        ("shoplab".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
        ("k6".to_owned(), k6::version()),
        ("PostgreSQL".to_owned(), postgres),
        ("Redis".to_owned(), redis_version(conns).await.unwrap_or_else(|| "?".into())),
    ];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "?".into());
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(0);
    Header { case, rate, repeat, cores, host, tools, ..Default::default() }
}

async fn redis_version(conns: &Conns) -> Option<String> {
    let mut conn = conns.redis.get().await.ok()?;
    let info: String = kit::redis::redis::cmd("INFO").arg("server").query_async(&mut conn).await.ok()?;
    info.lines().find_map(|l| l.strip_prefix("redis_version:")).map(|v| v.trim().to_owned())
}

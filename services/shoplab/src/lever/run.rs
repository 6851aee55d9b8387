//! The measured phases of `shoplab lever NAME --compare`: flip the one flag, wait until every process
//! the scenario talks to reports it, apply the case's starting state, run k6 with the counters read
//! around it, and write the report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kit::flags::{self, V};
use serde::Serialize;
use serde_json::Value;

use super::LeverArgs;
use super::catalog::Entry;
use super::rows::{self, Snapshot};
use crate::compare::lab::Process;
use crate::compare::report::{self, Header, PhaseRuns, Run};
use crate::compare::stats::Spread;
use crate::compare::{k6, measure::Measures};
use crate::reset::{self, Conns, state};

/// One phase's runs: each run's row values, aligned with the entry's rows.
#[derive(Clone, Debug, Serialize)]
pub struct LeverPhase {
    pub label: String,
    pub value: Value,
    pub runs: Vec<Vec<Option<f64>>>,
}

impl LeverPhase {
    fn spread(&self, row: usize) -> Option<Spread> {
        Spread::of(&self.runs.iter().filter_map(|r| r.get(row).copied().flatten()).collect::<Vec<_>>())
    }
}

/// The case whose starting state a lever's phases start from (cache emptied, queues drained).
fn case_of(entry: &Entry) -> u8 {
    match entry.processes.first().copied() {
        Some("auth") => 3,
        Some("analytics") => 2,
        _ => 1,
    }
}

/// The entry's processes, as the lab runs them.
fn processes(entry: &Entry, args: &LeverArgs) -> Vec<Process> {
    let all: Vec<Process> = (1..=3).flat_map(|c| args.lab.processes(c)).collect();
    entry.processes.iter().filter_map(|n| all.iter().find(|p| p.name == *n).cloned()).collect()
}

/// Runs off, on, off, on, ... and prints and writes the report.
pub async fn compare(database_url: &str, redis_url: &str, amqp_url: &str, entry: &Entry, args: &LeverArgs) -> anyhow::Result<()> {
    k6::require_k6()?;
    let procs = processes(entry, args);
    crate::compare::require_processes(&procs).await?;
    let conns = Conns::open(database_url, redis_url, amqp_url).await?;
    let saved = flags::load(&conns.pool).await?;
    let result = phases(&conns, entry, args, &procs).await;
    crate::compare::restore(&conns.pool, saved).await?;
    let (header, phases, starts) = result?;
    let md = markdown(entry, &header, &phases, &starts);
    println!("\n{md}");
    let path = write(args, entry, &md, &header, &phases)?;
    println!("report written to {} (and .json)", path.display());
    Ok(())
}

type Measured = (Header, Vec<LeverPhase>, Vec<PhaseRuns>);

async fn phases(conns: &Conns, entry: &Entry, args: &LeverArgs, procs: &[Process]) -> anyhow::Result<Measured> {
    let def = flags::find(entry.flag).ok_or_else(|| anyhow::anyhow!("{} is not a registered flag", entry.flag))?;
    let after = def.after.ok_or_else(|| anyhow::anyhow!("{} has no after value", entry.flag))?;
    let values: [(&str, V); 2] = [("off", def.default), ("on", after)];
    let case = case_of(entry);
    let rate = args.rate.map_or("the script's default".to_owned(), |r| format!("{r} req/s (--rate)"));
    let mut header = crate::compare::run_header(conns, case, rate, args.repeat as usize).await;
    header.duration_s = args.duration.as_secs();
    header.warmup_s = args.warmup.as_secs();
    header.title = format!(
        "Lever {} ({} s per phase, {} repeat(s), {})",
        entry.flag,
        args.duration.as_secs(),
        args.repeat,
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let mut out: Vec<LeverPhase> =
        values.iter().map(|(l, v)| LeverPhase { label: (*l).into(), value: v.to_json(), runs: vec![] }).collect();
    let mut starts: Vec<PhaseRuns> = values
        .iter()
        .map(|(l, v)| PhaseRuns { label: (*l).into(), flags: vec![(entry.flag.into(), v.to_json())], runs: vec![] })
        .collect();
    for r in 1..=args.repeat as usize {
        for (i, (label, value)) in values.iter().enumerate() {
            eprintln!("{} {label} (run {r}/{}, phase {}/2)", entry.flag, args.repeat, i + 1);
            flip(conns, entry.flag, value, procs).await?;
            let plan = reset::Plan { case, flags: None, lab: &args.lab, drain: args.drain, strict: true, actor: "lever" };
            let start = reset::apply(conns, &plan).await?;
            let row_values = measure_once(conns, entry, args, procs).await?;
            let measures = Measures { label: (*label).into(), ..Default::default() };
            starts[i].runs.push(Run { repeat: r, start, measures });
            out[i].runs.push(row_values);
        }
    }
    Ok((header, out, starts))
}

/// Writes the flag and waits (up to 30 s) until every API process of the entry reports it.
async fn flip(conns: &Conns, flag: &str, value: &V, procs: &[Process]) -> anyhow::Result<()> {
    let want: BTreeMap<String, Value> = [(flag.to_owned(), value.to_json())].into();
    flags::set(&conns.pool, flag, &value.to_json(), "lever").await?;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for p in procs {
        loop {
            let seen = state::flags_seen(&client, p, &[flag]).await;
            if seen.as_ref().is_some_and(|s| s.settled && state::agrees(p.kind, &s.flags, &want)) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{} did not confirm {flag}={} within 30 s", p.name, value.to_json());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Warm-up, snapshot, measured run, snapshot; the entry's row values.
async fn measure_once(conns: &Conns, entry: &Entry, args: &LeverArgs, procs: &[Process]) -> anyhow::Result<Vec<Option<f64>>> {
    let dir = std::env::temp_dir().join(format!("shoplab-lever-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    if !args.warmup.is_zero() {
        k6::run(&args.k6_dir, entry.scenario, &env(entry, args, args.warmup), &dir.join("warmup.json")).await?;
    }
    let urls: Vec<String> = procs.iter().map(|p| format!("{}/metrics", p.url)).collect();
    let before = snapshot(conns, entry, &urls).await?;
    let summary = k6::run(&args.k6_dir, entry.scenario, &env(entry, args, args.duration), &dir.join("summary.json")).await;
    // Postgres publishes backend statistics about once a second
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = snapshot(conns, entry, &urls).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows::values(entry.rows, &summary?, &before, &after))
}

fn env(entry: &Entry, args: &LeverArgs, duration: Duration) -> Vec<(String, String)> {
    let mut env = args.lab.k6_env();
    env.push(("DURATION".into(), format!("{}s", duration.as_secs())));
    env.extend(args.rate.map(|r| ("RATE".to_owned(), r.to_string())));
    env.extend(args.vus.map(|v| ("VUS".to_owned(), v.to_string())));
    env.extend(entry.env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env.extend(args.k6_env.iter().cloned());
    env
}

/// Reads every counter a row may need.
async fn snapshot(conns: &Conns, entry: &Entry, urls: &[String]) -> anyhow::Result<Snapshot> {
    let (scrape, _) = crate::scrape::fetch_all(&reqwest::Client::new(), urls).await;
    let mut redis = conns.redis.get().await?;
    let info: String = kit::redis::redis::cmd("INFO").arg("commandstats").query_async(&mut redis).await?;
    let statements: Option<f64> = sqlx::query_scalar(
        "select coalesce(sum(calls), 0)::float8 from pg_stat_statements \
         where dbid = (select oid from pg_database where datname = current_database())",
    )
    .fetch_one(&conns.pool)
    .await
    .ok();
    let mut pg_rows = BTreeMap::new();
    for row in entry.rows {
        if let super::catalog::Source::PgRowsPerRequest(table) = row.source {
            let n: Option<f64> = sqlx::query_scalar(
                "select (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::float8 from pg_stat_user_tables where relname = $1",
            )
            .bind(table)
            .fetch_optional(&conns.pool)
            .await?;
            pg_rows.extend(n.map(|n| (table.to_owned(), n)));
        }
    }
    Ok(Snapshot { scrape, redis: rows::commandstats(&info), pg_statements: statements, pg_rows })
}

/// The lever's Results table: one column per phase, the off-to-on change with its noise verdict.
pub fn table(entry: &Entry, phases: &[LeverPhase]) -> String {
    let mut out = String::from("| metric | off | on | change |\n|---|---:|---:|---:|\n");
    for (i, row) in entry.rows.iter().enumerate() {
        let s: Vec<Option<Spread>> = phases.iter().map(|p| p.spread(i)).collect();
        let (off, on) = (s.first().copied().flatten(), s.get(1).copied().flatten());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            row.name,
            report::cell(off),
            report::cell(on),
            report::change(off, on, row.lower_is_better)
        );
    }
    out
}

fn markdown(entry: &Entry, h: &Header, phases: &[LeverPhase], starts: &[PhaseRuns]) -> String {
    let def = flags::find(entry.flag);
    let chapter = def.map(|d| d.chapter.to_string()).unwrap_or_default();
    let values: Vec<String> = phases.iter().map(|p| format!("{} = {}", p.label, p.value)).collect();
    format!(
        "# {}\n\n{} — {}. Chapter: {chapter}. Scenario: k6/{}. {}; every other flag as it was.\n\n{}\n{}\n\
         Cells: median over the repeats (min–max). \"within noise\": the two ranges overlap. Counts from Redis' \
         INFO commandstats and pg_stat_statements are server- or database-wide.\n",
        h.title,
        entry.flag,
        entry.effect,
        entry.scenario,
        values.join(", "),
        report::header(h, starts),
        table(entry, phases)
    )
}

fn write(args: &LeverArgs, entry: &Entry, md: &str, h: &Header, phases: &[LeverPhase]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&args.out)?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let path = args.out.join(format!("lever-{}-{stamp}.md", entry.flag));
    std::fs::write(&path, md)?;
    let rows: Vec<Value> = entry
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let cells: Vec<Value> =
                phases.iter().map(|p| serde_json::json!({ "label": p.label, "spread": p.spread(i) })).collect();
            serde_json::json!({ "name": r.name, "lower_is_better": r.lower_is_better, "phases": cells })
        })
        .collect();
    let json = serde_json::json!({ "flag": entry.flag, "scenario": entry.scenario, "header": h, "rows": rows, "phases": phases });
    std::fs::write(path.with_extension("json"), serde_json::to_string_pretty(&json)?)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_off_on_and_the_change() {
        let entry = crate::lever::catalog::find("product.load_shedding").unwrap();
        let n = entry.rows.len();
        let off = LeverPhase { label: "off".into(), value: Value::Bool(false), runs: vec![vec![Some(20_000.0); n]] };
        let mut on_row = vec![Some(150.0); n];
        on_row[2] = Some(40.0);
        let on = LeverPhase { label: "on".into(), value: Value::Bool(true), runs: vec![on_row] };
        let t = table(entry, &[off, on]);
        assert!(t.contains("| admitted p95 (ms) | 20000 | 150 | -99 % better (133x lower) |"), "{t}");
        assert_eq!(t.lines().count(), 2 + n, "one line per row: {t}");
    }
}

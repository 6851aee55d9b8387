//! `shoplab calibrate [case]`: find, on this machine, the arrival rate at which a case's before state
//! shows the book's before shape, and store it for `shoplab case N --compare`.
//!
//! A fixed rate means different things on different laptops: 100 req/s collapses case 1's before state
//! on 2 cores (p95 in tens of seconds) and barely loads a workstation. The book's before states are slow
//! but alive, so calibration searches for the rate that reproduces them (docs/case-study-*.md quote the
//! figures):
//! - case 1: the highest rate whose p95 stays at or under 850 ms with under 1 % errors and no dropped
//!   iterations (the book: p95 850 ms);
//! - case 2: the highest rate the before state sustains at its SLO (p95 < 50 ms, under 1 % errors, no
//!   dropped iterations) — the book's "max 12 000 RPS" measured the same way;
//! - case 3: the lowest rate at which validate's p99 reaches seconds (>= 1000 ms) with the degraded
//!   provider (the book: p99 "between 80 and 3000 ms").
//!
//! Each probe is a short run of the before state from the defined starting state ([`crate::reset`]);
//! the rate doubles until the shape is crossed, then bisects to within 10 %. The result goes to
//! `lab.calibrations` with what was measured and where.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;

use crate::compare::measure::Measures;
use crate::compare::{Ctx, LabArgs, Load, parse_duration, plan, run_phase};
use crate::reset::Conns;

#[derive(Args, Debug, Clone)]
pub struct CalibrateArgs {
    /// Case study 1, 2 or 3 (default: all three, one after the other).
    #[arg(value_parser = clap::value_parser!(u8).range(1..=3))]
    pub case: Option<u8>,
    /// Measured load of each probe.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub probe: Duration,
    /// Warm-up before each probe.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// First rate tried (default: 5 for case 1, 50 for case 2, 20 for case 3).
    #[arg(long)]
    pub start_rate: Option<u32>,
    /// Highest rate tried.
    #[arg(long)]
    pub max_rate: Option<u32>,
    /// Maximum virtual users k6 may use.
    #[arg(long)]
    pub vus: Option<u32>,
    /// How long each probe waits for the case's outbox and queue to drain before it starts.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Directory of the k6 scripts.
    #[arg(long, default_value = "k6")]
    pub k6_dir: PathBuf,
    /// Extra environment for the k6 script (repeatable), as for `shoplab case`.
    #[arg(long = "k6-env", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub k6_env: Vec<(String, String)>,
    #[command(flatten)]
    pub lab: LabArgs,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("'{s}' is not KEY=VALUE"))
}

/// How a search probes.
#[derive(Clone, Debug)]
pub struct Probe {
    pub duration: Duration,
    pub warmup: Duration,
    pub start: Option<u32>,
    pub max: Option<u32>,
}

impl Default for Probe {
    fn default() -> Self {
        Self { duration: Duration::from_secs(20), warmup: Duration::from_secs(5), start: None, max: None }
    }
}

/// One probe's result.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub rate: u32,
    /// Still short of the book's before shape.
    pub below: bool,
    pub measures: Measures,
}

/// The rate found, and why.
#[derive(Clone, Debug)]
pub struct Found {
    pub rate: u32,
    pub why: String,
}

/// The target in words (reports and the stored row).
pub fn target(case: u8) -> &'static str {
    match case {
        1 => "highest rate with p95 <= 850 ms, < 1 % errors, no dropped iterations (book: p95 850 ms)",
        2 => "highest rate sustained at the SLO: p95 < 50 ms, < 1 % errors, no dropped iterations (book: max 12 000 RPS)",
        _ => "lowest rate at which validate p99 reaches 1000 ms with the degraded provider (book: p99 80 to 3000 ms)",
    }
}

/// Whether a probe is still short of the book's before shape.
pub fn below(case: u8, m: &Measures) -> bool {
    let clean = m.error_rate.unwrap_or(1.0) < 0.01 && m.dropped_iterations.unwrap_or(0.0) == 0.0;
    match case {
        1 => clean && m.p95_ms.is_some_and(|p| p <= 850.0),
        2 => clean && m.p95_ms.is_some_and(|p| p < 50.0),
        _ => m.validate_p99_ms.is_some_and(|p| p < 1000.0),
    }
}

/// Picks the answer from the probes: the highest "below" rate for cases 1 and 2, the lowest rate past
/// the shape for case 3. None when no probe qualifies.
pub fn choose(case: u8, points: &[Point]) -> Option<&Point> {
    if case == 3 {
        points.iter().filter(|p| !p.below).min_by_key(|p| p.rate)
    } else {
        points.iter().filter(|p| p.below).max_by_key(|p| p.rate)
    }
}

/// The next rate to probe: double until the shape is crossed, then bisect to within 10 %; None when done.
pub fn next_rate(points: &[Point], max: u32) -> Option<u32> {
    let lo = points.iter().filter(|p| p.below).map(|p| p.rate).max();
    let hi = points.iter().filter(|p| !p.below).map(|p| p.rate).min();
    match (lo, hi) {
        (Some(lo), None) => (lo < max).then(|| (lo * 2).min(max)),
        (None, Some(hi)) => (hi > 1).then(|| (hi / 2).max(1)),
        (Some(lo), Some(hi)) => {
            let mid = lo + (hi - lo) / 2;
            (hi - lo > (lo / 10).max(1) && mid != lo).then_some(mid)
        }
        (None, None) => None,
    }
}

fn defaults(case: u8) -> (u32, u32) {
    match case {
        1 => (5, 400),
        2 => (50, 20_000),
        _ => (20, 2_000),
    }
}

/// Searches the rate for `ctx.case` and stores it.
pub async fn calibrate(ctx: &Ctx<'_>, probe: &Probe) -> anyhow::Result<Found> {
    let case = ctx.case;
    let (start, max) = defaults(case);
    let (start, max) = (probe.start.unwrap_or(start), probe.max.unwrap_or(max));
    let before = plan(case, true, false).swap_remove(0).flags;
    let load = |rate| Load { rate: Some(rate), warmup: probe.warmup, duration: probe.duration };
    eprintln!("case {case}: looking for the {}", target(case));
    let mut points: Vec<Point> = Vec::new();
    let mut rate = Some(start.clamp(1, max));
    while let Some(r) = rate.filter(|_| points.len() < 12) {
        let tag = format!("calibrate case {case} at {r} req/s (probe {})", points.len() + 1);
        let (_, measures) = run_phase(ctx, &tag, "before", Some(&before), &load(r)).await?;
        let point = Point { rate: r, below: below(case, &measures), measures };
        eprintln!(
            "  {r} req/s: {} -> {}",
            describe(case, &point.measures),
            if point.below { "below the shape" } else { "past it" }
        );
        points.push(point);
        rate = next_rate(&points, max);
    }
    let Some(best) = choose(case, &points) else {
        let hint = if case == 2 {
            "; the default dashboard mix includes 24h and 7d windows, which the before state aggregates in seconds: \
             calibrate on the cheapest dashboard with `--k6-env WINDOWS=15m:100` and compare with the same --k6-env"
        } else {
            ""
        };
        anyhow::bail!("case {case}: no rate between 1 and {max} req/s gave the {}{hint}", target(case));
    };
    let mut why = describe(case, &best.measures);
    if case != 3 && best.rate >= max {
        why.push_str(&format!("; the shape was not reached up to --max-rate {max}"));
    }
    let found = Found { rate: best.rate, why };
    store(&ctx.conns.pool, case, &found, &points, ctx.k6_env).await?;
    Ok(found)
}

fn describe(case: u8, m: &Measures) -> String {
    let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0} ms"));
    let errors = m.error_rate.map_or("—".into(), |e| format!("{:.1} %", e * 100.0));
    let dropped = m.dropped_iterations.unwrap_or(0.0);
    match case {
        3 => format!("validate p99 {}, p99 {}, errors {errors}", ms(m.validate_p99_ms), ms(m.p99_ms)),
        _ => format!("p95 {}, errors {errors}, dropped {dropped:.0}", ms(m.p95_ms)),
    }
}

/// Appends the result to `lab.calibrations`.
async fn store(pool: &PgPool, case: u8, found: &Found, points: &[Point], k6_env: &[(String, String)]) -> anyhow::Result<()> {
    let measured = json!({ "target": target(case), "chosen": found.why, "k6_env": env_text(k6_env), "probes": points });
    sqlx::query("insert into lab.calibrations (case_no, rate, measured, machine) values ($1, $2, $3, $4)")
        .bind(i16::from(case))
        .bind(i32::try_from(found.rate)?)
        .bind(measured)
        .bind(machine())
        .execute(pool)
        .await?;
    Ok(())
}

/// `--k6-env` as one comparable string (`WINDOWS=15m:100 PRODUCTS=4000`), empty without any.
pub fn env_text(k6_env: &[(String, String)]) -> String {
    k6_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// Host name and cores of this machine.
pub fn machine() -> serde_json::Value {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    json!({ "host": host, "cores": std::thread::available_parallelism().map(usize::from).unwrap_or(0) })
}

/// The newest stored calibration of a case.
#[derive(Clone, Debug)]
pub struct Stored {
    pub rate: u32,
    pub at: chrono::DateTime<chrono::Utc>,
    pub machine: serde_json::Value,
    /// The `--k6-env` the probes ran with (a calibration holds for that scenario only).
    pub k6_env: String,
}

impl Stored {
    /// "calibrated on this machine 2026-12-02 07:10 UTC", or which other host it came from, and whether
    /// it was calibrated with other `--k6-env` settings than `k6_env` (this run's).
    pub fn describe(&self, k6_env: &[(String, String)]) -> String {
        let at = self.at.format("%Y-%m-%d %H:%M UTC");
        let mut text = if self.machine == machine() {
            format!("calibrated on this machine {at}")
        } else {
            format!("calibrated {at} on {}, not this machine: rerun `shoplab calibrate`", self.machine)
        };
        if !self.k6_env.is_empty() {
            text.push_str(&format!(" with --k6-env {}", self.k6_env));
        }
        if self.k6_env != env_text(k6_env) {
            text.push_str("; this run's --k6-env differs, so the rate may not fit it");
        }
        text
    }
}

/// Reads the newest calibration of `case`, if any.
pub async fn latest(pool: &PgPool, case: u8) -> anyhow::Result<Option<Stored>> {
    const SQL: &str = "select rate, calibrated_at, machine, coalesce(measured->>'k6_env', '') from lab.calibrations \
                       where case_no = $1 order by calibrated_at desc, id desc limit 1";
    let row: Option<(i32, chrono::DateTime<chrono::Utc>, serde_json::Value, String)> =
        sqlx::query_as(SQL).bind(i16::from(case)).fetch_optional(pool).await?;
    Ok(row.map(|(rate, at, machine, k6_env)| Stored { rate: u32::try_from(rate).unwrap_or(1), at, machine, k6_env }))
}

/// `shoplab calibrate [case]`.
pub async fn run(database_url: &str, redis_url: &str, amqp_url: &str, args: CalibrateArgs) -> anyhow::Result<()> {
    crate::compare::require_ready(&args.lab, args.case).await?;
    let conns = Conns::open(database_url, redis_url, amqp_url).await?;
    let saved = kit::flags::load(&conns.pool).await?;
    let probe = Probe { duration: args.probe, warmup: args.warmup, start: args.start_rate, max: args.max_rate };
    let mut outcome = Ok(());
    for case in args.case.map_or(vec![1, 2, 3], |c| vec![c]) {
        let ctx = Ctx {
            conns: &conns,
            case,
            lab: &args.lab,
            k6_dir: &args.k6_dir,
            k6_env: &args.k6_env,
            vus: args.vus,
            drain: args.drain,
        };
        match calibrate(&ctx, &probe).await {
            Ok(found) => println!("case {case}: {} req/s ({}); stored in lab.calibrations", found.rate, found.why),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    crate::compare::restore(&conns.pool, saved).await?;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(rate: u32, below: bool) -> Point {
        Point { rate, below, measures: Measures::default() }
    }

    #[test]
    fn doubles_then_bisects_to_ten_percent() {
        assert_eq!(next_rate(&[point(5, true)], 400), Some(10));
        assert_eq!(next_rate(&[point(5, true), point(10, true), point(20, false)], 400), Some(15));
        let close = [point(18, true), point(19, false)];
        assert_eq!(next_rate(&close, 400), None, "within 10 %: done");
        assert_eq!(next_rate(&[point(400, true)], 400), None, "never crossed below the maximum");
        assert_eq!(next_rate(&[point(20, false)], 400), Some(10), "already past at the start: halve");
    }

    #[test]
    fn the_shape_decides_below_and_the_choice() {
        let m =
            |p95, err| Measures { p95_ms: Some(p95), error_rate: Some(err), dropped_iterations: Some(0.0), ..Default::default() };
        assert!(below(1, &m(840.0, 0.0)) && !below(1, &m(900.0, 0.0)) && !below(1, &m(500.0, 0.02)));
        assert!(below(2, &m(40.0, 0.0)) && !below(2, &m(60.0, 0.0)));
        let points = [point(10, true), point(15, true), point(20, false), point(40, false)];
        assert_eq!(choose(1, &points).map(|p| p.rate), Some(15), "case 1: highest below");
        assert_eq!(choose(3, &points).map(|p| p.rate), Some(20), "case 3: lowest in seconds");
    }
}

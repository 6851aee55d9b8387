//! `shoplab case N [--compare|--steps]`: the book's methodology as one command. Measures the case's k6
//! scenario in the before state, then in the after state (or one lever at a time with `--steps`:
//! "change one thing at a time"), with the services' own metrics and Postgres time diffed around each
//! run, and prints a table shaped like the book's Results, with the book's own numbers beside it.
//!
//! Reproducible by construction: nothing runs before every process the case needs answers `/readyz`;
//! every phase starts from the defined state of [`crate::reset`]; phases run `--repeat` times in
//! alternation and the report shows each row's median and range; the rate is the one `shoplab calibrate`
//! found on this machine unless `--rate` says otherwise. A phase where more than half the requests failed
//! makes the report invalid and the command fail. Flags are restored afterwards.

pub mod book;
pub(crate) mod k6;
pub mod lab;
pub mod measure;
mod progress;
mod ready;
pub mod report;
mod run;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kit::flags::{self, V};
use sqlx::PgPool;

pub use k6::parse_duration;
pub use lab::LabArgs;
pub use run::{Ctx, Load, header as run_header, phase as run_phase};

use crate::reset::Conns;
use report::{Header, PhaseRuns, Run};

/// `--rate`: a number of iterations per second, or `auto` (calibrate now).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    Auto,
    Fixed(u32),
}

fn parse_rate(s: &str) -> Result<Rate, String> {
    match s {
        "auto" => Ok(Rate::Auto),
        n => n
            .parse::<u32>()
            .ok()
            .filter(|r| *r > 0)
            .map(Rate::Fixed)
            .ok_or_else(|| format!("'{s}' is not a rate: a number > 0, or auto")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct CaseArgs {
    /// Case study: 1 product, 2 analytics, 3 auth.
    #[arg(value_parser = clap::value_parser!(u8).range(1..=3))]
    pub case: u8,
    /// Run before, then after (alternating, --repeat times), and print the Results table.
    #[arg(long)]
    pub compare: bool,
    /// Like --compare, but add one lever at a time in the book's order.
    #[arg(long)]
    pub steps: bool,
    /// Measured load of each phase (e.g. 60s, 2m).
    #[arg(long, default_value = "60s", value_parser = k6::parse_duration)]
    pub duration: Duration,
    /// Warm-up load before each measured phase (0s to skip); the starting state is applied before it.
    #[arg(long, default_value = "10s", value_parser = k6::parse_duration)]
    pub warmup: Duration,
    /// Iterations per second; `auto` calibrates now (see `shoplab calibrate`). Default: the rate stored by
    /// the last `shoplab calibrate N`, else the k6 script's own default.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<Rate>,
    /// Runs of each phase, alternating (before, after, before, after, ...). Default: 3 with --compare or
    /// --steps, 1 for a quick run.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: Option<u32>,
    /// Maximum virtual users k6 may use.
    #[arg(long)]
    pub vus: Option<u32>,
    /// How long each phase waits for the case's outbox and queue to drain before it starts.
    #[arg(long, default_value = "20s", value_parser = k6::parse_duration)]
    pub drain: Duration,
    /// Directory of the k6 scripts.
    #[arg(long, default_value = "k6")]
    pub k6_dir: PathBuf,
    /// Where reports are written.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Extra environment for the k6 script, e.g. `--k6-env PRODUCTS=4000` for a smaller seed (repeatable).
    #[arg(long = "k6-env", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub k6_env: Vec<(String, String)>,
    #[command(flatten)]
    pub lab: LabArgs,
}

/// One phase: a label and the whole flag state to apply before it.
pub struct Phase {
    pub label: String,
    pub flags: Vec<(&'static str, V)>,
}

/// Runs the case and prints/writes the report.
pub async fn run(database_url: &str, redis_url: &str, amqp_url: &str, args: CaseArgs) -> anyhow::Result<()> {
    k6::require_k6()?;
    require_ready(&args.lab, Some(args.case)).await?;
    let conns = Conns::open(database_url, redis_url, amqp_url).await?;
    let saved = flags::load(&conns.pool).await?;
    let result = measure_all(&conns, &args).await;
    restore(&conns.pool, saved).await?;
    let (header, phases) = result?;
    println!("\n{}", report::markdown(&header, &phases));
    let path = report::write(&args.out, &header, &phases)?;
    println!("report written to {} (and .json)", path.display());
    anyhow::ensure!(header.invalid.is_empty(), "the report is marked invalid: {}", header.invalid.join("; "));
    Ok(())
}

/// Refuses (before any flag is touched) unless k6 is installed and every process of `case` (or of every
/// case) answers `/readyz`.
pub async fn require_ready(lab: &LabArgs, case: Option<u8>) -> anyhow::Result<()> {
    k6::require_k6()?;
    let cases = case.map_or(vec![1, 2, 3], |c| vec![c]);
    ready::require(&cases.into_iter().flat_map(|c| lab.processes(c)).collect::<Vec<_>>()).await
}

/// Refuses unless every one of `processes` answers `/readyz` (a single lever's processes).
pub async fn require_processes(processes: &[lab::Process]) -> anyhow::Result<()> {
    ready::require(processes).await
}

/// The phases of the run, each with its complete flag state.
pub fn plan(case: u8, compare: bool, steps: bool) -> Vec<Phase> {
    let mut before = flags::preset(&format!("case{case}-before")).unwrap_or_default();
    if case == 3 {
        // the book's incident: the email provider is slow and flaky in every phase
        before.extend(flags::DEGRADED_PROVIDER.iter().copied());
    }
    let with = |extra: &[(&'static str, V)]| {
        let mut all = before.clone();
        for (n, v) in extra {
            all.retain(|(m, _)| m != n);
            all.push((*n, *v));
        }
        all
    };
    let levers = flags::steps(case);
    if steps {
        let mut phases = vec![Phase { label: "before".into(), flags: before.clone() }];
        for i in 0..levers.len() {
            let label = format!("+{}", levers[i].0.split('.').nth(1).unwrap_or(levers[i].0));
            phases.push(Phase { label, flags: with(&levers[..=i]) });
        }
        phases
    } else if compare {
        vec![Phase { label: "before".into(), flags: before.clone() }, Phase { label: "after".into(), flags: with(&levers) }]
    } else {
        vec![Phase { label: "current".into(), flags: vec![] }]
    }
}

async fn measure_all(conns: &Conns, args: &CaseArgs) -> anyhow::Result<(Header, Vec<PhaseRuns>)> {
    let (rate, rate_text) = resolve_rate(conns, args).await?;
    let repeat = args.repeat.unwrap_or(if args.compare || args.steps { 3 } else { 1 }) as usize;
    let phases = plan(args.case, args.compare, args.steps);
    let mut header = run::header(conns, args.case, rate_text, repeat).await;
    header.duration_s = args.duration.as_secs();
    header.warmup_s = args.warmup.as_secs();
    let ctx = ctx_of(conns, args);
    let load = Load { rate, warmup: args.warmup, duration: args.duration };
    let mut results: Vec<PhaseRuns> = phases
        .iter()
        .map(|p| PhaseRuns {
            label: p.label.clone(),
            flags: p.flags.iter().map(|(n, v)| ((*n).to_owned(), v.to_json())).collect(),
            runs: vec![],
        })
        .collect();
    'repeats: for r in 1..=repeat {
        for (i, p) in phases.iter().enumerate() {
            let tag = format!("{} (run {r}/{repeat}, phase {}/{})", p.label, i + 1, phases.len());
            // a quick run keeps the current flags; every other phase applies its whole preset
            let flags = (!p.flags.is_empty()).then_some(&p.flags[..]);
            let (start, measures) = run::phase(&ctx, &tag, &p.label, flags, &load).await?;
            let failed = measures.error_rate.filter(|e| *e > 0.5);
            results[i].runs.push(Run { repeat: r, start, measures });
            if let Some(e) = failed {
                header.invalid.push(format!(
                    "{} run {r}: {:.0} % of requests failed (more than 50 %); later runs skipped",
                    p.label,
                    e * 100.0
                ));
                break 'repeats;
            }
        }
    }
    header.title = format!(
        "Case {} results ({} s per phase, {repeat} repeat(s), {})",
        args.case,
        args.duration.as_secs(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    Ok((header, results))
}

/// What a phase or a calibration probe needs from the command line.
fn ctx_of<'a>(conns: &'a Conns, args: &'a CaseArgs) -> Ctx<'a> {
    Ctx { conns, case: args.case, lab: &args.lab, k6_dir: &args.k6_dir, k6_env: &args.k6_env, vus: args.vus, drain: args.drain }
}

/// The rate to run at, and how the report names its origin.
async fn resolve_rate(conns: &Conns, args: &CaseArgs) -> anyhow::Result<(Option<u32>, String)> {
    match args.rate {
        Some(Rate::Fixed(r)) => Ok((Some(r), format!("{r} req/s (--rate)"))),
        Some(Rate::Auto) => {
            let ctx = ctx_of(conns, args);
            let found = crate::calibrate::calibrate(&ctx, &crate::calibrate::Probe::default()).await?;
            Ok((Some(found.rate), format!("{} req/s (--rate auto: calibrated just now, {})", found.rate, found.why)))
        }
        None => match crate::calibrate::latest(&conns.pool, args.case).await? {
            Some(c) => Ok((Some(c.rate), format!("{} req/s ({})", c.rate, c.describe(&args.k6_env)))),
            None => Ok((None, format!("the k6 script's default (no calibration stored: run `shoplab calibrate {}`)", args.case))),
        },
    }
}

/// `--k6-env KEY=VALUE` (also `shoplab lever`'s).
pub(crate) fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

/// Puts every flag back as it was before the run.
pub(crate) async fn restore(pool: &PgPool, saved: std::collections::HashMap<String, flags::Stored>) -> anyhow::Result<()> {
    let now = flags::load(pool).await?;
    let value = |m: &std::collections::HashMap<String, flags::Stored>, f: &flags::FlagDef| {
        m.get(f.name).map(|s| s.value.clone()).unwrap_or_else(|| f.default.to_json())
    };
    for f in flags::FLAGS {
        let want = value(&saved, f);
        if value(&now, f) != want {
            flags::set(pool, f.name, &want, "compare").await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_carries_its_whole_flag_state() {
        let phases = plan(1, false, true);
        assert_eq!(phases.len(), 6, "before + five levers");
        let last = &phases[5].flags;
        assert!(last.contains(&("product.eager_loading", V::B(true))) && last.contains(&("product.cache_warming", V::B(true))));
        assert!(phases[1].flags.contains(&("product.composite_indexes", V::B(false))), "later levers still off");
        let case3 = plan(3, true, false);
        assert!(
            case3.iter().all(|p| p.flags.contains(&("emailprovider.mode", V::S("flaky")))),
            "degraded provider in every phase"
        );
    }

    #[test]
    fn rates_are_numbers_or_auto() {
        assert_eq!(parse_rate("15"), Ok(Rate::Fixed(15)));
        assert_eq!(parse_rate("auto"), Ok(Rate::Auto));
        assert!(parse_rate("0").is_err() && parse_rate("fast").is_err());
    }
}

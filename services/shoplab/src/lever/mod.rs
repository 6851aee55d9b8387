//! `shoplab lever list` and `shoplab lever NAME [--compare]`: the book's "change one thing at a time"
//! for any single lever. `--compare` runs the lever's own focused k6 scenario (`k6/levers/<flag>.js`, or
//! its case's script) with the flag at its default, then at its after value, every other flag as it is,
//! and prints a Results table of the rows that lever moves ([`catalog`]), written to
//! `reports/lever-<flag>-<time>.md` and `.json`.
//!
//! It is `shoplab case --compare` narrowed to one flag and reuses its parts: the lab's URLs
//! ([`LabArgs`]), the readiness refusal, the k6 runner, the starting state of [`crate::reset`] (each phase
//! empties its case's cache and drains its queues first), `--repeat` with the noise rule, and the
//! report's header and cells. Flags are restored afterwards.

pub mod catalog;
pub mod rows;
mod run;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kit::flags;

use crate::compare::{LabArgs, parse_duration, parse_kv};
use catalog::Entry;

#[derive(Args, Debug, Clone)]
pub struct LeverArgs {
    /// A lever's flag (e.g. `product.compression`), or `list` for the catalogue by chapter.
    pub name: String,
    /// Run the lever's scenario off, then on (alternating, --repeat times), and print the Results table.
    #[arg(long)]
    pub compare: bool,
    /// Measured load of each phase (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up load before each measured phase (0s to skip).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Iterations per second handed to the script as RATE (default: the script's own).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// Runs of each phase, alternating (off, on, off, on, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,
    /// Maximum virtual users k6 may use.
    #[arg(long)]
    pub vus: Option<u32>,
    /// How long each phase waits for its case's outbox and queue to drain before it starts.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Directory of the k6 scripts.
    #[arg(long, default_value = "k6")]
    pub k6_dir: PathBuf,
    /// Where reports are written.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Extra environment for the k6 script (repeatable KEY=VALUE).
    #[arg(long = "k6-env", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub k6_env: Vec<(String, String)>,
    #[command(flatten)]
    pub lab: LabArgs,
}

/// Runs `shoplab lever ...`.
pub async fn run(database_url: &str, redis_url: &str, amqp_url: &str, args: LeverArgs) -> anyhow::Result<()> {
    if args.name == "list" {
        print!("{}", list());
        return Ok(());
    }
    let entry = lookup(&args.name)?;
    if !args.compare {
        print!("{}", describe(entry, &args.k6_dir));
        return Ok(());
    }
    let script = args.k6_dir.join(entry.scenario);
    anyhow::ensure!(
        script.exists(),
        "{} has no scenario yet: {} is missing{}",
        entry.flag,
        script.display(),
        if catalog::pending(entry) { " (it is on the list of lever scripts still to be written)" } else { "" }
    );
    run::compare(database_url, redis_url, amqp_url, entry, &args).await
}

/// The catalogue entry of `name`, or a message naming the levers there are.
pub fn lookup(name: &str) -> anyhow::Result<&'static Entry> {
    let Some(def) = flags::find(name) else {
        anyhow::bail!("unknown flag '{name}'; `shoplab lever list` shows every lever");
    };
    anyhow::ensure!(
        def.after.is_some(),
        "{name} is a knob, not a lever (it has no after value); `shoplab lever list` shows the levers"
    );
    catalog::find(name).ok_or_else(|| anyhow::anyhow!("{name} has no catalogue entry"))
}

/// Every lever by chapter in book order: chapter (title and both numbers), then each flag, its scenario
/// and what it changes.
pub fn list() -> String {
    let mut chapters: Vec<flags::Chapter> = Vec::new();
    for f in flags::FLAGS.iter().filter(|f| f.after.is_some()) {
        if !chapters.contains(&f.chapter) {
            chapters.push(f.chapter);
        }
    }
    chapters.sort_by_key(|c| c.number);
    let mut out = String::new();
    for ch in chapters {
        let _ = writeln!(out, "{} (ch. {}; {} in the case studies)", ch.title, ch.number, ch.cited());
        for f in flags::FLAGS.iter().filter(|f| f.after.is_some() && f.chapter == ch) {
            let (scenario, effect) = catalog::find(f.name).map_or(("?", f.description), |e| (e.scenario, e.effect));
            let case = if f.case == 0 { String::new() } else { format!(" [case {}]", f.case) };
            let _ = writeln!(out, "  {:<32} k6/{scenario:<42} {effect}{case}", f.name);
        }
        out.push('\n');
    }
    out.push_str("Compare one: shoplab lever NAME --compare   (off, then on; everything else as it is)\n");
    out
}

/// One lever: its flag values, scenario (and whether it is there), rows and the compare command.
pub fn describe(e: &Entry, k6_dir: &std::path::Path) -> String {
    let def = flags::find(e.flag).expect("catalogue entries name registered flags");
    let after = def.after.map(|v| v.to_json().to_string()).unwrap_or_default();
    let present = if k6_dir.join(e.scenario).exists() { "" } else { " (missing)" };
    let rows: Vec<&str> = e.rows.iter().map(|r| r.name).collect();
    format!(
        "{}: {}\n  chapter: {}\n  off = {}, on = {after}\n  scenario: k6/{}{present}\n  rows: {}\n  run: shoplab lever {} --compare\n",
        e.flag,
        e.effect,
        def.chapter,
        def.default.to_json(),
        e.scenario,
        rows.join(", "),
        e.flag
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_groups_by_chapter_in_book_order() {
        let l = list();
        let db = l.find("Database and Storage Selection (ch. 7; 6 in the case studies)").expect("database chapter");
        let traffic = l.find("Traffic Management (ch. 10; 9 in the case studies)").expect("traffic chapter");
        assert!(db < traffic, "book order:\n{l}");
        let shed = l.find("product.load_shedding").expect("load shedding listed");
        assert!(shed > traffic && l.contains("k6/levers/product.load_shedding.js"), "{l}");
    }

    #[test]
    fn knobs_and_unknown_names_are_refused_with_a_hint() {
        let e = lookup("product.warm_top_n").unwrap_err().to_string();
        assert!(e.contains("knob"), "{e}");
        assert!(lookup("product.nope").unwrap_err().to_string().contains("shoplab lever list"));
        assert_eq!(lookup("product.eager_loading").map(|e| e.flag).ok(), Some("product.eager_loading"));
    }
}

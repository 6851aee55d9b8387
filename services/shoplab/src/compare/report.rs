//! The Results report: a header recording how and from what state it was measured, then one row per
//! metric with each phase's median (and min-max over the repeats), the first-to-last change (or "within
//! noise" when the ranges overlap) and the book's own figure. Printed, and written to `reports/` as
//! Markdown and as JSON carrying every repeat's raw numbers and starting state.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::book;
use super::measure::{Measures, ROWS};
use super::stats::{Spread, within_noise};
use crate::reset::{StartState, summary};

/// One repeat of one phase.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// 1-based repeat number.
    pub repeat: usize,
    pub start: StartState,
    pub measures: Measures,
}

/// Every repeat of one phase.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseRuns {
    pub label: String,
    /// The flags the phase set (its whole preset).
    pub flags: Vec<(String, Value)>,
    pub runs: Vec<Run>,
}

impl PhaseRuns {
    /// The spread of `row` over the repeats.
    pub fn spread(&self, get: fn(&Measures) -> Option<f64>) -> Option<Spread> {
        Spread::of(&self.runs.iter().filter_map(|r| get(&r.measures)).collect::<Vec<_>>())
    }
}

/// How, where and with what the report was measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Header {
    pub case: u8,
    pub title: String,
    /// e.g. "15 req/s (calibrated on this machine 2026-12-02 07:10 UTC)".
    pub rate: String,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub repeat: usize,
    pub cores: usize,
    pub host: String,
    /// Tool -> version (shoplab, k6, PostgreSQL, Redis).
    pub tools: Vec<(String, String)>,
    /// Why the report is not a measurement (a phase with more than half its requests failed).
    pub invalid: Vec<String>,
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

/// `850 (800-900)` over several repeats, `850` for one, `—` when not measured.
pub(crate) fn cell(s: Option<Spread>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n > 1 => format!("{} ({}–{})", fmt(s.median), fmt(s.min), fmt(s.max)),
        Some(s) => fmt(s.median),
    }
}

/// Change of the medians from `a` to `b` in percent, marked better, worse or within noise. A fall of
/// more than 99 % rounds to "-100 %" and says nothing about its size, so it also gets the factor.
pub(crate) fn change(a: Option<Spread>, b: Option<Spread>, lower_is_better: bool) -> String {
    let (Some(a), Some(b)) = (a, b) else { return "—".into() };
    if a.median.abs() <= f64::EPSILON {
        return "—".into();
    }
    let pct = (b.median - a.median) / a.median * 100.0;
    let verdict = if within_noise(&a, &b) {
        " within noise"
    } else if pct.abs() < 0.5 {
        ""
    } else if (pct < 0.0) == lower_is_better {
        " better"
    } else {
        " worse"
    };
    let factor = if pct < -99.0 && b.median.abs() > f64::EPSILON {
        format!(" ({:.0}x lower)", a.median / b.median)
    } else {
        String::new()
    };
    format!("{pct:+.0} %{verdict}{factor}")
}

/// The Results table: one column per phase, the first-to-last change, and the book's figure.
pub fn table(case: u8, phases: &[PhaseRuns]) -> String {
    let many = phases.len() > 1;
    let mut out = String::from("| metric |");
    for p in phases {
        let _ = write!(out, " {} |", p.label);
    }
    out.push_str(if many { " change | book |\n|---|" } else { " book |\n|---|" });
    out.push_str(&"---:|".repeat(phases.len() + usize::from(many) + 1));
    out.push('\n');
    for row in ROWS {
        let spreads: Vec<Option<Spread>> = phases.iter().map(|p| p.spread(row.get)).collect();
        if spreads.iter().all(Option::is_none) {
            continue;
        }
        let _ = write!(out, "| {} |", row.name);
        for s in &spreads {
            let _ = write!(out, " {} |", cell(*s));
        }
        if many {
            let _ = write!(out, " {} |", change(spreads[0], spreads[spreads.len() - 1], row.lower_is_better));
        }
        let _ = writeln!(out, " {} |", book::cell(case, row.name).unwrap_or(""));
    }
    out
}

/// The header in Markdown: rate and durations, machine and tools, and each phase's starting state.
pub fn header(h: &Header, phases: &[PhaseRuns]) -> String {
    let mut out = String::new();
    for why in &h.invalid {
        let _ = writeln!(out, "**INVALID — not a measurement:** {why}\n");
    }
    let _ = writeln!(
        out,
        "Rate: {}. Each phase: {} s warm-up, then {} s measured; {} repeat(s), phases alternating.",
        h.rate, h.warmup_s, h.duration_s, h.repeat
    );
    let tools: Vec<String> = h.tools.iter().map(|(t, v)| format!("{t} {v}")).collect();
    let _ = writeln!(out, "Machine: {} cores ({}). Tools: {}.", h.cores, h.host, tools.join(", "));
    if let Some(first) = phases.iter().find_map(|p| p.runs.first()) {
        let rows: Vec<String> = first.start.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let statements = if first.start.pg.statements_calls.is_some() { "read" } else { "not installed" };
        let _ = writeln!(out, "Rows at start: {}. pg_stat_statements baseline: {statements}.", rows.join(", "));
    }
    out.push('\n');
    out.push_str("Starting state (applied before each warm-up; docs/architecture.md, \"Reproducible comparisons\"):\n\n");
    // in the order they ran: run 1 of every phase, then run 2, ...
    for repeat in 1..=phases.iter().map(|p| p.runs.len()).max().unwrap_or(0) {
        for p in phases {
            if let Some(r) = p.runs.get(repeat - 1) {
                let _ = writeln!(out, "- {} run {}: {}", p.label, r.repeat, summary(&r.start));
            }
        }
    }
    out.push_str("\nFlags as each process saw them at the start of the phase:\n\n");
    for p in phases {
        if let Some(r) = p.runs.first() {
            for (proc_name, flags) in &r.start.flags_seen {
                let list: Vec<String> = flags.iter().map(|(n, v)| format!("{}={v}", n.split('.').nth(1).unwrap_or(n))).collect();
                let _ = writeln!(out, "- {} / {proc_name}: {}", p.label, list.join(" "));
            }
        }
    }
    out
}

/// The whole report in Markdown.
pub fn markdown(h: &Header, phases: &[PhaseRuns]) -> String {
    let note = "Cells: median over the repeats (min–max). \"within noise\": the two ranges overlap. \
                Book: the book's before -> after for this case (empty where it gives no number).";
    format!("# {}\n\n{}\n{}\n{note}\n{}\n", h.title, header(h, phases), table(h.case, phases), book::footnote(h.case))
}

/// Writes `<dir>/case<N>-<time>.md` and `.json`; returns the Markdown path.
pub fn write(dir: &Path, h: &Header, phases: &[PhaseRuns]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let md = dir.join(format!("case{}-{stamp}.md", h.case));
    std::fs::write(&md, markdown(h, phases))?;
    let summaries: Vec<Value> = phases
        .iter()
        .map(|p| {
            let rows: serde_json::Map<String, Value> =
                ROWS.iter().filter_map(|r| Some((r.name.to_owned(), serde_json::to_value(p.spread(r.get)?).ok()?))).collect();
            serde_json::json!({ "label": p.label, "rows": rows })
        })
        .collect();
    let json =
        serde_json::json!({ "case": h.case, "header": h, "valid": h.invalid.is_empty(), "summary": summaries, "phases": phases });
    std::fs::write(md.with_extension("json"), serde_json::to_string_pretty(&json)?)?;
    Ok(md)
}

#[cfg(test)]
mod tests;

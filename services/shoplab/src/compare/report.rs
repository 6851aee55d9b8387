//! The Results table (metric, before, after, change %) printed and written to `reports/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::measure::{Measures, ROWS};

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
    }
}

/// Change from `a` to `b` in percent, marked better or worse for this metric. A fall of more than 99 %
/// rounds to "-100 %" and says nothing about its size, so it also gets the factor ("(7944x lower)").
fn change(a: Option<f64>, b: Option<f64>, lower_is_better: bool) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a.abs() > f64::EPSILON => {
            let pct = (b - a) / a * 100.0;
            let verdict = if pct.abs() < 0.5 {
                ""
            } else if (pct < 0.0) == lower_is_better {
                " better"
            } else {
                " worse"
            };
            let factor = if pct < -99.0 && b.abs() > f64::EPSILON { format!(" ({:.0}x lower)", a / b) } else { String::new() };
            format!("{pct:+.0} %{verdict}{factor}")
        }
        _ => "—".into(),
    }
}

/// A Markdown table with one column per phase and, for two or more phases, the first-to-last change.
pub fn table(phases: &[Measures]) -> String {
    let mut out = String::from("| metric |");
    for p in phases {
        let _ = write!(out, " {} |", p.label);
    }
    out.push_str(if phases.len() > 1 { " change |\n|---|" } else { "\n|---|" });
    out.push_str(&"---:|".repeat(phases.len() + usize::from(phases.len() > 1)));
    out.push('\n');
    for row in ROWS {
        let values: Vec<Option<f64>> = phases.iter().map(|p| (row.get)(p)).collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        let _ = write!(out, "| {} |", row.name);
        for v in &values {
            let _ = write!(out, " {} |", fmt(*v));
        }
        if phases.len() > 1 {
            let _ = write!(out, " {} |", change(values[0], values[values.len() - 1], row.lower_is_better));
        }
        out.push('\n');
    }
    out
}

/// Writes `<dir>/case<N>-<time>.md` and `.json`; returns the Markdown path.
pub fn write(dir: &Path, case: u8, heading: &str, phases: &[Measures]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let md = dir.join(format!("case{case}-{stamp}.md"));
    std::fs::write(&md, format!("# {heading}\n\n{}", table(phases)))?;
    let json = serde_json::json!({ "case": case, "heading": heading, "phases": phases });
    std::fs::write(md.with_extension("json"), serde_json::to_string_pretty(&json)?)?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_before_after_and_change() {
        let before =
            Measures { label: "before".into(), p95_ms: Some(850.0), queries_per_request: Some(81.0), ..Default::default() };
        let after = Measures { label: "after".into(), p95_ms: Some(175.0), queries_per_request: Some(2.0), ..Default::default() };
        let t = table(&[before, after]);
        assert!(t.contains("| p95 latency (ms) | 850 | 175 | -79 % better |"), "{t}");
        assert!(t.contains("| DB queries / request | 81.00 | 2.00 | -98 % better |"), "{t}");
        assert!(!t.contains("cache hit"), "rows without data are left out");
    }

    #[test]
    fn a_fall_of_more_than_99_percent_shows_its_factor() {
        let before = Measures { label: "before".into(), p95_ms: Some(26057.0), server_5xx: Some(12.0), ..Default::default() };
        let after = Measures { label: "after".into(), p95_ms: Some(3.28), server_5xx: Some(0.0), ..Default::default() };
        let t = table(&[before, after]);
        assert!(t.contains("| p95 latency (ms) | 26057 | 3.28 | -100 % better (7944x lower) |"), "{t}");
        assert!(t.contains("| server 5xx | 12.00 | 0.00 | -100 % better |"), "a fall to zero has no factor: {t}");
    }
}

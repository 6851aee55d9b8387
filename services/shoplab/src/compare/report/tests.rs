//! The report's table: medians with ranges, the change and its noise verdict, the book column.

use super::*;

fn phase(label: &str, values: &[Measures]) -> PhaseRuns {
    let runs = values
        .iter()
        .enumerate()
        .map(|(i, m)| Run {
            repeat: i + 1,
            start: StartState::default(),
            measures: Measures { label: label.into(), ..m.clone() },
        })
        .collect();
    PhaseRuns { label: label.into(), flags: vec![], runs }
}

fn m(p95: f64, queries: f64) -> Measures {
    Measures { p95_ms: Some(p95), queries_per_request: Some(queries), ..Default::default() }
}

#[test]
fn one_run_each_gives_plain_cells_change_and_the_book() {
    let t = table(1, &[phase("before", &[m(850.0, 81.0)]), phase("after", &[m(175.0, 2.0)])]);
    assert!(t.contains("| metric | before | after | change | book |"), "{t}");
    assert!(t.contains("| p95 latency (ms) | 850 | 175 | -79 % better | 850 -> 175 |"), "{t}");
    assert!(t.contains("| DB queries / request | 81.00 | 2.00 | -98 % better |  |"), "no book number: {t}");
    assert!(!t.contains("cache hit"), "rows without data are left out");
}

#[test]
fn repeats_show_median_and_range_and_overlap_is_noise() {
    let before = phase("before", &[m(900.0, 10.0), m(800.0, 9.0), m(850.0, 11.0)]);
    let after = phase("after", &[m(175.0, 10.5), m(190.0, 9.5), m(170.0, 10.0)]);
    let t = table(1, &[before, after]);
    assert!(t.contains("| p95 latency (ms) | 850 (800–900) | 175 (170–190) | -79 % better | 850 -> 175 |"), "{t}");
    assert!(t.contains("| DB queries / request | 10.00 (9.00–11.00) | 10.00 (9.50–10.50) | +0 % within noise |"), "{t}");
}

#[test]
fn a_fall_of_more_than_99_percent_shows_its_factor() {
    let before = Measures { p95_ms: Some(26057.0), server_5xx: Some(12.0), ..Default::default() };
    let after = Measures { p95_ms: Some(3.28), server_5xx: Some(0.0), ..Default::default() };
    let t = table(1, &[phase("before", &[before]), phase("after", &[after])]);
    assert!(t.contains("| p95 latency (ms) | 26057 | 3.28 | -100 % better (7944x lower) |"), "{t}");
    assert!(t.contains("| server 5xx | 12.00 | 0.00 | -100 % better |"), "a fall to zero has no factor: {t}");
}

#[test]
fn an_invalid_report_says_so_first() {
    let h = Header { case: 1, title: "t".into(), invalid: vec!["before run 1: 100 % errors".into()], ..Default::default() };
    let md = markdown(&h, &[phase("before", &[m(1.0, 1.0)])]);
    let body = md.lines().nth(2).unwrap_or_default();
    assert!(body.starts_with("**INVALID"), "{md}");
}

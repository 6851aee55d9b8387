//! Progress while a phase runs: which phase, elapsed/total seconds, and the live p95 and req/s.
//!
//! The live numbers come from the case's own services (their `http_server_request_duration_seconds`
//! histogram, scraped every second and diffed over the last 5 s), so a trainer sees the before state
//! struggle while it happens, not only in the final table. On a terminal the line is rewritten in place;
//! otherwise (CI logs, a pipe) a plain line is printed every 10 s. Everything goes to stderr: stdout
//! keeps the report.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::scrape::{Bound, bucket_delta, quantile};

const HIST: &str = "http_server_request_duration_seconds";
/// The live numbers cover this much recent time.
const WINDOW: Duration = Duration::from_secs(5);

/// A running progress display; [`Progress::finish`] stops it.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    tty: bool,
}

/// What the display shows.
pub struct Spec {
    /// e.g. `before (run 1/3, phase 1/6)`.
    pub label: String,
    /// e.g. `warm-up` or `measure`.
    pub stage: &'static str,
    pub total: Duration,
    /// `/metrics` URLs of the case's APIs, and the `service` label of their histogram.
    pub metrics: Vec<String>,
    pub service: &'static str,
}

impl Progress {
    /// Starts updating once a second.
    pub fn start(spec: Spec) -> Self {
        let tty = std::io::stderr().is_terminal();
        Self { task: tokio::spawn(run(spec, tty)), tty }
    }

    /// Stops and clears the in-place line.
    pub fn finish(self) {
        self.task.abort();
        if self.tty {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
    }
}

/// One scrape: when, the histogram's buckets and its count.
type Point = (Instant, BTreeMap<Bound, f64>, f64);

async fn run(spec: Spec, tty: bool) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut points: VecDeque<Point> = VecDeque::new();
    let mut last_plain = None::<Instant>;
    loop {
        let (scrape, _) = crate::scrape::fetch_all(&client, &spec.metrics).await;
        let filter = [("service", spec.service)];
        points.push_back((Instant::now(), scrape.buckets(HIST, &filter), scrape.total(&format!("{HIST}_count"), &filter)));
        while points.len() > 2 && points[0].0.elapsed() > WINDOW {
            points.pop_front();
        }
        let line = render(&spec, started.elapsed(), live(&points));
        if tty {
            eprint!("\r\x1b[K{line}");
            let _ = std::io::stderr().flush();
        } else if last_plain.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            eprintln!("{line}");
            last_plain = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// p95 (ms) and req/s between the oldest and newest point.
fn live(points: &VecDeque<Point>) -> Option<(Option<f64>, f64)> {
    let (first, last) = (points.front()?, points.back()?);
    let secs = last.0.duration_since(first.0).as_secs_f64();
    if secs < 0.5 {
        return None;
    }
    let p95 = quantile(&bucket_delta(&first.1, &last.1), 0.95).map(|s| s * 1000.0);
    Some((p95, (last.2 - first.2).max(0.0) / secs))
}

/// `before (run 1/3) measure 12/60 s | p95 830 ms, 14.8 req/s (server, last 5 s)`.
fn render(spec: &Spec, elapsed: Duration, live: Option<(Option<f64>, f64)>) -> String {
    let secs = elapsed.as_secs().min(spec.total.as_secs());
    let head = format!("{} {} {secs}/{} s", spec.label, spec.stage, spec.total.as_secs());
    match live {
        Some((Some(p95), rps)) => format!("{head} | p95 {p95:.0} ms, {rps:.1} req/s (server, last 5 s)"),
        Some((None, rps)) => format!("{head} | {rps:.1} req/s (server, last 5 s)"),
        None => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_phase_time_and_live_numbers() {
        let spec = Spec {
            label: "before (run 1/3)".into(),
            stage: "measure",
            total: Duration::from_secs(60),
            metrics: vec![],
            service: "product",
        };
        let line = render(&spec, Duration::from_secs(12), Some((Some(830.4), 14.84)));
        assert_eq!(line, "before (run 1/3) measure 12/60 s | p95 830 ms, 14.8 req/s (server, last 5 s)");
        assert_eq!(render(&spec, Duration::from_secs(90), None), "before (run 1/3) measure 60/60 s");
    }

    #[test]
    fn live_numbers_come_from_the_window_delta() {
        let t0 = Instant::now();
        let b = |n: f64| [(Bound(0.1), n), (Bound(1.0), n), (Bound(f64::INFINITY), n)].into_iter().collect();
        let points: VecDeque<Point> = [(t0, b(10.0), 10.0), (t0 + Duration::from_secs(2), b(30.0), 30.0)].into();
        let (p95, rps) = live(&points).unwrap();
        assert!((rps - 10.0).abs() < 1e-9, "20 requests in 2 s: {rps}");
        assert!(p95.unwrap() <= 100.0, "every request under 100 ms: {p95:?}");
    }
}

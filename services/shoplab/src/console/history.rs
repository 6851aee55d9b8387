//! The last five minutes of every case study, one point a second, for the page's live charts; and
//! `GET /api/history`, which serves them with the flag flips of the same window.
//!
//! A live demo is about one picture: the latency curve bending at the moment a lever is flipped. The
//! native lab has no Grafana, so the console keeps that picture itself: each scrape of the case's API
//! processes becomes one point (p95, p99, req/s, errors, cache hit rate, breaker state), kept in a ring
//! of [`WINDOW`] points per case (bounded memory however long the console runs), and every row of
//! `lab.flag_events` in the window becomes a marker. The page asks only for the points it has not seen.

use std::collections::VecDeque;
use std::sync::RwLock;

use axum::extract::State;
use kit::ApiResult;
use kit::db::traced;
use kit::extract::{Json, Query};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::ConsoleState;
use super::cases::CASES;
use super::live::ProcessView;

/// Points kept per case: five minutes at one a second.
pub const WINDOW: usize = 300;
/// Flag flips listed at most per answer (a preset writes a handful at once; this bounds the answer).
const MAX_FLIPS: i64 = 200;

/// One second of one case study.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Point {
    /// When it was taken, Unix time in milliseconds (the console's clock, so the page needs no other).
    pub t: i64,
    /// Requests per second over the case's API instances; `None` while none of them is up.
    pub rps: Option<f64>,
    /// 95th percentile latency in ms (with several instances: the slowest instance's).
    pub p95_ms: Option<f64>,
    /// 99th percentile latency in ms (with several instances: the slowest instance's).
    pub p99_ms: Option<f64>,
    /// Share (0..1) of 5xx answers over the case's API instances.
    pub error_rate: Option<f64>,
    /// Share (0..1) of cache lookups that hit (cases with a cache).
    pub cache_hit_rate: Option<f64>,
    /// Worst circuit breaker among the case's processes: 0 closed, 1 half-open, 2 open.
    pub breaker: Option<u8>,
}

/// The rings of points, one per case study in [`CASES`] order.
pub struct History {
    rings: RwLock<Vec<VecDeque<Point>>>,
}

impl Default for History {
    fn default() -> Self {
        Self { rings: RwLock::new(CASES.iter().map(|_| VecDeque::with_capacity(WINDOW)).collect()) }
    }
}

impl History {
    /// Appends one point per case from the latest views, dropping what falls out of the window.
    pub fn record(&self, views: &[ProcessView], t: i64) {
        let mut rings = self.rings.write().expect("history poisoned");
        for (case, ring) in CASES.iter().zip(rings.iter_mut()) {
            let mine: Vec<&ProcessView> = views.iter().filter(|v| v.target.case == case.number).collect();
            if ring.len() == WINDOW {
                ring.pop_front();
            }
            ring.push_back(point(&mine, t));
        }
    }

    /// The points of case `number` taken after `since` (ms), oldest first.
    pub fn since(&self, number: u8, since: i64) -> Vec<Point> {
        let rings = self.rings.read().expect("history poisoned");
        let index = CASES.iter().position(|c| c.number == number);
        index.map(|i| rings[i].iter().filter(|p| p.t > since).cloned().collect()).unwrap_or_default()
    }
}

/// One point from the views of one case's processes.
pub fn point(views: &[&ProcessView], t: i64) -> Point {
    let apis: Vec<_> = views.iter().filter(|v| v.target.role == "api").filter_map(|v| v.numbers.as_ref()).collect();
    let max = |f: fn(&super::numbers::Numbers) -> Option<f64>| apis.iter().filter_map(|n| f(n)).reduce(f64::max);
    let rps: f64 = apis.iter().map(|n| n.rps).sum();
    let weighted = |f: fn(&super::numbers::Numbers) -> Option<f64>| {
        let (sum, weight) = apis
            .iter()
            .filter_map(|n| f(n).map(|v| (v * n.rps.max(1e-9), n.rps.max(1e-9))))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        (weight > 0.0).then(|| sum / weight)
    };
    let breaker = views.iter().filter_map(|v| v.numbers.as_ref()?.breaker).map(breaker_level).max();
    Point {
        t,
        rps: (!apis.is_empty()).then_some(rps),
        p95_ms: max(|n| n.p95_ms),
        p99_ms: max(|n| n.p99_ms),
        error_rate: weighted(|n| n.error_rate),
        cache_hit_rate: weighted(|n| n.cache_hit_rate),
        breaker,
    }
}

fn breaker_level(name: &str) -> u8 {
    match name {
        "open" => 2,
        "half-open" => 1,
        _ => 0,
    }
}

/// `?since=<ms>`: only points newer than that (the page passes the last one it has).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SinceQuery {
    /// Unix time in milliseconds; default 0 (the whole window).
    pub since: Option<i64>,
}

/// The charts' data.
#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    /// The console's clock, Unix ms: the right edge of every chart.
    pub now: i64,
    pub window_secs: u64,
    pub cases: Vec<CaseHistory>,
}

/// One case's points and flips.
#[derive(Serialize, ToSchema)]
pub struct CaseHistory {
    pub number: u8,
    pub points: Vec<Point>,
    /// Flips of this case's flags inside the window, oldest first.
    pub flips: Vec<Flip>,
}

/// One row of `lab.flag_events`, as a chart marker.
#[derive(Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Flip {
    /// Unix ms.
    pub t: i64,
    pub name: String,
    pub new: Value,
    pub actor: String,
}

/// Points and flag flips of the last five minutes, per case.
#[utoipa::path(get, path = "/api/history", tag = "console", params(SinceQuery),
    responses((status = 200, body = HistoryView), (status = 400, description = "since is not a number")))]
#[tracing::instrument(skip_all)]
pub async fn history(State(st): State<ConsoleState>, Query(q): Query<SinceQuery>) -> ApiResult<Json<HistoryView>> {
    const FLIPS: &str = "select (extract(epoch from at) * 1000)::bigint as t, name, new, actor from lab.flag_events \
                         where at > now() - make_interval(secs => $1) order by id desc limit $2";
    let window = WINDOW as f64;
    let mut flips: Vec<Flip> = traced(FLIPS, sqlx::query_as(FLIPS).bind(window).bind(MAX_FLIPS).fetch_all(&st.pool)).await?;
    flips.reverse();
    let since = q.since.unwrap_or(0);
    let cases = CASES
        .iter()
        .map(|c| CaseHistory {
            number: c.number,
            points: st.live.history.since(c.number, since),
            flips: flips.iter().filter(|f| kit::flags::find(&f.name).is_some_and(|d| d.case == c.number)).cloned().collect(),
        })
        .collect();
    Ok(Json(HistoryView { now: chrono::Utc::now().timestamp_millis(), window_secs: WINDOW as u64, cases }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::live::Target;
    use crate::console::numbers::Numbers;

    fn view(case: u8, role: &'static str, numbers: Option<Numbers>) -> ProcessView {
        let target = Target { name: format!("p{case}{role}"), case, role, url: String::new() };
        ProcessView { target, status: if numbers.is_some() { "up" } else { "down" }, reason: None, numbers, last_trace: None }
    }

    fn numbers(rps: f64, p99: f64, errors: f64, breaker: Option<&'static str>) -> Numbers {
        Numbers { rps, p95_ms: Some(p99 / 2.0), p99_ms: Some(p99), error_rate: Some(errors), breaker, ..Numbers::default() }
    }

    #[test]
    fn instances_add_up_and_the_slowest_sets_the_percentiles() {
        let a = view(2, "api", Some(numbers(30.0, 40.0, 0.0, None)));
        let b = view(2, "api", Some(numbers(10.0, 100.0, 0.4, None)));
        let p = point(&[&a, &b], 7);
        assert_eq!((p.t, p.rps, p.p99_ms, p.p95_ms), (7, Some(40.0), Some(100.0), Some(50.0)));
        assert!((p.error_rate.unwrap() - 0.1).abs() < 1e-9, "errors weighted by traffic: {:?}", p.error_rate);
        assert_eq!(p.cache_hit_rate, None);
    }

    #[test]
    fn workers_count_for_the_breaker_only_and_nothing_up_is_a_gap() {
        let worker = view(3, "worker", Some(numbers(0.0, 0.0, 0.0, Some("open"))));
        let api = view(3, "api", Some(numbers(5.0, 10.0, 0.0, Some("closed"))));
        let p = point(&[&api, &worker], 1);
        assert_eq!((p.rps, p.breaker), (Some(5.0), Some(2)));
        let gap = point(&[&view(3, "api", None)], 2);
        assert_eq!((gap.rps, gap.p95_ms, gap.breaker), (None, None, None));
    }

    #[test]
    fn the_ring_keeps_five_minutes_and_serves_what_is_new() {
        let h = History::default();
        let api = view(1, "api", Some(numbers(1.0, 1.0, 0.0, None)));
        for t in 0..(WINDOW as i64 + 50) {
            h.record(std::slice::from_ref(&api), t);
        }
        let all = h.since(1, -1);
        assert_eq!(all.len(), WINDOW, "bounded");
        assert_eq!(all.first().map(|p| p.t), Some(50));
        assert_eq!(h.since(1, WINDOW as i64 + 47).len(), 2);
        assert!(h.since(2, -1).iter().all(|p| p.rps.is_none()), "case 2 had no process up");
        assert!(h.since(9, -1).is_empty());
    }
}

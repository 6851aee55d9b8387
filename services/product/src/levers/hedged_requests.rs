//! `product.hedged_requests` (Advanced Techniques): cut a dependency's latency tail with a second copy.
//!
//! `GET /products/{id}/availability` reads the product's stock from a dependency with a heavy tail (the
//! simulated inventory read `GET /sim/inventory/{id}` of the provider process: most reads are instant,
//! `emailprovider.tail_share` of them take `emailprovider.tail_ms`). The read is idempotent, so asking
//! twice is harmless.
//!
//! **Before** (off): one request; the caller's tail is the dependency's tail — a 5 % share of 400 ms
//! reads puts the endpoint's p95-p99 at 400 ms.
//!
//! **After** (on): the book's hedged requests: if the first request has not answered after the
//! dependency's recent p95 (tracked over its last [`WINDOW`] reads), send a second one and take
//! whichever answers first; the other is dropped (its connection cancelled). Only the slowest ~5 % are
//! hedged, and two independent draws are both slow only 0.25 % of the time, so p99 falls to about p95 +
//! the fast answer. It is the opposite of request coalescing (which removes duplicate work): hedging
//! adds work on purpose.
//!
//! **Costs**: extra load on the dependency. A budget caps it: hedges never exceed [`BUDGET_PERCENT`] (10 %) of
//! the reads since the process started; past it a slow read is simply waited for
//! (`outcome="budget_exhausted"`). Hedging is only safe for idempotent reads, and useless when the
//! dependency is slow for everyone (overload): then the second copy is slow too, and adds load.
//!
//! **Watch**: `shoplab_hedged_requests_total{outcome}` — `sent` (second copies), `won` (the copy answered
//! first), `cancelled` (the first answered and the copy was dropped), `budget_exhausted` — against the
//! route's p99; `k6/levers/product.hedged_requests.js`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kit::ApiError;
use kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::Value;
use tracing::Instrument;

use crate::state::AppState;

/// Reads the hedge delay is the p95 of.
pub const WINDOW: usize = 200;
/// Hedges allowed per 100 reads (10 %).
pub const BUDGET_PERCENT: u64 = 10;
/// Reads seen before the tracked p95 is trusted; until then the delay is [`FIRST_DELAY`].
const MIN_SAMPLES: usize = 20;
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Longest wait for the dependency (a read that takes longer is a 503).
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The dependency client and the hedging bookkeeping of one process.
pub struct Hedger {
    /// `{provider}/sim/inventory/`.
    base: String,
    /// Created once; connections are reused.
    http: reqwest::Client,
    /// Latencies (ms) of the dependency's most recent reads.
    recent: Mutex<VecDeque<f64>>,
    /// Reads and hedges since start (with the lever on), for the budget.
    reads: AtomicU64,
    hedges: AtomicU64,
    /// `shoplab_hedged_requests_total{outcome}`.
    outcomes: Family<OutcomeLabels, Counter>,
}

impl Hedger {
    /// A client of the provider at `provider_url`, its counter registered in `metrics`.
    pub fn new(provider_url: &str, metrics: &Metrics) -> anyhow::Result<Arc<Self>> {
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        // every outcome at 0 from the start (a fixed set), so the extra-request panel has data before the first hedge
        for outcome in ["sent", "won", "cancelled", "budget_exhausted"] {
            drop(outcomes.get_or_create(&OutcomeLabels { outcome }));
        }
        metrics.register("shoplab_hedged_requests", "Hedged dependency reads by outcome", outcomes.clone());
        Ok(Arc::new(Self {
            base: format!("{}/sim/inventory/", provider_url.trim_end_matches('/')),
            http: reqwest::Client::builder().timeout(TIMEOUT).build()?,
            recent: Mutex::new(VecDeque::with_capacity(WINDOW)),
            reads: AtomicU64::new(0),
            hedges: AtomicU64::new(0),
            outcomes,
        }))
    }

    fn count(&self, outcome: &'static str) {
        self.outcomes.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    fn record(&self, ms: f64) {
        let mut r = self.recent.lock().expect("hedge window poisoned");
        if r.len() == WINDOW {
            r.pop_front();
        }
        r.push_back(ms);
    }

    /// The hedge delay: the p95 of the recent reads.
    pub fn delay(&self) -> Duration {
        let r = self.recent.lock().expect("hedge window poisoned");
        if r.len() < MIN_SAMPLES {
            return FIRST_DELAY;
        }
        let mut v: Vec<f64> = r.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let p95 = v[((v.len() as f64) * 0.95).ceil() as usize - 1];
        Duration::from_secs_f64(p95.max(1.0) / 1000.0)
    }

    /// Whether one more hedge stays within the budget (the current read is already counted).
    fn take_budget(&self) -> bool {
        let reads = self.reads.load(Ordering::SeqCst);
        let taken = self.hedges.fetch_add(1, Ordering::SeqCst);
        if (taken + 1) * 100 <= reads * BUDGET_PERCENT {
            return true;
        }
        self.hedges.fetch_sub(1, Ordering::SeqCst);
        false
    }

    /// One read of the dependency, traced as a client span, its latency recorded.
    async fn read(&self, id: i64, copy: &'static str) -> Result<Value, ApiError> {
        let url = format!("{}{id}", self.base);
        let span = tracing::info_span!("inventory.read", otel.name = "GET /sim/inventory/{id}", otel.kind = "client",
            url.full = %url, peer.service = "email-provider", shoplab.hedge = copy);
        let started = Instant::now();
        let res = async {
            let mut headers = axum::http::HeaderMap::new();
            kit::propagation::inject_http(&mut headers);
            let resp = self.http.get(&url).headers(headers).send().await.map_err(|_| unavailable())?;
            if !resp.status().is_success() {
                return Err(unavailable());
            }
            resp.json::<Value>().await.map_err(|_| unavailable())
        }
        .instrument(span)
        .await;
        self.record(started.elapsed().as_secs_f64() * 1000.0);
        res
    }
}

fn unavailable() -> ApiError {
    ApiError::Unavailable("the inventory service did not answer".into())
}

/// The product's availability from the dependency: one read (off) or a hedged read (on).
pub async fn availability(state: &AppState, id: i64) -> Result<Value, ApiError> {
    let h = &state.hedger;
    if !state.flags.bool("product.hedged_requests") {
        return h.read(id, "only").await;
    }
    h.reads.fetch_add(1, Ordering::SeqCst);
    let started = Instant::now();
    let first = h.read(id, "first");
    tokio::pin!(first);
    tokio::select! {
        res = &mut first => return res,
        _ = tokio::time::sleep(h.delay()) => {}
    }
    if !h.take_budget() {
        h.count("budget_exhausted");
        return first.await;
    }
    h.count("sent");
    let second = h.read(id, "hedge");
    tokio::pin!(second);
    tokio::select! {
        res = &mut first => {
            h.count("cancelled");
            res
        }
        res = &mut second => {
            h.count("won");
            // the dropped first read took at least this long: keep the tail in the window
            h.record(started.elapsed().as_secs_f64() * 1000.0);
            res
        }
    }
}

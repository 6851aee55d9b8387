//! Lever `analytics.request_coalescing` — chapter "Network Optimization" (with "Caching Strategies" on
//! stampedes).
//!
//! What the book says: identical dashboard requests arriving within a short window are deduplicated, so
//! one computation answers all of them — dashboards are polled by many viewers and refreshed by many
//! tabs, so at any moment most requests in flight ask the same question. What it costs: an answer can be
//! up to [`WINDOW`] old, memory for one document per (dashboard, window), and a slow computation now
//! delays every request waiting on it instead of one.
//!
//! - naive: every request runs its own computation;
//! - optimized: `moka`'s `try_get_with` lets the first request for a key compute while every identical
//!   request waits for that result, which is then kept for [`WINDOW`] (counted from when it was ready).
//!   The computation runs on its own task: if the leading client disconnects, its request future is
//!   dropped but the computation is not, so the waiters still get their answer (and sqlx does not see a
//!   query future dropped mid-flight, which would cost a reconnect).
//!
//! Every request answered by another's computation counts in `shoplab_coalesced_requests_total{route}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kit::flags::Flags;
use kit::metrics::{Metrics, RouteLabels};
use kit::{ApiError, ApiResult};
use moka::future::Cache;
use prometheus_client::metrics::counter::Counter;
use tracing::Instrument;

use super::Stats;
use crate::dashboard::Dashboard;
use crate::metrics::AnalyticsMetrics;
use crate::window::Window;

/// The flag that switches this lever.
pub const FLAG: &str = "analytics.request_coalescing";
/// How long a computed answer serves identical requests.
pub const WINDOW: Duration = Duration::from_secs(1);
/// The route label coalesced requests are counted under (the route pattern, as in the HTTP metrics).
pub const ROUTE: &str = "/dashboards/{name}";

/// What identical means: same dashboard, same window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub dashboard: Dashboard,
    pub window: Window,
}

/// The shared computations of the optimized path.
pub struct Coalescer {
    /// In-flight computations and their results for [`WINDOW`].
    cache: Cache<Key, Bytes>,
    /// `shoplab_coalesced_requests_total{route="/dashboards/{name}"}`, resolved once (no label lookup per request).
    coalesced: Counter,
    stats: Arc<Stats>,
}

impl Coalescer {
    /// An empty coalescer counting into `metrics` and `stats`.
    pub fn new(metrics: Metrics, stats: Arc<Stats>) -> Self {
        // at 0 from the start: "nothing coalesced yet" is a value on the dashboard, not an empty panel
        let coalesced = AnalyticsMetrics::of(&metrics).coalesced.get_or_create(&RouteLabels { route: ROUTE.to_owned() }).clone();
        Self { cache: Cache::builder().max_capacity(64).time_to_live(WINDOW).build(), coalesced, stats }
    }

    /// Answers `key` with `compute`, alone or shared with identical requests depending on the flag.
    pub async fn run<F, Fut>(&self, flags: &Flags, key: Key, compute: F) -> ApiResult<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Bytes>> + Send + 'static,
    {
        if flags.bool(FLAG) { self.shared(key, compute()).await } else { Ok(compute().await?) }
    }

    /// Optimized: one computation per key at a time, its result reused for [`WINDOW`].
    async fn shared<Fut>(&self, key: Key, compute: Fut) -> ApiResult<Bytes>
    where
        Fut: Future<Output = anyhow::Result<Bytes>> + Send + 'static,
    {
        let led = AtomicBool::new(false);
        let stats = self.stats.clone();
        let init = async {
            led.store(true, Ordering::Relaxed);
            // own task, carrying the leader's span so its trace shows the work
            let task = tokio::spawn(
                async move {
                    let (res, statements) = kit::db::count_queries(compute).await;
                    stats.coalesced_statements.fetch_add(statements, Ordering::Relaxed);
                    res
                }
                .instrument(tracing::Span::current()),
            );
            task.await.map_err(|e| anyhow::anyhow!("dashboard computation failed: {e}"))?
        };
        let res = self.cache.try_get_with(key, init).await;
        let coalesced = !led.load(Ordering::Relaxed);
        tracing::Span::current().record("coalesced", coalesced);
        if coalesced {
            self.coalesced.inc();
        }
        res.map_err(|e| ApiError::Internal(anyhow::anyhow!("{e:#}")))
    }
}

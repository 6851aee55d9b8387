//! The levers of case study 2, one module each, naive and optimized side by side:
//!
//! - [`preaggregation`] (`analytics.preaggregation`, "Caching Strategies"): a GROUP BY over raw events on
//!   every request, or buckets the aggregator keeps in Redis;
//! - [`request_coalescing`] (`analytics.request_coalescing`, "Network Optimization"): every request
//!   computes, or identical concurrent requests share one computation.
//!
//! The third change of the case study, scaling out, is not a flag: the API keeps no state of its own
//! (events in Postgres, buckets in Redis), so more `analytics serve` instances behind a load balancer
//! answer the same ("Compute and Scaling").

pub mod preaggregation;
pub mod request_coalescing;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use chrono::Utc;
use kit::ApiResult;
use kit::db::Db;
use kit::flags::Flags;

use crate::buckets::Keys;
use crate::dashboard::Dashboard;
use crate::redis_conn::RedisConn;
use crate::window::Window;
use request_coalescing::{Coalescer, Key};

/// Where dashboard answers are computed from.
#[derive(Clone)]
pub struct Sources {
    /// Raw events (the naive path and the fallback).
    pub db: Db,
    /// The aggregator's buckets.
    pub redis: RedisConn,
    pub keys: Keys,
    pub flags: Flags,
}

/// How much work the dashboards really did; tests read it to prove coalescing.
#[derive(Debug, Default)]
pub struct Stats {
    /// Dashboard requests that reached the levers.
    pub requests: AtomicU64,
    /// Dashboard computations run (one per request without coalescing).
    pub computations: AtomicU64,
    /// SQL statements run by coalesced computations (which run on their own task).
    pub coalesced_statements: AtomicU64,
}

impl Stats {
    /// Dashboard requests so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Computations so far.
    pub fn computations(&self) -> u64 {
        self.computations.load(Ordering::Relaxed)
    }

    /// SQL statements of coalesced computations so far.
    pub fn coalesced_statements(&self) -> u64 {
        self.coalesced_statements.load(Ordering::Relaxed)
    }
}

/// The dashboards with both levers in front of them.
#[derive(Clone)]
pub struct Dashboards {
    /// Shared, not copied: a coalesced request only needs it if it leads the computation.
    sources: Arc<Sources>,
    coalescer: Arc<Coalescer>,
    /// Shared with the coalescer and the tests.
    pub stats: Arc<Stats>,
}

impl Dashboards {
    /// Dashboards over `sources`; coalesced requests are counted in `metrics`.
    pub fn new(sources: Sources, metrics: kit::metrics::Metrics) -> Self {
        let stats = Arc::new(Stats::default());
        Self { coalescer: Arc::new(Coalescer::new(metrics, stats.clone())), sources: Arc::new(sources), stats }
    }

    /// The JSON document of `dashboard` over `window`, as of now.
    pub async fn render(&self, dashboard: Dashboard, window: Window) -> ApiResult<Bytes> {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let (sources, stats) = (self.sources.clone(), self.stats.clone());
        let compute = move || async move {
            stats.computations.fetch_add(1, Ordering::Relaxed);
            let doc = preaggregation::overview(&sources, window, Utc::now()).await?;
            Ok(Bytes::from(serde_json::to_vec(&doc)?))
        };
        self.coalescer.run(&self.sources.flags, Key { dashboard, window }, compute).await
    }
}

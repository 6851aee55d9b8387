//! The Prometheus metrics listed in docs/architecture.md, "Metrics", one registry per process (or per test
//! app).
//!
//! Every metric carries a constant `service` label. Names are the contract with the Grafana dashboards:
//! change one and a panel goes blank. Latency histograms attach the trace id as an exemplar so a spike in
//! Grafana links to the trace in Tempo. `/metrics` is served as OpenMetrics text (exemplars need it).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets (seconds): fine below 10 ms where the optimized paths live, coarse up to 30 s where a
/// hanging email provider sits.
const LATENCY_BUCKETS: [f64; 17] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Queries per request: 1 and 2 (eager) must be told apart from 81 (N+1 on a page of 20).
const QUERY_BUCKETS: [f64; 12] = [0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 41.0, 81.0, 121.0, 201.0, 401.0];

type LatencyFamily<L> = Family<L, HistogramWithExemplars<TraceExemplar>, fn() -> HistogramWithExemplars<TraceExemplar>>;
type HistFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    pub trace_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolStateLabels {
    pub pool: String,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: &'static str,
    /// hit | miss | stale | refresh
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlagLabels {
    pub flag: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// sent | failed | retried | dead_lettered | short_circuited
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// ingested | published | aggregated | dead_lettered
    pub stage: &'static str,
}

/// Every metric family of docs/architecture.md, "Metrics"; cheap to clone: one shared [`Families`], so a
/// clone is one reference count (state structs holding it are cloned per request: the profiles of
/// docs/performance.md showed a clone per family at several percent of a cached request's CPU).
#[derive(Clone)]
pub struct Metrics(Arc<Families>);

impl std::ops::Deref for Metrics {
    type Target = Families;

    fn deref(&self) -> &Families {
        &self.0
    }
}

/// The families themselves, reached through [`Metrics`].
pub struct Families {
    /// The registry `/metrics` encodes; behind a mutex only because registering needs `&mut`.
    registry: Arc<Mutex<Registry>>,
    /// Postgres pools whose size is sampled into `shoplab_db_pool_connections` at each scrape.
    pools: Arc<Mutex<Vec<(String, sqlx::PgPool)>>>,
    pub http_duration: LatencyFamily<HttpLabels>,
    pub db_queries: HistFamily<RouteLabels>,
    pub pool_connections: Family<PoolStateLabels, Gauge>,
    pub pool_acquire: HistFamily<PoolLabels>,
    pub cache_requests: Family<CacheLabels, Counter>,
    pub flag_value: Family<FlagLabels, Gauge<f64, AtomicU64>>,
    pub outbox_pending: Gauge,
    /// Outbox rows given up on after repeated refusals (kept with their error for inspection).
    pub outbox_parked: Gauge,
    pub email_send: Family<ResultLabels, Counter>,
    pub email_delivery: Histogram,
    pub breaker_state: Family<DependencyLabels, Gauge>,
    pub rate_limited: Family<RouteLabels, Counter>,
    pub analytics_events: Family<StageLabels, Counter>,
    pub aggregator_lag: Gauge<f64, AtomicU64>,
    pub coalesced: Family<RouteLabels, Counter>,
}

fn latency_hist() -> HistogramWithExemplars<TraceExemplar> {
    HistogramWithExemplars::new(LATENCY_BUCKETS.into_iter())
}

fn latency_plain() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn query_hist() -> Histogram {
    Histogram::new(QUERY_BUCKETS)
}

impl Metrics {
    /// A fresh registry whose every series carries `service="<service>"`.
    pub fn new(service: &str) -> Self {
        let labels = std::iter::once(("service".into(), service.to_owned().into()));
        let mut r = Registry::with_labels(labels);
        let m = Families {
            registry: Arc::new(Mutex::new(Registry::default())),
            pools: Arc::default(),
            http_duration: Family::new_with_constructor(latency_hist),
            db_queries: Family::new_with_constructor(query_hist),
            pool_connections: Family::default(),
            pool_acquire: Family::new_with_constructor(latency_plain),
            cache_requests: Family::default(),
            flag_value: Family::default(),
            outbox_pending: Gauge::default(),
            outbox_parked: Gauge::default(),
            email_send: Family::default(),
            email_delivery: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
            breaker_state: Family::default(),
            rate_limited: Family::default(),
            analytics_events: Family::default(),
            aggregator_lag: Gauge::default(),
            coalesced: Family::default(),
        };
        m.register_all(&mut r);
        *m.registry.lock().expect("metrics registry poisoned") = r;
        Self(Arc::new(m))
    }
}

impl Families {
    fn register_all(&self, r: &mut Registry) {
        r.register("http_server_request_duration_seconds", "HTTP server request latency", self.http_duration.clone());
        r.register("shoplab_db_queries_per_request", "SQL statements run per HTTP request", self.db_queries.clone());
        r.register("shoplab_db_pool_connections", "Postgres pool connections by state", self.pool_connections.clone());
        r.register("shoplab_db_pool_acquire_seconds", "Time waiting for a Postgres connection", self.pool_acquire.clone());
        r.register("shoplab_cache_requests", "Cache lookups by result", self.cache_requests.clone());
        r.register("shoplab_flag_value", "Current value of each lab flag (bool 0/1, enums by index)", self.flag_value.clone());
        r.register("shoplab_outbox_pending", "Outbox rows not yet published", self.outbox_pending.clone());
        r.register("shoplab_outbox_parked", "Outbox rows parked after repeated refusals", self.outbox_parked.clone());
        r.register("shoplab_email_send", "Email send attempts by result", self.email_send.clone());
        r.register(
            "shoplab_email_delivery_seconds",
            "From signup to email accepted by the provider",
            self.email_delivery.clone(),
        );
        r.register(
            "shoplab_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            self.breaker_state.clone(),
        );
        r.register("shoplab_rate_limited", "Requests refused by the rate limiter", self.rate_limited.clone());
        r.register("shoplab_analytics_events", "Analytics events by pipeline stage", self.analytics_events.clone());
        r.register(
            "shoplab_aggregator_lag_seconds",
            "Age of the newest event the aggregator applied",
            self.aggregator_lag.clone(),
        );
        r.register("shoplab_coalesced_requests", "Requests that shared another request's computation", self.coalesced.clone());
        r.register("shoplab_trace_roots", "Traces started here, by sampling decision", crate::telemetry::trace_sampling::roots());
    }

    /// Samples `pool` into the pool gauges at every scrape, under the label `pool=<name>`.
    pub fn track_pool(&self, name: &str, pool: sqlx::PgPool) {
        self.pools.lock().expect("pools poisoned").push((name.to_owned(), pool));
    }

    /// Counts one cache lookup.
    pub fn cache(&self, cache: &'static str, result: &'static str) {
        self.cache_requests.get_or_create(&CacheLabels { cache, result }).inc();
    }

    /// Renders the OpenMetrics text.
    pub fn render(&self) -> String {
        self.sample_pools();
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry poisoned");
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(event = "metrics_encode_failed", error = %e);
        }
        out
    }

    fn sample_pools(&self) {
        for (name, pool) in self.pools.lock().expect("pools poisoned").iter() {
            let size = i64::from(pool.size());
            let idle = pool.num_idle() as i64;
            let max = i64::from(pool.options().get_max_connections());
            for (state, v) in [("in_use", size - idle), ("idle", idle), ("max", max)] {
                self.pool_connections.get_or_create(&PoolStateLabels { pool: name.clone(), state }).set(v);
            }
        }
    }
}

//! The Prometheus registry of a process (or of a test app) and the families every service has: HTTP
//! latency, queries per request, Postgres pools, cache lookups and flag values (docs/architecture.md,
//! "Metrics").
//!
//! A family only some processes have lives with the code that counts it and is added to the same registry
//! through [`Families`]: the outbox gauges in [`crate::outbox`](mod@crate::outbox), each service's own in its `metrics.rs`.
//!
//! Every metric carries a constant `service` label. Names are the contract with the Grafana dashboards:
//! change one and a panel goes blank. Latency histograms attach the trace id as an exemplar so a spike in
//! Grafana links to the trace in Tempo. `/metrics` is served as OpenMetrics text (exemplars need it).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Metric families a service (or a kit module used by some processes only) adds to a process's registry.
/// [`Metrics::families`] creates and registers them once per registry; every series gets the `service`
/// label.
pub trait Families: Send + Sync + 'static {
    /// Creates the families and registers each of them in `registry`.
    fn register(registry: &mut Registry) -> Self;
}

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets (seconds): fine below 10 ms where the optimized paths live, coarse up to 30 s where a
/// hanging downstream sits.
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

/// The registry and the families every process has; cheap to clone: one shared [`Shared`], so a clone is
/// one reference count (state structs holding it are cloned per request: the profiles of
/// docs/performance.md showed a clone per family at several percent of a cached request's CPU).
#[derive(Clone)]
pub struct Metrics(Arc<Shared>);

impl std::ops::Deref for Metrics {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The registry and the common families themselves, reached through [`Metrics`].
pub struct Shared {
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
    /// The families services and kit modules added ([`Metrics::families`]), one per type.
    families: Arc<RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
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
        let m = Shared {
            registry: Arc::new(Mutex::new(Registry::default())),
            pools: Arc::default(),
            http_duration: Family::new_with_constructor(latency_hist),
            db_queries: Family::new_with_constructor(query_hist),
            pool_connections: Family::default(),
            pool_acquire: Family::new_with_constructor(latency_plain),
            cache_requests: Family::default(),
            flag_value: Family::default(),
            families: Arc::default(),
        };
        m.register_all(&mut r);
        *m.registry.lock().expect("metrics registry poisoned") = r;
        Self(Arc::new(m))
    }
}

impl Shared {
    fn register_all(&self, r: &mut Registry) {
        r.register("http_server_request_duration_seconds", "HTTP server request latency", self.http_duration.clone());
        r.register("shoplab_db_queries_per_request", "SQL statements run per HTTP request", self.db_queries.clone());
        r.register("shoplab_db_pool_connections", "Postgres pool connections by state", self.pool_connections.clone());
        r.register("shoplab_db_pool_acquire_seconds", "Time waiting for a Postgres connection", self.pool_acquire.clone());
        r.register("shoplab_cache_requests", "Cache lookups by result", self.cache_requests.clone());
        r.register("shoplab_flag_value", "Current value of each lab flag (bool 0/1, enums by index)", self.flag_value.clone());
        r.register("shoplab_trace_roots", "Traces started here, by sampling decision", crate::telemetry::trace_sampling::roots());
    }

    /// The families `F` of this registry: created and registered on first use, the same handles after.
    /// This is how a service adds its own metrics (its `metrics.rs`) without kit knowing them.
    pub fn families<F: Families>(&self) -> Arc<F> {
        let key = TypeId::of::<F>();
        let found = self.families.read().unwrap_or_else(PoisonError::into_inner).get(&key).cloned();
        let any = match found {
            Some(any) => any,
            None => {
                let mut map = self.families.write().unwrap_or_else(PoisonError::into_inner);
                map.entry(key)
                    .or_insert_with(|| {
                        let mut registry = self.registry.lock().expect("metrics registry poisoned");
                        Arc::new(F::register(&mut registry))
                    })
                    .clone()
            }
        };
        any.downcast::<F>().unwrap_or_else(|_| unreachable!("families are keyed by their type"))
    }

    /// Registers a family a service owns (declared in that service, not here), with the same constant
    /// `service` label as every other series of this registry.
    pub fn register(&self, name: &str, help: &str, metric: impl prometheus_client::registry::Metric) {
        self.registry.lock().expect("metrics registry poisoned").register(name, help, metric);
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Extra {
        jobs: Counter,
    }

    impl Families for Extra {
        fn register(registry: &mut Registry) -> Self {
            let jobs = Counter::default();
            registry.register("shoplab_test_jobs", "Jobs", jobs.clone());
            Self { jobs }
        }
    }

    /// A service's families are registered once per registry, share their handles, carry the `service`
    /// label, and stay apart from another registry's.
    #[test]
    fn families_are_registered_once_per_registry() {
        let (a, b) = (Metrics::new("worker-a"), Metrics::new("worker-b"));
        a.families::<Extra>().jobs.inc();
        a.families::<Extra>().jobs.inc();
        assert_eq!(a.families::<Extra>().jobs.get(), 2);
        assert_eq!(b.families::<Extra>().jobs.get(), 0);
        let text = a.render();
        assert_eq!(text.matches("# TYPE shoplab_test_jobs counter").count(), 1, "{text}");
        assert!(text.contains("shoplab_test_jobs_total{service=\"worker-a\"} 2"), "{text}");
    }
}

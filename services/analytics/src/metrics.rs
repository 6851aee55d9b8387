//! The analytics processes' own Prometheus families (docs/architecture.md, "Metrics"), added to the
//! process's kit registry: `AnalyticsMetrics::of(&metrics)` creates and registers them on first use, the
//! same handles after.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use kit::metrics::{Families, Metrics, RouteLabels};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// ingested | published | aggregated | dead_lettered
    pub stage: &'static str,
}

/// The families of the analytics API, relay and aggregator.
pub struct AnalyticsMetrics {
    /// `shoplab_analytics_events_total{stage}`: events (not batches) by pipeline stage.
    pub events: Family<StageLabels, Counter>,
    /// `shoplab_aggregator_lag_seconds`: age of the newest batch the aggregator applied.
    pub aggregator_lag: Gauge<f64, AtomicU64>,
    /// `shoplab_coalesced_requests_total{route}`: requests that shared another request's computation.
    pub coalesced: Family<RouteLabels, Counter>,
}

impl AnalyticsMetrics {
    /// The analytics families of `metrics`' registry.
    pub fn of(metrics: &Metrics) -> Arc<Self> {
        metrics.families()
    }

    /// Counts `n` events at `stage`.
    pub fn count_events(&self, stage: &'static str, n: usize) {
        self.events.get_or_create(&StageLabels { stage }).inc_by(n as u64);
    }
}

impl Families for AnalyticsMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self { events: Family::default(), aggregator_lag: Gauge::default(), coalesced: Family::default() };
        r.register("shoplab_analytics_events", "Analytics events by pipeline stage", m.events.clone());
        r.register("shoplab_aggregator_lag_seconds", "Age of the newest event the aggregator applied", m.aggregator_lag.clone());
        r.register("shoplab_coalesced_requests", "Requests that shared another request's computation", m.coalesced.clone());
        m
    }
}

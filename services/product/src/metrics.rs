//! The product service's own Prometheus families (docs/architecture.md, "Metrics"), added to the
//! process's kit registry: `ProductMetrics::of(&metrics)` creates and registers them on first use, the
//! same handles after.

use std::sync::Arc;

use kit::metrics::{Families, Metrics, RouteLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// The families of the product API.
pub struct ProductMetrics {
    /// `shoplab_coalesced_requests_total{route}`: requests that shared another request's computation.
    pub coalesced: Family<RouteLabels, Counter>,
}

impl ProductMetrics {
    /// The product families of `metrics`' registry.
    pub fn of(metrics: &Metrics) -> Arc<Self> {
        metrics.families()
    }
}

impl Families for ProductMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self { coalesced: Family::default() };
        r.register("shoplab_coalesced_requests", "Requests that shared another request's computation", m.coalesced.clone());
        m
    }
}

//! The auth processes' own Prometheus families (docs/architecture.md, "Metrics"), added to the process's
//! kit registry: `AuthMetrics::of(&metrics)` creates and registers them on first use, the same handles
//! after.

use std::sync::Arc;

use kit::metrics::{Families, Metrics, RouteLabels};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Buckets of the signup-to-accepted delay (seconds): retries with backoff take minutes.
const DELIVERY_BUCKETS: [f64; 12] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// sent | failed | retried | dead_lettered | short_circuited
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: &'static str,
}

/// The families of the auth API, relay and email worker.
pub struct AuthMetrics {
    /// `shoplab_email_send_total{result}`: email send attempts by result.
    pub email_send: Family<ResultLabels, Counter>,
    /// `shoplab_email_delivery_seconds`: from signup to email accepted by the provider.
    pub email_delivery: Histogram,
    /// `shoplab_circuit_breaker_state{dependency}`: 0 closed, 1 half-open, 2 open.
    pub breaker_state: Family<DependencyLabels, Gauge>,
    /// `shoplab_rate_limited_total{route}`: requests refused by the rate limiter.
    pub rate_limited: Family<RouteLabels, Counter>,
}

impl AuthMetrics {
    /// The auth families of `metrics`' registry.
    pub fn of(metrics: &Metrics) -> Arc<Self> {
        metrics.families()
    }
}

impl Families for AuthMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self {
            email_send: Family::default(),
            email_delivery: Histogram::new(DELIVERY_BUCKETS),
            breaker_state: Family::default(),
            rate_limited: Family::default(),
        };
        // every result at 0 from the start (a fixed set): the failures panel reads 0, not no data
        for result in ["sent", "failed", "retried", "dead_lettered", "short_circuited", "timed_out"] {
            drop(m.email_send.get_or_create(&ResultLabels { result }));
        }
        r.register("shoplab_email_send", "Email send attempts by result", m.email_send.clone());
        r.register("shoplab_email_delivery_seconds", "From signup to email accepted by the provider", m.email_delivery.clone());
        r.register(
            "shoplab_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            m.breaker_state.clone(),
        );
        r.register("shoplab_rate_limited", "Requests refused by the rate limiter", m.rate_limited.clone());
        m
    }
}

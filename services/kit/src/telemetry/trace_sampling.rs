//! Lever `telemetry.trace_sampling` (Observability): which traces are kept, read live by every process.
//!
//! **Before (1.0):** every request's trace is recorded and exported: each span is built, its attributes
//! copied, batched, encoded as protobuf and sent to the collector. **After (0.1):** a parent-based ratio.
//! A root span (a request that arrives without a `traceparent`) is sampled when its trace id falls in the
//! lowest tenth of the id space; every other span follows its parent's decision, whether the parent is
//! local, came in an HTTP header or in an AMQP message header. So one trace is either whole (the HTTP
//! request, its SQL and Redis spans, the message and the consumer that processed it) or absent: never a
//! trace with holes.
//!
//! What the book says: tracing is how the case studies found where the time went, and it is not free;
//! sampling keeps its cost bounded while keeping enough whole traces to look at. What it costs: a rare
//! slow request has nine chances in ten to leave no trace (metrics still count every request, and their
//! exemplars point at the traces that were kept). What to watch: requests per second of the same load
//! with the ratio at 1.0 and at 0.1 (docs/levers/telemetry.trace_sampling.md), and the number of traces
//! in Tempo.
//!
//! The ratio lives in one atomic that the flag follower (`crate::flags`) updates on every snapshot
//! reload, so the sampler, called for every span, reads it without a lock or an allocation.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// The flag this module follows.
pub const FLAG: &str = "telemetry.trace_sampling";

/// The current ratio as `f64` bits; 1.0 (the flag's default) until the first snapshot arrives.
static RATIO: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000);

/// Label of `shoplab_trace_roots_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `sampled` | `dropped`
    pub decision: &'static str,
}

/// Root decisions of this process; one family shared by every registry of the process, like the sampler.
static ROOTS: LazyLock<Family<DecisionLabels, Counter>> = LazyLock::new(|| {
    let family = Family::default();
    for decision in ["sampled", "dropped"] {
        // both series from the start: "nothing dropped" is a value on the dashboard, not an empty panel
        drop(family.get_or_create(&DecisionLabels { decision }));
    }
    family
});

/// `shoplab_trace_roots_total{decision}`, for the process's metrics registry.
pub fn roots() -> Family<DecisionLabels, Counter> {
    ROOTS.clone()
}

/// Sets the ratio every new root span is sampled with (clamped to 0..=1; NaN counts as 1).
pub fn set_ratio(ratio: f64) {
    let ratio = if ratio.is_nan() { 1.0 } else { ratio.clamp(0.0, 1.0) };
    RATIO.store(ratio.to_bits(), Ordering::Relaxed);
}

/// The ratio in effect.
pub fn ratio() -> f64 {
    f64::from_bits(RATIO.load(Ordering::Relaxed))
}

/// Publishes the flag's value from a fresh snapshot (called by the flag follower).
pub(crate) fn follow(values: &std::collections::HashMap<&'static str, serde_json::Value>) {
    if let Some(r) = values.get(FLAG).and_then(serde_json::Value::as_f64) {
        set_ratio(r);
    }
}

/// The sampler installed in every process's tracer provider.
#[derive(Clone, Debug, Default)]
pub struct LiveRatioSampler;

impl ShouldSample for LiveRatioSampler {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        _name: &str,
        _kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let parent_span = parent.filter(|cx| cx.has_active_span()).map(|cx| cx.span().span_context().clone());
        let decision = match &parent_span {
            // a child (local, or remote through traceparent) follows its parent: traces stay whole
            Some(sc) if sc.is_valid() => keep(sc.is_sampled()),
            _ => {
                let sampled = root_sampled(ratio(), trace_id);
                let decision = if sampled { "sampled" } else { "dropped" };
                ROOTS.get_or_create(&DecisionLabels { decision }).inc();
                keep(sampled)
            }
        };
        let trace_state = parent_span.map(|sc| sc.trace_state().clone()).unwrap_or_default();
        SamplingResult { decision, attributes: Vec::new(), trace_state }
    }
}

fn keep(sampled: bool) -> SamplingDecision {
    if sampled { SamplingDecision::RecordAndSample } else { SamplingDecision::Drop }
}

/// The trace-id ratio rule of the OpenTelemetry SDK: the low 63 bits of the id against `ratio * 2^63`,
/// so every process reaches the same decision for the same trace id.
fn root_sampled(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    let bytes = trace_id.to_bytes();
    let low = u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes"));
    (low >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_bounds_root_decisions() {
        let kept = (0u128..10_000)
            .filter(|i| root_sampled(0.1, TraceId::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))))
            .count();
        assert!((700..1300).contains(&kept), "kept {kept} of 10000 at ratio 0.1");
        assert!(root_sampled(1.0, TraceId::from(u128::MAX)));
        assert!(!root_sampled(0.0, TraceId::from(1u128)));
    }
}

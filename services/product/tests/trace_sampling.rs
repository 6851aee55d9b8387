//! Lever `telemetry.trace_sampling`, counted in exported spans: at 1.0 every request's trace reaches the
//! collector, at 0.1 about a tenth of them do, and every trace that is exported is whole (its server span
//! with the SQL and Redis spans under it). A caller's `traceparent` decides for the whole trace: sampled
//! parents are exported even at a low ratio, unsampled ones never are. Spans are received for real by
//! `kit::testing::OtlpReceiver`.
//!
//! The one product test outside `tests/it/`: the sampler's ratio and the tracing subscriber are
//! process-wide, and every product app in a process writes the ratio from its own flags, so this test
//! needs a process of its own (in `it`, the other tests' apps would reset the ratio under it).

#[path = "it/common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json;

const SERVER_SPAN: &str = "GET /products/{id}";

/// The exported server spans of the detail requests for ids in `ids`.
fn servers(spans: &[Span], ids: std::ops::RangeInclusive<i64>) -> Vec<&Span> {
    let paths: HashSet<String> = ids.map(|i| format!("/products/{i}")).collect();
    spans
        .iter()
        .filter(|s| s.name == SERVER_SPAN)
        .filter(|s| matches!(kit::testing::span_attr(s, "url.path"), Some(AnyValue::StringValue(p)) if paths.contains(p)))
        .collect()
}

/// How many spans each trace has.
fn spans_per_trace(spans: &[Span]) -> HashMap<&[u8], usize> {
    let mut per = HashMap::new();
    for s in spans {
        *per.entry(s.trace_id.as_slice()).or_default() += 1;
    }
    per
}

async fn get_with_parent(app: &App, path: &str, traceparent: &str) -> u16 {
    let resp = app.http.get(format!("{}{path}", app.url)).header("traceparent", traceparent).send().await;
    resp.expect("request").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratio_keeps_about_a_tenth_of_whole_traces_and_parents_decide() {
    let receiver = kit::testing::OtlpReceiver::start().await;
    let guard = kit::telemetry::init_with("product", receiver.otlp());
    let env = kit::testing::TestEnv::new().await;
    seed(&env, 700, 5).await;
    let app = spawn(&env).await;

    // 1.0 (default): all 50 uncached detail requests are exported
    for id in 1..=50 {
        assert_eq!(get_bytes(&app, &format!("/products/{id}")).await.0, 200);
    }
    // 0.1: 500 more, each with a fresh root trace
    set_flag(&env, &app, "telemetry.trace_sampling", json!(0.1)).await;
    for id in 101..=600 {
        assert_eq!(get_bytes(&app, &format!("/products/{id}")).await.0, 200);
    }
    // a caller's decision wins over the ratio, in both directions
    let sampled = |i: i64| format!("00-{:032x}-{:016x}-01", 0xABCD_0000 + i, 0x1000 + i);
    let unsampled = |i: i64| format!("00-{:032x}-{:016x}-00", 0xDCBA_0000 + i, 0x2000 + i);
    for i in 0..20 {
        assert_eq!(get_with_parent(&app, &format!("/products/{}", 601 + i), &sampled(i)).await, 200);
        assert_eq!(get_with_parent(&app, &format!("/products/{}", 651 + i), &unsampled(i)).await, 200);
    }
    // the sampler counts its root decisions: the 500 requests at 0.1 dropped most of theirs
    let text = metrics(&app).await;
    let dropped = sample(&text, "shoplab_trace_roots_total", &[("decision", "dropped")]);
    assert!(dropped >= 400.0, "dropped roots counted: {dropped}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    guard.shutdown().await;
    let spans = receiver.spans();
    let per_trace = spans_per_trace(&spans);

    let all = servers(&spans, 1..=50);
    assert_eq!(all.len(), 50, "at 1.0 every request is exported");
    let whole = per_trace[all[0].trace_id.as_slice()];
    assert!(whole >= 3, "a detail trace holds the server span and its SQL/Redis spans, got {whole}");

    let tenth = servers(&spans, 101..=600);
    // binomial(500, 0.1): mean 50, sd ~6.7; the bound is wide (beyond 4 sd) so the test is not flaky
    assert!((22..=80).contains(&tenth.len()), "at 0.1, {} of 500 traces were exported", tenth.len());
    for s in &tenth {
        let n = per_trace[s.trace_id.as_slice()];
        assert_eq!(n, whole, "an exported trace is whole: {n} spans instead of {whole}");
    }
    let traces_of_phase: HashSet<&[u8]> = tenth.iter().map(|s| s.trace_id.as_slice()).collect();
    // a span whose trace has neither a detail server span nor a local root of its own (a background
    // task's or another route's) is a child whose root was dropped: a trace with holes
    let mut roots: HashSet<&[u8]> = servers(&spans, 1..=700).iter().map(|s| s.trace_id.as_slice()).collect();
    roots.extend(spans.iter().filter(|s| s.parent_span_id.is_empty()).map(|s| s.trace_id.as_slice()));
    let orphans: Vec<&str> = spans.iter().filter(|s| !roots.contains(s.trace_id.as_slice())).map(|s| s.name.as_str()).collect();
    assert!(orphans.is_empty(), "spans exported without their trace's root: {orphans:?}");
    assert!(traces_of_phase.len() == tenth.len(), "one server span per trace");

    assert_eq!(servers(&spans, 601..=620).len(), 20, "a sampled traceparent is followed at ratio 0.1");
    assert_eq!(servers(&spans, 651..=670).len(), 0, "an unsampled traceparent is never exported");
}

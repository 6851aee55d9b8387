//! What Tempo shows for case 2: one ingest is one trace through three processes (API -> outbox -> relay ->
//! RabbitMQ -> aggregator -> Redis), and a pre-aggregated dashboard read has a Redis span and no SQL.
//! Spans are received for real by an OTLP/HTTP receiver (`kit::testing::OtlpReceiver`).

use std::time::Duration;

use crate::support::{Lab, PREAGGREGATION, events};
use chrono::Utc;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// Names of the spans of the trace whose root is the first span named `root`.
fn trace_of(spans: &[Span], root: &str) -> Vec<(String, i32)> {
    let first = spans.iter().filter(|s| s.name == root).min_by_key(|s| s.start_time_unix_nano).expect("root span exported");
    spans.iter().filter(|s| s.trace_id == first.trace_id).map(|s| (s.name.clone(), s.kind)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_is_one_trace_from_api_to_aggregator() {
    let receiver = kit::testing::OtlpReceiver::start().await;
    let guard = kit::telemetry::init_with("analytics", receiver.otlp());
    let lab = Lab::start().await;
    lab.set_flag(PREAGGREGATION, true).await;
    let sources = lab.sources().await;
    let relay = lab.spawn_relay().await;
    let aggregator = lab.spawn_aggregator().await;
    lab.wait_ready(&sources).await;

    assert_eq!(lab.post_events(&events(5, 20, Utc::now(), chrono::Duration::minutes(5))).await.status(), 202);
    lab.wait_all_applied(&sources).await;
    assert_eq!(lab.dashboard("15m").await.status(), 200);
    relay.stop.cancel();
    aggregator.stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    guard.shutdown().await;

    let spans = receiver.spans();
    let ingest = trace_of(&spans, "POST /events");
    let has = |name: &str, kind: SpanKind| ingest.iter().any(|(n, k)| n.as_str() == name && *k == kind as i32);
    assert!(has("INSERT analytics.events", SpanKind::Client), "ingest SQL: {ingest:?}");
    assert!(has("INSERT analytics.outbox", SpanKind::Client), "outbox row: {ingest:?}");
    assert!(
        ingest.iter().any(|(n, k)| n.starts_with("publish ") && *k == SpanKind::Producer as i32),
        "relay publish: {ingest:?}"
    );
    assert!(
        ingest.iter().any(|(n, k)| n.starts_with("process ") && *k == SpanKind::Consumer as i32),
        "aggregator consume: {ingest:?}"
    );
    assert!(has("EVALSHA analytics.apply", SpanKind::Client), "bucket update: {ingest:?}");

    let read = trace_of(&spans, "GET /dashboards/{name}");
    assert!(read.iter().any(|(n, _)| n == "EVALSHA analytics.read"), "bucket read: {read:?}");
    assert!(!read.iter().any(|(n, _)| n.starts_with("SELECT")), "no SQL with pre-aggregation: {read:?}");
}

//! What Tempo shows for case 1: the naive listing of 20 products is one trace with 81 database spans,
//! the eager one has 2. Spans are received for real by an OTLP/HTTP receiver (`kit::testing::OtlpReceiver`).

use std::time::Duration;

use crate::common::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;

/// A database CLIENT span (the pool-acquire span also names the database system, but is internal).
fn is_db(span: &Span) -> bool {
    span.kind == SpanKind::Client as i32
        && matches!(kit::testing::span_attr(span, "db.system.name"), Some(AnyValue::StringValue(v)) if v == "postgresql")
}

/// Database spans in the trace of the `GET /products` request number `nth` (0-based).
fn db_spans_of_listing(spans: &[Span], nth: usize) -> Vec<String> {
    let mut servers: Vec<&Span> = spans.iter().filter(|s| s.name == "GET /products").collect();
    servers.sort_by_key(|s| s.start_time_unix_nano);
    let trace = &servers.get(nth).expect("listing server span exported").trace_id;
    spans.iter().filter(|s| &s.trace_id == trace && is_db(s)).map(|s| s.name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_listing_trace_has_81_db_spans_and_eager_has_2() {
    let receiver = kit::testing::OtlpReceiver::start().await;
    let guard = kit::telemetry::init_with("product", receiver.otlp());
    let env = kit::testing::TestEnv::new().await;
    seed(&env, 120, 5).await;
    let app = spawn(&env).await;

    assert_eq!(get_bytes(&app, "/products?category=21").await.0, 200);
    flush_cache(&env).await;
    set_flag(&env, &app, "product.eager_loading", json!(true)).await;
    assert_eq!(get_bytes(&app, "/products?category=21").await.0, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    guard.shutdown().await;

    let spans = receiver.spans();
    let naive = db_spans_of_listing(&spans, 0);
    assert_eq!(naive.len(), 81, "naive: {naive:?}");
    assert_eq!(naive.iter().filter(|n| *n == "SELECT product.prices").count(), 20, "one price lookup per product");
    let eager = db_spans_of_listing(&spans, 1);
    assert_eq!(eager, ["SELECT product.products", "SELECT product.prices"], "eager: the JOIN and the batch");
}

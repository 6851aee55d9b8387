//! A request that runs 3 SQL statements is exported over OTLP as one trace holding 3 database CLIENT
//! spans, and `/metrics` counts 3 queries for it under the route pattern (never the raw path).
//! The spans are received for real: a small OTLP/HTTP receiver decodes the protobuf export.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use utoipa_axum::router::OpenApiRouter;

type Received = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP trace receiver on a free port; returns its base URL and what it received.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| async move {
            let req = ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf");
            let spans = req.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
            sink.lock().unwrap().extend(spans);
            ""
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

/// A handler running exactly three statements.
async fn three_queries(axum::extract::State(pool): axum::extract::State<sqlx::PgPool>) -> &'static str {
    const A: &str = "select count(*) from product.categories";
    const B: &str = "select count(*) from product.products";
    const C: &str = "select count(*) from lab.flags";
    for sql in [A, B, C] {
        let _: i64 = kit::db::traced(sql, sqlx::query_scalar(sql).fetch_one(&pool)).await.unwrap();
    }
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_statements_make_three_db_spans_and_count_three_queries() {
    let (otlp_url, received) = receiver().await;
    let otlp = kit::telemetry::Otlp { endpoint: Some(otlp_url), protocol: "http/protobuf".into() };
    let guard = kit::telemetry::init_with("product", otlp);
    let env = kit::testing::TestEnv::new().await;
    let core = kit::app::Core::connect("product", env.config(), 4).await.unwrap();
    let api = OpenApiRouter::new().route("/three/{id}", axum::routing::get(three_queries).with_state(env.pool.clone()));
    let base =
        kit::testing::serve(kit::app::Application::bind("127.0.0.1:0", kit::http::finish(api, core.base())).await.unwrap());

    assert_eq!(reqwest::get(format!("{base}/three/7")).await.unwrap().status(), 200);
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    guard.shutdown().await;

    let spans = received.lock().unwrap().clone();
    let server = spans.iter().find(|s| s.name == "GET /three/{id}").expect("server span exported");
    let db: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.trace_id == server.trace_id
                && matches!(attr(s, "db.system.name"), Some(AnyValue::StringValue(v)) if v == "postgresql")
        })
        .collect();
    assert_eq!(db.len(), 3, "one span per SQL statement");
    assert!(db.iter().any(|s| s.name == "SELECT product.products"));
    assert!(db.iter().all(|s| attr(s, "db.query.text").is_some() && attr(s, "db.operation.name").is_some()));

    let count_line = metrics
        .lines()
        .find(|l| l.starts_with("shoplab_db_queries_per_request_sum") && l.contains("route=\"/three/{id}\""))
        .expect("queries histogram for the route pattern");
    assert!(count_line.ends_with(" 3.0"), "{count_line}");
    assert!(metrics.contains("http_server_request_duration_seconds_count{") && metrics.contains("route=\"/three/{id}\""));
    assert!(!metrics.contains("/three/7"), "raw paths must never become labels");
    assert!(metrics.contains("service=\"product\""));
}

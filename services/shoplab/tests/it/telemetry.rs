//! A request that runs 3 SQL statements is exported over OTLP as one trace holding 3 database CLIENT
//! spans, and `/metrics` counts 3 queries for it under the route pattern (never the raw path).
//! The spans are received for real: `kit::testing::OtlpReceiver` decodes the protobuf export.

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use utoipa_axum::router::OpenApiRouter;

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
    let receiver = kit::testing::OtlpReceiver::start().await;
    let guard = kit::telemetry::init_with("product", receiver.otlp());
    let env = kit::testing::TestEnv::new().await;
    let core = kit::app::Core::connect("product", env.config(), 4).await.unwrap();
    let api = OpenApiRouter::new().route("/three/{id}", axum::routing::get(three_queries).with_state(env.pool.clone()));
    let base =
        kit::testing::serve(kit::app::Application::bind("127.0.0.1:0", kit::http::finish(api, core.base())).await.unwrap());

    assert_eq!(reqwest::get(format!("{base}/three/7")).await.unwrap().status(), 200);
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    guard.shutdown().await;

    let spans = receiver.spans();
    let server = spans.iter().find(|s| s.name == "GET /three/{id}").expect("server span exported");
    let db: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.trace_id == server.trace_id
                && matches!(kit::testing::span_attr(s, "db.system.name"), Some(AnyValue::StringValue(v)) if v == "postgresql")
        })
        .collect();
    assert_eq!(db.len(), 3, "one span per SQL statement");
    assert!(db.iter().any(|s| s.name == "SELECT product.products"));
    assert!(
        db.iter().all(|s| kit::testing::span_attr(s, "db.query.text").is_some()
            && kit::testing::span_attr(s, "db.operation.name").is_some())
    );

    let count_line = metrics
        .lines()
        .find(|l| l.starts_with("shoplab_db_queries_per_request_sum") && l.contains("route=\"/three/{id}\""))
        .expect("queries histogram for the route pattern");
    assert!(count_line.ends_with(" 3.0"), "{count_line}");
    assert!(metrics.contains("http_server_request_duration_seconds_count{") && metrics.contains("route=\"/three/{id}\""));
    assert!(!metrics.contains("/three/7"), "raw paths must never become labels");
    assert!(metrics.contains("service=\"product\""));
}

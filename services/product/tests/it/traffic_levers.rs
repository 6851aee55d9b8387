//! The Traffic Management and Advanced Techniques levers of the product service, proven by counting:
//! load shedding refuses exactly the excess over limit + queue with 503 + Retry-After (none when off);
//! hedged requests stay within their 10 % budget (none when off) and answer the same.

use std::time::Duration;

use crate::common::*;
use kit::testing::TestEnv;
use serde_json::json;

/// Backends of this test's database waiting on a row lock (the blocked price updates).
async fn lock_waiters(env: &TestEnv) -> i64 {
    sqlx::query_scalar("select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")
        .fetch_one(&env.pool)
        .await
        .expect("pg_stat_activity")
}

/// Sends `n` concurrent price updates of product 1 while the test holds its row lock: each admitted
/// request really waits (on `select ... for update`), none can finish early. Releases the lock once
/// `waiting` updates wait on it and `done` have already answered; returns each status and Retry-After.
async fn blocked_updates(env: &TestEnv, app: &App, n: usize, waiting: i64, done: usize) -> Vec<(u16, Option<String>, String)> {
    let mut lock = env.pool.begin().await.expect("begin");
    sqlx::query("select id from product.products where id = 1 for update").execute(&mut *lock).await.expect("lock");
    let mut tasks = Vec::new();
    for i in 0..n {
        let req = app
            .http
            .put(format!("{}/products/1/price", app.url))
            .bearer_auth(env.admin_token())
            .json(&json!({ "amount_cents": 1000 + i, "currency": "EUR" }));
        tasks.push(tokio::spawn(async move {
            let resp = req.send().await.expect("request");
            let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_owned());
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            (status, retry, body["error"]["code"].as_str().unwrap_or_default().to_owned())
        }));
    }
    let settled = eventually(Duration::from_secs(10), || async {
        let finished = tasks.iter().filter(|t| t.is_finished()).count();
        lock_waiters(env).await >= waiting && finished >= done
    })
    .await;
    assert!(settled.is_some(), "expected {waiting} updates on the lock and {done} answered");
    lock.rollback().await.expect("release");
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn load_shedding_refuses_exactly_the_excess_with_retry_after() {
    let env = TestEnv::new().await;
    seed(&env, 20, 2).await;
    let app = spawn(&env).await;

    // off: unbounded queueing, all six wait and all six succeed
    let off = blocked_updates(&env, &app, 6, 6, 0).await;
    assert!(off.iter().all(|(s, _, _)| *s == 200), "off: {off:?}");

    // on, limit 2 and a queue of 1: two run (blocked on the lock), one waits, three are refused at once
    set_flag(&env, &app, "product.load_shed_limit", json!(2)).await;
    set_flag(&env, &app, "product.load_shed_queue", json!(1)).await;
    set_flag(&env, &app, "product.load_shedding", json!(true)).await;
    let on = blocked_updates(&env, &app, 6, 2, 3).await;
    let shed: Vec<_> = on.iter().filter(|(s, _, _)| *s == 503).collect();
    assert_eq!(shed.len(), 3, "exactly the excess over limit + queue: {on:?}");
    assert!(
        shed.iter().all(|(_, r, code)| r.as_deref() == Some("1") && code == "overloaded"),
        "every 503 says Retry-After and its own code: {on:?}"
    );
    assert_eq!(on.iter().filter(|(s, _, _)| *s == 200).count(), 3, "the admitted and the queued succeed: {on:?}");
    let m = metrics(&app).await;
    assert_eq!(sample(&m, "shoplab_load_shed_total", &[("route", "/products/{id}/price")]), 3.0, "{m}");

    // health and metrics are outside the limit: answered while the API is full
    let (status, _) = get_bytes(&app, "/healthz").await;
    assert_eq!(status, 200);
}

/// A product service whose inventory dependency is an in-process simulated provider.
async fn spawn_with_provider(env: &TestEnv) -> App {
    let provider = email_provider::build(env.config(), "127.0.0.1:0").await.expect("build provider");
    let provider_url = format!("http://{}", provider.addr());
    tokio::spawn(provider.run_until_stopped(futures::future::pending()));
    let app = product::startup::build_with(env.config(), "127.0.0.1:0", product::startup::DB_POOL, &provider_url)
        .await
        .expect("build product service");
    let url = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped(futures::future::pending()));
    App { url, http: reqwest::Client::new() }
}

#[tokio::test]
async fn hedged_requests_stay_within_their_budget_and_answer_the_same() {
    let env = TestEnv::new().await;
    // every inventory read is slow (400 ms): each one is past the first hedge delay (100 ms)
    kit::flags::set(&env.pool, "emailprovider.tail_share", &json!(1.0), "test").await.expect("flag");
    kit::flags::set(&env.pool, "emailprovider.tail_ms", &json!(400), "test").await.expect("flag");
    let app = spawn_with_provider(&env).await;
    let provider_sees = eventually(Duration::from_secs(2), || async {
        let (status, _) = get_json(&app, "/products/3/availability").await;
        status == 200
    })
    .await;
    assert!(provider_sees.is_some(), "availability never answered");
    let expected = |id: i64| json!({ "product_id": id, "available": email_provider::inventory::units(id) });

    // off: one read per request, no hedge
    for id in 1..=3 {
        assert_eq!(get_json(&app, &format!("/products/{id}/availability")).await, (200, expected(id)));
    }
    assert_eq!(sample(&metrics(&app).await, "shoplab_hedged_requests_total", &[]), 0.0, "off: no hedges");

    set_flag(&env, &app, "product.hedged_requests", json!(true)).await;
    // 10 reads: the window still holds fewer than 20 samples, so the hedge delay is the first one (100 ms)
    for id in 1..=10 {
        assert_eq!(get_json(&app, &format!("/products/{id}/availability")).await, (200, expected(id)), "same answer hedged");
    }
    let m = metrics(&app).await;
    let count = |o: &str| sample(&m, "shoplab_hedged_requests_total", &[("outcome", o)]);
    // all 10 wanted a hedge; the 10 % budget allowed one, at the 10th read
    assert_eq!(count("sent"), 1.0, "{m}");
    assert_eq!(count("budget_exhausted"), 9.0, "{m}");
    assert_eq!(count("won") + count("cancelled"), 1.0, "a hedge sent either won or was cancelled: {m}");
}

#[tokio::test]
async fn availability_refuses_a_bad_id_with_the_error_shape() {
    let env = TestEnv::new().await;
    let app = spawn(&env).await;
    let (status, body) = get_json(&app, "/products/0/availability").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_id");
}

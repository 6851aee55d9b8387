//! The "Caching Strategies" levers: single flight on a miss, refresh-ahead on a hit, warming, and
//! invalidation on a price update.

use std::time::Duration;

use crate::common::*;
use futures::future::join_all;
use kit::redis::redis;
use kit::testing::TestEnv;
use serde_json::{Value, json};

const DETAIL: &str = "/products/{id}";
/// Queries of one naive detail load: product, category, parent, price, stock.
const DETAIL_LOAD: f64 = 5.0;

/// Fires `n` concurrent GETs of `path`, spread over `apps`; returns every body.
async fn burst(apps: &[&App], path: &str, n: usize) -> Vec<bytes::Bytes> {
    let calls = (0..n).map(|i| {
        let app = apps[i % apps.len()];
        let url = format!("{}{path}", app.url);
        let http = app.http.clone();
        tokio::spawn(async move {
            let resp = http.get(url).send().await.expect("request");
            assert_eq!(resp.status(), 200);
            resp.bytes().await.expect("body")
        })
    });
    join_all(calls).await.into_iter().map(|r| r.expect("task")).collect()
}

async fn detail_queries(apps: &[&App]) -> f64 {
    let mut total = 0.0;
    for app in apps {
        total += queries(app, DETAIL).await;
    }
    total
}

/// 50 concurrent requests for an expired key: many database loads without the lever, exactly one with
/// it, also when the requests are spread over two instances sharing Redis.
#[tokio::test]
async fn fifty_requests_for_an_expired_key_cause_one_load() {
    let env = TestEnv::new().await;
    seed(&env, 2000, 40).await; // no indexes: a load takes a few sequential scans, a wide stampede window
    let (a, b) = (spawn(&env).await, spawn(&env).await);
    let detail_key = key(&env, "product:detail:1");
    assert_eq!(get_bytes(&a, "/products/1").await.0, 200);

    redis_cmd::<i64>(&env, redis::cmd("DEL").arg(&detail_key)).await; // as if its TTL had run out
    let before = detail_queries(&[&a]).await;
    let bodies = burst(&[&a], "/products/1", 50).await;
    let loads = (detail_queries(&[&a]).await - before) / DETAIL_LOAD;
    assert!(loads > 1.0, "without single flight the burst should stampede, saw {loads} load(s)");
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));

    set_flag(&env, &a, "product.refresh_ahead", json!(true)).await;
    set_flag(&env, &b, "product.refresh_ahead", json!(true)).await;
    for apps in [vec![&a], vec![&a, &b]] {
        redis_cmd::<i64>(&env, redis::cmd("DEL").arg(&detail_key)).await;
        let before = detail_queries(&apps).await;
        let coalesced_before = sample(&metrics(&a).await, "shoplab_coalesced_requests_total", &[("route", DETAIL)]);
        let bodies = burst(&apps, "/products/1", 50).await;
        let loads = (detail_queries(&apps).await - before) / DETAIL_LOAD;
        assert_eq!(loads, 1.0, "{} instance(s): exactly one database load", apps.len());
        assert!(bodies.windows(2).all(|w| w[0] == w[1]));
        if apps.len() == 1 {
            let coalesced = sample(&metrics(&a).await, "shoplab_coalesced_requests_total", &[("route", DETAIL)]);
            assert!(coalesced > coalesced_before, "followers waited for the leader's load");
        }
    }
}

/// A hit with less than 20 % of its TTL left is served and refreshed once in the background.
#[tokio::test]
async fn refresh_ahead_reloads_a_hot_entry_before_it_expires() {
    let env = TestEnv::new().await;
    seed(&env, 50, 5).await;
    let app = spawn(&env).await;
    let detail_key = key(&env, "product:detail:2");
    let pttl = || async { redis_cmd::<i64>(&env, redis::cmd("PTTL").arg(&detail_key)).await };
    assert_eq!(get_bytes(&app, "/products/2").await.0, 200);

    // lever off: an entry near its end is just served until it expires
    redis_cmd::<i64>(&env, redis::cmd("PEXPIRE").arg(&detail_key).arg(5_000)).await;
    burst(&[&app], "/products/2", 20).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(pttl().await <= 5_000, "nothing refreshed it");
    assert_eq!(cache_count(&app, "product_detail", "refresh").await, 0.0);

    // lever on: the same situation triggers exactly one background refresh, which resets the TTL
    set_flag(&env, &app, "product.refresh_ahead", json!(true)).await;
    let queries_before = queries(&app, DETAIL).await;
    burst(&[&app], "/products/2", 20).await;
    let refreshed = eventually(Duration::from_secs(5), || async { pttl().await > 50_000 }).await;
    assert!(refreshed.is_some(), "entry not refreshed (pttl {})", pttl().await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cache_count(&app, "product_detail", "refresh").await, 1.0, "one refresh for 20 hits");
    assert_eq!(queries(&app, DETAIL).await, queries_before, "the 20 requests were served from the cache");
}

/// Warming stores the detail pages of the top N products by popularity, which then hit.
#[tokio::test]
async fn warming_fills_the_top_n_products() {
    let env = TestEnv::new().await;
    seed(&env, 50, 5).await;
    let app = spawn(&env).await;
    set_flag(&env, &app, "product.warm_top_n", json!(5)).await;
    assert!(keys(&env, "product:detail:*").await.is_empty());

    set_flag(&env, &app, "product.cache_warming", json!(true)).await;
    let warmed = eventually(Duration::from_secs(5), || async { keys(&env, "product:detail:*").await.len() == 5 }).await;
    assert!(warmed.is_some(), "warming stored {:?}", keys(&env, "product:detail:*").await);
    let mut stored = keys(&env, "product:detail:*").await;
    stored.sort();
    assert_eq!(stored, (1..=5).map(|i| key(&env, &format!("product:detail:{i}"))).collect::<Vec<_>>());
    assert_eq!(cache_count(&app, "product_warming", "refresh").await, 5.0);

    let before = queries(&app, DETAIL).await;
    let (status, body) = get_json(&app, "/products/3").await;
    assert_eq!((status, body["id"].as_i64()), (200, Some(3)));
    assert_eq!(queries(&app, DETAIL).await, before, "a warmed product is a hit");
    assert_eq!(cache_count(&app, "product_detail", "hit").await, 1.0);
}

/// The price of product 7 in a page body (detail, listing or search).
fn price_in(body: &Value) -> Option<i64> {
    let item = match body["items"].as_array() {
        Some(items) => items.iter().find(|i| i["id"] == 7)?,
        None => body,
    };
    item["price"]["amount_cents"].as_i64()
}

/// After `PUT /products/{id}/price` returns, no cached page shows the old price — even while other
/// readers keep reloading the same keys (the cache-aside race).
#[tokio::test]
async fn a_price_update_is_never_served_stale_after_the_put_returns() {
    let env = TestEnv::new().await;
    seed(&env, 50, 5).await;
    let app = spawn(&env).await;
    set_flag(&env, &app, "product.refresh_ahead", json!(true)).await;
    set_flag(&env, &app, "product.cache_ttl_secs", json!(300)).await;
    let pages = ["/products/7", "/products?category=23", "/products?limit=50", "/search?q=zebra"];
    for p in pages {
        assert!(price_in(&get_json(&app, p).await.1).is_some(), "{p} shows product 7");
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (url, http, stop) = (format!("{}{}", app.url, pages[i]), app.http.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = http.get(&url).send().await;
                }
            })
        })
        .collect();

    for round in 0..5_i64 {
        let amount = 77_000 + round;
        let resp = app
            .http
            .put(format!("{}/products/7/price", app.url))
            .bearer_auth(env.admin_token())
            .json(&json!({ "amount_cents": amount }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        for p in pages {
            assert_eq!(price_in(&get_json(&app, p).await.1), Some(amount), "round {round}: {p} is stale");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    join_all(readers).await;
    assert!(cache_count(&app, "product_detail", "stale").await >= 1.0, "invalidated entries are counted as stale");
}

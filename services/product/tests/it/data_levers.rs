//! The chapter levers of the data path: the local cache tier (Caching Strategies), Redis multiplexing
//! (Network Optimization) and keyset pagination (Database and Storage Selection), each proved by counting:
//! Redis commands from `INFO commandstats` of a Redis server of the test's own, rows read from the plan of
//! `EXPLAIN (ANALYZE)`, and bodies compared byte for byte.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use kit::redis::redis;
use kit::testing::TestEnv;
use product::levers::composite_indexes::INDEXES;
use product::levers::eager_loading::sql;
use serde_json::{Value, json};

/// A `redis-server` of this test only, so `INFO commandstats` counts exactly what the app sent.
struct PrivateRedis {
    child: Child,
    url: String,
}

impl PrivateRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) must be installed");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let up = eventually(Duration::from_secs(5), || async { client.get_multiplexed_async_connection().await.is_ok() }).await;
        assert!(up.is_some(), "private redis-server did not start on {port}");
        Self { child, url }
    }

    /// Calls per command since start (`INFO commandstats`), without the `INFO` calls themselves.
    async fn calls(&self) -> HashMap<String, u64> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.unwrap();
        info.lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?.parse().ok()?;
                (name != "info").then(|| (name.to_owned(), calls))
            })
            .collect()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis calls per command made while `n` requests for `path` run.
async fn commands_during(redis: &PrivateRedis, app: &App, path: &str, n: usize) -> HashMap<String, u64> {
    let before = redis.calls().await;
    for _ in 0..n {
        assert_eq!(get_bytes(app, path).await.0, 200, "{path}");
    }
    let after = redis.calls().await;
    after.into_iter().map(|(k, v)| (k.clone(), v - before.get(&k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

/// A product service on the test's database and the private Redis.
async fn spawn_on(env: &TestEnv, redis: &PrivateRedis) -> App {
    let mut config = env.config();
    config.redis_url = redis.url.clone();
    let app = product::startup::build(config, "127.0.0.1:0").await.expect("build product service");
    let url = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped(futures::future::pending()));
    App { url, http: reqwest::Client::new() }
}

/// Waits until `n` instances listen for invalidations on `redis_url` (they subscribe at start, in the
/// background; a subscription that lands later drops the local tier once, which would skew the counts).
async fn wait_for_listeners(env: &TestEnv, redis_url: &str, n: i64) {
    let client = redis::Client::open(redis_url).unwrap();
    let channel = key(env, "product:invalidations");
    let subscribed = eventually(Duration::from_secs(5), || async {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let (_, count): (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel).query_async(&mut conn).await.unwrap();
        count >= n
    })
    .await;
    assert!(subscribed.is_some(), "{n} instance(s) not subscribed to {channel}");
}

/// Pooled: every cached read checks a connection out, and every checkout PINGs. Multiplexed: no PING.
#[tokio::test]
async fn multiplexing_drops_the_ping_of_every_checkout() {
    let env = TestEnv::new().await;
    seed(&env, 20, 5).await;
    let redis = PrivateRedis::start().await;
    let app = spawn_on(&env, &redis).await;
    assert_eq!(get_bytes(&app, "/products/1").await.0, 200); // now cached

    let pooled = commands_during(&redis, &app, "/products/1", 20).await;
    assert_eq!(pooled.get("mget"), Some(&20), "one lookup per cached read: {pooled:?}");
    let pings = pooled.get("ping").copied().unwrap_or(0);
    assert!(pings >= 20, "pooled: a PING per checkout, saw {pings} for 20 reads: {pooled:?}");

    set_flag(&env, &app, "product.redis_multiplexing", json!(true)).await;
    let shared = commands_during(&redis, &app, "/products/1", 20).await;
    assert_eq!(shared.get("mget"), Some(&20), "same lookups: {shared:?}");
    assert_eq!(shared.get("ping"), None, "multiplexed: no PING at all: {shared:?}");
}

/// With the local tier on, repeated reads of a hot product cost no Redis command after the first.
#[tokio::test]
async fn the_local_tier_answers_hot_reads_without_redis() {
    let env = TestEnv::new().await;
    seed(&env, 20, 5).await;
    let redis = PrivateRedis::start().await;
    let app = spawn_on(&env, &redis).await;
    wait_for_listeners(&env, &redis.url, 1).await;
    assert_eq!(get_bytes(&app, "/products/1").await.0, 200);

    let total = |c: &HashMap<String, u64>| c.values().sum::<u64>() as f64;
    let redis_only = total(&commands_during(&redis, &app, "/products/1", 20).await) / 20.0;
    assert!(redis_only >= 2.0, "MGET + PTTL (+ PING) per read, saw {redis_only}");

    set_flag(&env, &app, "product.local_cache", json!(true)).await;
    let local = total(&commands_during(&redis, &app, "/products/1", 20).await) / 20.0;
    assert!(local <= redis_only / 10.0, "one Redis lookup for 20 reads: {local} commands/read vs {redis_only}");
    assert_eq!(cache_count(&app, "local", "miss").await, 1.0);
    assert_eq!(cache_count(&app, "local", "hit").await, 19.0);
}

/// The current price of product 1 as `app` serves it.
async fn price(app: &App) -> i64 {
    let (status, body) = get_json(app, "/products/1").await;
    assert_eq!(status, 200);
    body["price"]["amount_cents"].as_i64().expect("price")
}

/// A price written through one instance is served by another (same Redis prefix) within the documented
/// bound, although the second one holds the page in its local tier for a minute: the published
/// invalidation, not the TTL, is what makes it visible.
#[tokio::test]
async fn a_price_write_reaches_the_local_tier_of_another_instance() {
    let env = TestEnv::new().await;
    seed(&env, 20, 5).await;
    let (writer, reader) = (spawn(&env).await, spawn(&env).await);
    wait_for_listeners(&env, &env.config().redis_url, 2).await;
    for app in [&writer, &reader] {
        set_flag(&env, app, "product.local_cache_ttl_ms", json!(60_000)).await;
        set_flag(&env, app, "product.local_cache", json!(true)).await;
    }
    let old = price(&reader).await;
    assert_eq!(price(&reader).await, old);
    assert_eq!(cache_count(&reader, "local", "hit").await, 1.0, "the reader serves product 1 from memory");

    let new = old + 1234;
    let resp = writer
        .http
        .put(format!("{}/products/1/price", writer.url))
        .bearer_auth(env.admin_token())
        .json(&json!({ "amount_cents": new }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let started = Instant::now();
    assert_eq!(price(&writer).await, new, "the writer reads its own write at once");
    let seen = eventually(Duration::from_secs(1), || async { price(&reader).await == new }).await;
    assert!(seen.is_some(), "the reader still served {old} 1 s after the write (local TTL 60 s)");
    println!("new price visible on the second instance after {:?}", started.elapsed());
}

/// Rows of `product.products` the plan of `sql` read (every scan node on it: rows returned and rows
/// removed by its filter, times its loops), and the ids the query returns.
async fn rows_read(env: &TestEnv, sql: &str, binds: (i64, i64, Option<i64>)) -> (f64, Vec<i64>) {
    let explain = format!("explain (analyze, format json) {sql}");
    let mut q = sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(explain)).bind(binds.0).bind(binds.1);
    if let Some(third) = binds.2 {
        q = q.bind(third);
    }
    let plan = q.fetch_one(&env.pool).await.expect("explain");
    let mut rows = 0.0;
    let mut stack = vec![plan[0]["Plan"].clone()];
    while let Some(node) = stack.pop() {
        if node["Relation Name"] == "products" {
            let read = node["Actual Rows"].as_f64().unwrap_or(0.0) + node["Rows Removed by Filter"].as_f64().unwrap_or(0.0);
            rows += read * node["Actual Loops"].as_f64().unwrap_or(1.0);
        }
        stack.extend(node["Plans"].as_array().cloned().unwrap_or_default());
    }
    let run = format!("select id from ({sql}) page");
    let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(run)).bind(binds.0).bind(binds.1);
    if let Some(third) = binds.2 {
        q = q.bind(third);
    }
    (rows, q.fetch_all(&env.pool).await.expect("page"))
}

/// Page 500 (of 20) by `OFFSET` reads the ~10 000 rows before it; by keyset it reads the page and one row
/// more. Both return the same rows. Deterministic: row counts of `EXPLAIN (ANALYZE)`, not timings.
#[tokio::test]
async fn a_deep_offset_page_reads_every_row_before_it() {
    let env = TestEnv::new().await;
    seed(&env, 10_100, 40).await;
    let index = INDEXES.iter().find(|i| i.name == "products_popularity_idx").unwrap();
    sqlx::query(sqlx::AssertSqlSafe(index.create)).execute(&env.pool).await.unwrap();
    sqlx::query("analyze product.products").execute(&env.pool).await.unwrap();

    let offset = 499 * 20;
    let (popularity, id): (i32, i64) =
        sqlx::query_as("select popularity, id from product.products order by popularity desc, id offset $1 limit 1")
            .bind(offset - 1)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    let (by_offset, offset_ids) = rows_read(&env, sql::NAIVE_ALL_OFFSET, (offset, 21, None)).await;
    let keyset_sql = sql::NAIVE_ALL.replace("$1", "$1::int");
    let (by_keyset, keyset_ids) = rows_read(&env, &keyset_sql, (i64::from(popularity), id, Some(21))).await;
    assert_eq!(offset_ids, keyset_ids, "both ways return the same page");
    assert_eq!(offset_ids.first(), Some(&(offset + 1)), "seed order: id = rank");
    assert!(by_offset >= (offset + 21) as f64, "OFFSET read {by_offset} rows for page 500");
    // the sort mixes directions (popularity desc, id asc), so within the run of rows sharing the
    // cursor's popularity the index reads, then filters, those before the cursor
    let (tied,): (i64,) = sqlx::query_as("select count(*) from product.products where popularity = $1 and id <= $2")
        .bind(popularity)
        .bind(id)
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(by_keyset <= (21 + tied) as f64 + 1.0, "keyset read {by_keyset} rows for page 500 ({tied} tied before it)");
    assert!(by_keyset * 20.0 < by_offset, "keyset {by_keyset} vs OFFSET {by_offset}");
    println!("page 500 of 20: {by_offset} rows read with OFFSET, {by_keyset} with keyset ({tied} tied)");

    let (first_offset, _) = rows_read(&env, sql::NAIVE_ALL_OFFSET, (0, 21, None)).await;
    let first_keyset_sql = sql::NAIVE_ALL.replace("$1", "$1::int");
    let (first_keyset, _) = rows_read(&env, &first_keyset_sql, (i64::from(i32::MAX), 0, Some(21))).await;
    assert_eq!((first_offset, first_keyset), (21.0, 21.0), "page 1 costs the same either way");
}

/// Through the API: the same cursor gives the same page, byte for byte, whichever way it is fetched,
/// and a cursor handed out in one mode keeps working after a flip.
#[tokio::test]
async fn both_ways_serve_the_same_page_for_a_cursor() {
    let env = TestEnv::new().await;
    seed(&env, 400, 5).await;
    let app = spawn(&env).await;
    let mut cursor = None::<String>;
    for _ in 0..3 {
        let path = cursor.as_ref().map_or("/products?limit=100".to_owned(), |c| format!("/products?limit=100&cursor={c}"));
        cursor = get_json(&app, &path).await.1["next_cursor"].as_str().map(str::to_owned);
    }
    let deep = format!("/products?limit=20&cursor={}", cursor.expect("a fourth page"));
    let (status, by_offset) = get_bytes(&app, &deep).await;
    assert_eq!(status, 200);
    let page: Value = serde_json::from_slice(&by_offset).unwrap();
    assert_eq!(page["items"][0]["id"], 301, "the cursor after 300 rows");

    flush_cache(&env).await;
    set_flag(&env, &app, "product.keyset_pagination", json!(true)).await;
    let (status, by_keyset) = get_bytes(&app, &deep).await;
    assert_eq!(status, 200);
    assert_eq!(by_keyset, by_offset, "keyset and OFFSET pages differ");
}

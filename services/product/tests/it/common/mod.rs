//! Shared helpers of the product tests: start the service on a test's own database, seed a small
//! catalogue with plain SQL, flip flags and wait until the service sees them, read `/metrics`.
#![allow(dead_code)]

use kit::testing::TestEnv;
#[allow(unused_imports)]
pub use kit::testing::eventually;
use serde_json::Value;

/// A running product service.
pub struct App {
    pub url: String,
    pub http: reqwest::Client,
}

/// Starts a product service on a free port for the rest of the test.
pub async fn spawn(env: &TestEnv) -> App {
    let app = product::startup::build(env.config(), "127.0.0.1:0").await.expect("build product service");
    let url = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped(futures::future::pending()));
    App { url, http: reqwest::Client::new() }
}

/// Seeds `products` products (ids 1..=n, popularity falling with the id) spread over `spread` child
/// categories (product i in category 21 + i % spread; categories 1..=20 are the top level, child c sits
/// under (c - 21) % 20 + 1). Each product has 10 price rows (the newest 30 days old) and stock in 3
/// warehouses. Product 7's description holds the rare word "zebra".
pub async fn seed(env: &TestEnv, products: i64, spread: i64) {
    let statements: [(&str, &[i64]); 5] = [
        (
            "insert into product.categories (id, parent_id, name, slug) \
             select i, case when i <= 20 then null else (i - 21) % 20 + 1 end, 'Category ' || i, 'category-' || i \
             from generate_series(1, 20 + $1) i",
            &[spread],
        ),
        (
            "insert into product.products (id, sku, name, description, category_id, brand, popularity) \
             select i, 'SKU-' || lpad(i::text, 6, '0'), \
                    (array['Acme','Globex','Initech'])[i % 3 + 1] || ' ' || (array['Kettle','Lamp','Mug','Tent'])[i % 4 + 1] || ' ' || i, \
                    'A lab product number ' || i || case when i = 7 then ' zebra' else '' end, \
                    21 + i % $2, (array['Acme','Globex','Initech'])[i % 3 + 1], (1000000 / power(i, 1.1))::int \
             from generate_series(1, $1) i",
            &[products, spread],
        ),
        (
            "insert into product.prices (product_id, currency, amount_cents, valid_from) \
             select p, 'EUR', 1000 + (p * 37 + k * 11) % 5000, now() - make_interval(days => k * 30) \
             from generate_series(1, $1) p, generate_series(1, 10) k",
            &[products],
        ),
        (
            "insert into product.inventory (product_id, warehouse_id, quantity) \
             select p, w, (p * 7 + w * 13) % 500 from generate_series(1, $1) p, generate_series(1, 3) w",
            &[products],
        ),
        ("analyze product.categories, product.products, product.prices, product.inventory", &[]),
    ];
    for (sql, binds) in statements {
        let q = binds.iter().fold(sqlx::query(sql), |q, b| q.bind(*b));
        q.execute(&env.pool).await.unwrap_or_else(|e| panic!("seed failed: {e}\n{sql}"));
    }
}

/// Sets a flag in the database and waits until the service's `GET /admin/flags` shows it.
pub async fn set_flag(env: &TestEnv, app: &App, name: &str, value: Value) {
    kit::testing::set_flag(&env.pool, &[&app.url], name, value).await;
}

/// GET `path`, returning the status and the JSON body.
pub async fn get_json(app: &App, path: &str) -> (u16, Value) {
    let resp = app.http.get(format!("{}{path}", app.url)).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// GET `path`, returning the status and the raw body bytes.
pub async fn get_bytes(app: &App, path: &str) -> (u16, bytes::Bytes) {
    let resp = app.http.get(format!("{}{path}", app.url)).send().await.expect("request");
    (resp.status().as_u16(), resp.bytes().await.expect("body"))
}

/// The `/metrics` text.
pub async fn metrics(app: &App) -> String {
    app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics").text().await.expect("metrics text")
}

/// The value of the series `name` whose labels include every `labels` pair (0 when absent).
#[allow(unused_imports)]
pub use kit::testing::metric as sample;

/// SQL statements run so far by requests to `route` (sum of `shoplab_db_queries_per_request`).
pub async fn queries(app: &App, route: &str) -> f64 {
    sample(&metrics(app).await, "shoplab_db_queries_per_request_sum", &[("route", route)])
}

/// `shoplab_cache_requests_total{cache, result}` so far.
pub async fn cache_count(app: &App, cache: &str, result: &str) -> f64 {
    sample(&metrics(app).await, "shoplab_cache_requests_total", &[("cache", cache), ("result", result)])
}

/// A Redis pool on the test's Redis.
pub async fn redis(env: &TestEnv) -> deadpool_redis::Pool {
    kit::redis::connect(&env.config().redis_url, 4).await.expect("redis")
}

/// Deletes every cache entry of this test (a cold cache, as after a flush or a deploy).
pub async fn flush_cache(env: &TestEnv) {
    kit::redis::delete_prefix(&redis(env).await, &env.config().redis_prefix).await.expect("flush");
}

/// Keys of this test matching `pattern` (after the prefix), e.g. `product:detail:*`.
pub async fn keys(env: &TestEnv, pattern: &str) -> Vec<String> {
    let pool = redis(env).await;
    let mut conn = pool.get().await.expect("redis conn");
    let pattern = format!("{}{pattern}", env.config().redis_prefix);
    kit::redis::redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await.expect("KEYS")
}

/// Runs one Redis command against the test's Redis.
pub async fn redis_cmd<T: kit::redis::redis::FromRedisValue>(env: &TestEnv, cmd: &kit::redis::redis::Cmd) -> T {
    let pool = redis(env).await;
    let mut conn = pool.get().await.expect("redis conn");
    cmd.query_async(&mut conn).await.expect("redis command")
}

/// The test's full key for `suffix` (e.g. `product:detail:1`).
pub fn key(env: &TestEnv, suffix: &str) -> String {
    format!("{}{suffix}", env.config().redis_prefix)
}

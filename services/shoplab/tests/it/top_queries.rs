//! `shoplab top-queries` finds the N+1 pattern the way the book's team did: after one naive listing page
//! of 20 products, the per-product price lookup has 20 calls against the page query's 1; with eager
//! loading the next page adds no per-product statement at all. `--reset` clears only this database.

use kit::testing::{ServiceProcess, TestEnv};
use shoplab::top_queries::{self, Statement};

/// A small catalogue through the real seed (no users, no events).
async fn seed(env: &TestEnv) {
    let mut args = shoplab::seed::SeedArgs::defaults();
    (args.products, args.categories, args.users, args.events, args.quiet) = (200, 10, 0, 0, true);
    shoplab::seed::run(&env.config().database_url, args).await.expect("seed");
}

/// Calls of the first statement whose text contains every fragment.
fn calls(rows: &[Statement], fragments: &[&str]) -> i64 {
    rows.iter().find(|s| fragments.iter().all(|f| s.query.contains(f))).map(|s| s.calls).unwrap_or(0)
}

const PRICE_PER_PRODUCT: &[&str] = &["from product.prices", "where product_id = $1"];
const PAGE: &[&str] = &["from product.products p", "limit $"];

#[tokio::test]
async fn the_n_plus_1_shows_as_twenty_calls_per_page_and_reset_clears_only_this_database() {
    let env = TestEnv::new().await;
    seed(&env).await;
    let process = ServiceProcess::start(&env, env!("CARGO_BIN_EXE_shoplab"), &["product"], "PRODUCT_ADDR").await;
    let product = process.url.clone();
    top_queries::reset(&env.pool).await.expect("pg_stat_statements is preloaded on the test server");

    let page = reqwest::get(format!("{product}/products?limit=20")).await.unwrap();
    assert_eq!(page.status(), 200);
    let rows = top_queries::fetch(&env.pool, 200).await.unwrap();
    assert_eq!(calls(&rows, PAGE), 1, "one page query: {rows:#?}");
    assert_eq!(calls(&rows, PRICE_PER_PRODUCT), 20, "one price lookup per product on the page: {rows:#?}");
    let shares: f64 = rows.iter().map(|s| s.share).sum();
    assert!((shares - 1.0).abs() < 1e-6, "shares of this database's time add up to 1: {shares}");

    // eager loading: another (uncached) page adds batch queries, never a per-product lookup
    kit::testing::set_flag(&env.pool, &[&product], "product.eager_loading", serde_json::json!(true)).await;
    assert_eq!(reqwest::get(format!("{product}/products?limit=19")).await.unwrap().status(), 200);
    let rows = top_queries::fetch(&env.pool, 200).await.unwrap();
    assert_eq!(calls(&rows, PRICE_PER_PRODUCT), 20, "no new per-product lookups: {rows:#?}");
    assert_eq!(calls(&rows, &["product_id = any($1)"]), 1, "one batch for the whole page: {rows:#?}");

    // reset: this database starts from zero, another database on the server keeps its statistics
    let other = TestEnv::new().await;
    sqlx::query("select 42 as firsthour_marker").execute(&other.pool).await.unwrap();
    top_queries::reset(&env.pool).await.unwrap();
    let mine = top_queries::fetch(&env.pool, 200).await.unwrap();
    assert_eq!(calls(&mine, PRICE_PER_PRODUCT), 0, "{mine:#?}");
    let theirs = top_queries::fetch(&other.pool, 200).await.unwrap();
    assert_eq!(calls(&theirs, &["firsthour_marker"]), 1, "{theirs:#?}");
}

#[tokio::test]
async fn the_command_prints_the_table() {
    let env = TestEnv::new().await;
    top_queries::reset(&env.pool).await.unwrap(); // the migrations' statements would top the list
    for _ in 0..3 {
        sqlx::query("select count(*) from lab.flags where name = $1").bind("x").execute(&env.pool).await.unwrap();
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_shoplab"))
        .args(["top-queries", "--limit", "5"])
        .env("DATABASE_URL", env.config().database_url)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().next().is_some_and(|h| h.contains("total ms") && h.contains("calls")), "{text}");
    let line = text.lines().find(|l| l.contains("from lab.flags where name = $1")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(line.split_whitespace().nth(1), Some("3"), "calls column: {line}");
}

//! The "Database and Storage Selection" levers: query counts of eager loading and the plans the composite indexes
//! make possible.

use std::time::Duration;

use crate::common::*;
use kit::testing::TestEnv;
use product::levers::eager_loading::sql;
use serde_json::{Value, json};

/// Listing a page of 20 costs 1 + 4 x 20 = 81 queries the naive way and 2 eagerly, with the same JSON.
#[tokio::test]
async fn eager_loading_turns_81_queries_into_2_with_the_same_body() {
    let env = TestEnv::new().await;
    seed(&env, 120, 5).await;
    let app = spawn(&env).await;

    let mut naive = Vec::new();
    for path in ["/products?category=21", "/search?q=kettle", "/products/3"] {
        let route = path.split('?').next().unwrap().replace("/3", "/{id}");
        let before = queries(&app, &route).await;
        let (status, body) = get_bytes(&app, path).await;
        assert_eq!(status, 200, "{path}");
        naive.push((path, body, queries(&app, &route).await - before));
    }
    let page: Value = serde_json::from_slice(&naive[0].1).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 20);
    assert!(page["next_cursor"].is_string());
    assert_eq!(naive[0].2, 81.0, "naive listing of 20");
    assert_eq!(naive[2].2, 5.0, "naive detail: product, category, parent, price, stock");

    flush_cache(&env).await;
    set_flag(&env, &app, "product.eager_loading", json!(true)).await;
    for (path, naive_body, naive_queries) in &naive {
        let route = path.split('?').next().unwrap().replace("/3", "/{id}");
        let before = queries(&app, &route).await;
        let (status, body) = get_bytes(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(queries(&app, &route).await - before, 2.0, "eager {path} (naive took {naive_queries})");
        assert_eq!(&body, naive_body, "{path}: eager and naive bodies differ");
    }
}

/// Pages follow each other without gaps or repeats, in popularity order, and both paths agree.
#[tokio::test]
async fn cursor_pages_cover_a_category_exactly_once() {
    let env = TestEnv::new().await;
    seed(&env, 60, 5).await;
    let app = spawn(&env).await;
    let naive = walk(&app).await;
    assert_eq!(naive, (1..=60).filter(|i| i % 5 == 1).collect::<Vec<i64>>(), "category 22 = ids 1, 6, 11.., most popular first");
    flush_cache(&env).await;
    set_flag(&env, &app, "product.eager_loading", json!(true)).await;
    assert_eq!(walk(&app).await, naive);
}

/// Every id of category 22, page after page of 7.
async fn walk(app: &App) -> Vec<i64> {
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/products?category=22&limit=7&cursor={c}"),
            None => "/products?category=22&limit=7".to_owned(),
        };
        let (status, page) = get_json(app, &path).await;
        assert_eq!(status, 200);
        ids.extend(page["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return ids,
        }
    }
}

/// The EXPLAIN output of `sql` with `binds` applied, as one string.
async fn explain(env: &TestEnv, sql: &str, binds: impl FnOnce(ExplainQuery<'_>) -> ExplainQuery<'_>) -> String {
    let text = format!("explain {sql}");
    let q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(text));
    let lines: Vec<String> = binds(q).fetch_all(&env.pool).await.expect("explain");
    lines.join("\n")
}

type ExplainQuery<'q> = sqlx::query::QueryScalar<'q, sqlx::Postgres, String, sqlx::postgres::PgArguments>;

/// Plans of the hot queries, keyed by a short name.
async fn hot_plans(env: &TestEnv) -> Vec<(&'static str, String)> {
    let ids: Vec<i64> = (1..=20).collect();
    vec![
        ("current price", explain(env, sql::CURRENT_PRICE, |q| q.bind(1234_i64)).await),
        ("stock", explain(env, sql::STOCK, |q| q.bind(1234_i64)).await),
        ("prices and stock batch", explain(env, sql::PRICES_AND_STOCK, |q| q.bind(ids.clone())).await),
        (
            "listing by category",
            explain(env, sql::EAGER_BY_CATEGORY, |q| q.bind(i32::MAX).bind(0_i64).bind(21_i64).bind(21)).await,
        ),
        ("listing of all", explain(env, sql::EAGER_ALL, |q| q.bind(i32::MAX).bind(0_i64).bind(21_i64)).await),
        ("search", explain(env, sql::EAGER_SEARCH, |q| q.bind(i32::MAX).bind(0_i64).bind(21_i64).bind("zebra")).await),
    ]
}

async fn index_status(app: &App) -> Value {
    get_json(app, "/admin/flags").await.1["status"]["composite_indexes"].clone()
}

/// With the indexes on, the planner picks them for every hot query (no sequential scan of prices or
/// inventory); with them off it scans. The planner chooses freely: 4 000 products in 40 categories,
/// 40 000 price rows, statistics from ANALYZE, no `enable_seqscan` tricks.
#[tokio::test]
async fn composite_indexes_serve_the_hot_queries() {
    let env = TestEnv::new().await;
    seed(&env, 4000, 40).await;
    let app = spawn(&env).await;

    let off = hot_plans(&env).await;
    let scans =
        |plans: &[(&str, String)], table: &str| plans.iter().filter(|(_, p)| p.contains(&format!("Seq Scan on {table}"))).count();
    assert!(
        scans(&off, "prices") >= 2 && scans(&off, "inventory") >= 2,
        "without indexes prices/inventory are scanned: {off:#?}"
    );
    assert_eq!(index_status(&app).await["in_sync"], true);

    set_flag(&env, &app, "product.composite_indexes", json!(true)).await;
    let built = eventually(Duration::from_secs(30), || async {
        let s = index_status(&app).await;
        s["in_sync"] == true && s["present"].as_array().is_some_and(|p| p.len() == 5)
    })
    .await;
    assert!(built.is_some(), "indexes not built: {}", index_status(&app).await);
    sqlx::query("analyze product.products, product.prices, product.inventory").execute(&env.pool).await.unwrap();

    let on = hot_plans(&env).await;
    assert_eq!(scans(&on, "prices") + scans(&on, "inventory"), 0, "{on:#?}");
    let expect = [
        ("current price", "prices_product_valid_from_idx"),
        ("stock", "inventory_product_idx"),
        ("prices and stock batch", "prices_product_valid_from_idx"),
        ("prices and stock batch", "inventory_product_idx"),
        ("listing by category", "products_category_popularity_idx"),
        ("listing of all", "products_popularity_idx"),
        ("search", "products_search_idx"),
    ];
    for (query, index) in expect {
        let plan = &on.iter().find(|(n, _)| *n == query).unwrap().1;
        assert!(plan.contains(index), "{query} does not use {index}:\n{plan}");
    }

    set_flag(&env, &app, "product.composite_indexes", json!(false)).await;
    let dropped = eventually(Duration::from_secs(30), || async { index_status(&app).await["present"] == json!([]) }).await;
    assert!(dropped.is_some(), "indexes not dropped: {}", index_status(&app).await);
    assert!(hot_plans(&env).await[0].1.contains("Seq Scan on prices"));
}

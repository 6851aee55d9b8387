//! HTTP behaviour outside the levers: bad input is a JSON 4xx, admin writes need the token, the
//! categories and search answer as documented.

use crate::common::*;
use kit::testing::TestEnv;
use serde_json::{Value, json};

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str, what: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], want_code, "{what}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
}

/// Malformed ids, limits, cursors, categories and queries are 400s in the shared error shape.
#[tokio::test]
async fn malformed_reads_are_json_4xx() {
    let env = TestEnv::new().await;
    seed(&env, 30, 5).await;
    let app = spawn(&env).await;
    let cases = [
        ("/products/abc", 400, "invalid_path"),
        ("/products/0", 400, "invalid_id"),
        ("/products/-3", 400, "invalid_id"),
        ("/products/999999", 404, "not_found"),
        ("/products?limit=0", 400, "invalid_limit"),
        ("/products?limit=101", 400, "invalid_limit"),
        ("/products?limit=ten", 400, "invalid_query"),
        ("/products?cursor=not-a-cursor", 400, "invalid_cursor"),
        ("/products?cursor=ffffffffffffffffffffffffffffffff", 400, "invalid_cursor"),
        ("/products?category=abc", 400, "invalid_query"),
        ("/products?category=-1", 400, "invalid_category"),
        ("/search", 400, "invalid_query"),
        ("/search?q=%20%20", 400, "invalid_query"),
        ("/search?q=kettle&limit=500", 400, "invalid_limit"),
    ];
    for (path, status, code) in cases {
        let (got, body) = get_json(&app, path).await;
        assert_error(got, &body, status, code, path);
    }
    // nothing was cached for a 404
    assert!(keys(&env, "product:detail:*").await.is_empty());
}

/// Price writes: token required, malformed JSON 400, bad values 422, unknown product 404.
#[tokio::test]
async fn price_updates_validate_and_need_the_admin_token() {
    let env = TestEnv::new().await;
    seed(&env, 30, 5).await;
    let app = spawn(&env).await;
    let put = |path: &str, token: Option<&str>, body: &str| {
        let mut req = app.http.put(format!("{}{path}", app.url)).header("content-type", "application/json").body(body.to_owned());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let token = Some(env.admin_token());
    let (s, b) = put("/products/1/price", None, r#"{"amount_cents": 100}"#).await;
    assert_error(s, &b, 401, "unauthorized", "no token");
    let (s, b) = put("/products/1/price", Some("wrong"), r#"{"amount_cents": 100}"#).await;
    assert_error(s, &b, 401, "unauthorized", "wrong token");
    let (s, b) = put("/products/1/price", token, r#"{"amount_cents": "#).await;
    assert_error(s, &b, 400, "malformed_json", "truncated JSON");
    let (s, b) = put("/products/1/price", token, r#"{"amount_cents": "ten"}"#).await;
    assert_error(s, &b, 422, "invalid_body", "wrong type");
    let (s, b) = put("/products/1/price", token, r#"{"amount_cents": -5}"#).await;
    assert_error(s, &b, 422, "invalid_price", "negative");
    let (s, b) = put("/products/1/price", token, r#"{"amount_cents": 9223372036854775807}"#).await;
    assert_error(s, &b, 422, "invalid_price", "beyond what a JSON client reads exactly");
    let (s, b) = put("/products/1/price", token, r#"{"amount_cents": 5, "currency": "euro"}"#).await;
    assert_error(s, &b, 422, "invalid_currency", "currency");
    let (s, b) = put("/products/424242/price", token, r#"{"amount_cents": 5}"#).await;
    assert_error(s, &b, 404, "not_found", "unknown product");
    let (s, b) = put("/products/x/price", token, r#"{"amount_cents": 5}"#).await;
    assert_error(s, &b, 400, "invalid_path", "bad id");

    let (s, b) = put("/products/1/price", token, r#"{"amount_cents": 1999, "currency": "USD"}"#).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["price"], json!({ "amount_cents": 1999, "currency": "USD" }));
    assert_eq!(get_json(&app, "/products/1").await.1["price"], json!({ "amount_cents": 1999, "currency": "USD" }));
}

/// Categories list the tree; a detail page carries the category path, price and stock per warehouse;
/// search finds by word and respects the page size.
#[tokio::test]
async fn categories_detail_and_search_answer_as_documented() {
    let env = TestEnv::new().await;
    seed(&env, 30, 5).await;
    let app = spawn(&env).await;

    let (status, cats) = get_json(&app, "/categories").await;
    assert_eq!(status, 200);
    assert_eq!(cats.as_array().unwrap().len(), 25);
    assert_eq!(cats[22], json!({ "id": 23, "parent_id": 3, "name": "Category 23", "slug": "category-23" }));

    let (status, d) = get_json(&app, "/products/7").await;
    assert_eq!(status, 200);
    assert_eq!(d["category"], json!({ "id": 23, "name": "Category 23", "path": ["Category 3", "Category 23"] }));
    assert_eq!(d["warehouses"].as_array().unwrap().len(), 3);
    let total: i64 = d["warehouses"].as_array().unwrap().iter().map(|w| w["quantity"].as_i64().unwrap()).sum();
    assert_eq!(d["stock"], total);
    assert!(d["price"]["amount_cents"].is_i64() && d["sku"] == "SKU-000007");

    let (_, found) = get_json(&app, "/search?q=ZEBRA").await;
    assert_eq!(found["items"].as_array().unwrap().iter().map(|i| i["id"].clone()).collect::<Vec<_>>(), [json!(7)]);
    assert_eq!(found["next_cursor"], Value::Null);
    let (_, kettles) = get_json(&app, "/search?q=kettle&limit=3").await;
    let items = kettles["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| i["name"].as_str().unwrap().contains("Kettle")));
    assert!(kettles["next_cursor"].is_string());
    let (_, none) = get_json(&app, "/search?q=the").await;
    assert_eq!(none["items"], json!([]), "a stop-word-only search matches nothing");
}

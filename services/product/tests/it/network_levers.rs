//! The "Network Optimization" levers, proven by counting bytes, encodings, 304s and SQL statements:
//! `product.summary_fields`, `product.compression` and `product.conditional_requests`.

use crate::common::*;
use kit::testing::TestEnv;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, ETAG, IF_NONE_MATCH, VARY};
use serde_json::{Value, json};

const LISTING: &str = "/products?limit=20";

/// The small test catalogue, with documents as heavy as the lab seed's: ~2.5 KB of description and
/// ~2.5 KB of attributes per product.
async fn heavy_catalogue(env: &TestEnv) {
    seed(env, 60, 5).await;
    let sql = "update product.products set \
        description = description || repeat(' Built to last, the frame keeps its shape after years of regular handling.', 34), \
        attributes = (select jsonb_object_agg('spec_' || k, 'reinforced stitching ' || (id * k) || ' in charcoal') \
                      from generate_series(1, 50) k)";
    sqlx::query(sql).execute(&env.pool).await.expect("heavy documents");
}

/// GET `path` with extra headers: status, headers, raw body bytes (reqwest here decompresses nothing).
async fn get_with(app: &App, path: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> reqwest::Response {
    let req = headers.iter().fold(app.http.get(format!("{}{path}", app.url)), |r, (k, v)| r.header(k, *v));
    req.send().await.expect("request")
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// Flag off: listings and search carry full documents. Flag on: the summary shape, a fraction of the
/// bytes; `?fields=full` still returns the full shape, and a bad `fields` is a JSON 400.
#[tokio::test]
async fn summary_fields_cut_a_page_to_a_fraction_and_full_stays_available() {
    let env = TestEnv::new().await;
    heavy_catalogue(&env).await;
    let app = spawn(&env).await;
    let full_keys = ["description", "attributes", "warehouses"];

    let (status, before) = get_bytes(&app, LISTING).await;
    assert_eq!(status, 200);
    let items: Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(items["items"].as_array().unwrap().len(), 20);
    assert!(full_keys.iter().all(|k| !items["items"][0][k].is_null()), "before: full documents");

    set_flag(&env, &app, "product.summary_fields", json!(true)).await;
    for path in [LISTING, "/search?q=kettle&limit=20"] {
        let (status, after) = get_bytes(&app, path).await;
        assert_eq!(status, 200);
        let page: Value = serde_json::from_slice(&after).unwrap();
        let item = &page["items"][0];
        assert!(full_keys.iter().all(|k| item.get(k).is_none()), "{path}: summary shape, got {item}");
        for k in ["id", "sku", "name", "category", "price", "stock"] {
            assert!(item.get(k).is_some(), "{path}: summary keeps {k}");
        }
        let (_, full) = get_bytes(&app, &format!("{path}&fields=full")).await;
        let full_page: Value = serde_json::from_slice(&full).unwrap();
        assert!(full_keys.iter().all(|k| !full_page["items"][0][k].is_null()), "{path}&fields=full: the full shape");
        assert!(after.len() * 5 < full.len(), "{path}: summary {} bytes vs full {} bytes", after.len(), full.len());
    }
    assert_eq!(get_bytes(&app, LISTING).await.1.len(), get_bytes(&app, LISTING).await.1.len(), "stable size");
    assert!(get_bytes(&app, LISTING).await.1.len() * 5 < before.len(), "the flag's default shape shrank the page");

    let (status, err) = get_json(&app, "/products?fields=everything").await;
    assert_eq!(status, 400, "{err}");
    assert!(err["error"]["code"].is_string());
}

/// The same listing with `Accept-Encoding`: sent as it is while the flag is off, and compressed by the
/// encoding asked for (gzip, br, zstd) to well under half its bytes while it is on. Small bodies and
/// clients that accept no encoding get identity; the bytes counter counts what went on the wire.
#[tokio::test]
async fn compression_shrinks_a_listing_in_each_encoding() {
    let env = TestEnv::new().await;
    heavy_catalogue(&env).await;
    let app = spawn(&env).await;

    let plain = get_with(&app, LISTING, &[(ACCEPT_ENCODING, "gzip, br, zstd")]).await;
    assert_eq!(header(&plain, CONTENT_ENCODING), None, "off: never compressed");
    let identity = plain.bytes().await.unwrap().len();

    set_flag(&env, &app, "product.compression", json!(true)).await;
    let magic: [(&str, &[u8]); 3] = [("gzip", &[0x1f, 0x8b]), ("zstd", &[0x28, 0xb5, 0x2f, 0xfd]), ("br", &[])];
    for (encoding, magic) in magic {
        let before = sample(
            &metrics(&app).await,
            "shoplab_http_response_body_bytes_total",
            &[("route", "/products"), ("encoding", encoding)],
        );
        let resp = get_with(&app, LISTING, &[(ACCEPT_ENCODING, encoding)]).await;
        assert_eq!(header(&resp, CONTENT_ENCODING).as_deref(), Some(encoding));
        assert!(header(&resp, VARY).unwrap_or_default().to_lowercase().contains("accept-encoding"));
        let body = resp.bytes().await.unwrap();
        assert!(body.starts_with(magic), "{encoding} stream");
        assert!(body.len() * 10 < identity * 4, "{encoding}: {} of {identity} bytes (want -60 % or more)", body.len());
        let after = sample(
            &metrics(&app).await,
            "shoplab_http_response_body_bytes_total",
            &[("route", "/products"), ("encoding", encoding)],
        );
        assert_eq!(after - before, body.len() as f64, "{encoding}: the counter counts the bytes sent");
    }
    let none = get_with(&app, LISTING, &[]).await;
    assert_eq!(header(&none, CONTENT_ENCODING), None, "no Accept-Encoding: identity");
    assert_eq!(none.bytes().await.unwrap().len(), identity);
    let small = get_with(&app, "/products/1", &[(ACCEPT_ENCODING, "gzip")]).await;
    set_flag(&env, &app, "product.compression_min_bytes", json!(1_000_000)).await;
    let below = get_with(&app, "/products/1", &[(ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(header(&small, CONTENT_ENCODING).as_deref(), Some("gzip"), "a 5 KB detail is above the default 1 KB");
    assert_eq!(header(&below, CONTENT_ENCODING), None, "below the threshold: identity");
}

/// Flag on: pages carry an ETag and a max-age (longer for a product than for a listing); a revalidation
/// that names the current tag is a 304 with no body, no SQL and no body read from the cache; a price
/// write changes the tag.
#[tokio::test]
async fn conditional_requests_answer_304_from_the_stored_tag() {
    let env = TestEnv::new().await;
    seed(&env, 60, 5).await;
    let app = spawn(&env).await;
    let first = get_with(&app, "/products/7", &[]).await;
    assert_eq!((header(&first, ETAG), header(&first, CACHE_CONTROL)), (None, None), "off: no validators");

    set_flag(&env, &app, "product.conditional_requests", json!(true)).await;
    let detail = get_with(&app, "/products/7", &[]).await;
    let tag = header(&detail, ETAG).expect("an ETag");
    assert_eq!(header(&detail, CACHE_CONTROL).as_deref(), Some("public, max-age=60"));
    let listing = get_with(&app, LISTING, &[]).await;
    assert_eq!(header(&listing, CACHE_CONTROL).as_deref(), Some("public, max-age=10"));
    let listing_tag = header(&listing, ETAG).expect("a listing ETag");

    let (queries_before, m) = (queries(&app, "/products/{id}").await, metrics(&app).await);
    let not_modified_before = sample(&m, "http_server_request_duration_seconds_count", &[("status", "304")]);
    for _ in 0..10 {
        let r = get_with(&app, "/products/7", &[(IF_NONE_MATCH, &tag)]).await;
        assert_eq!(r.status(), 304);
        assert_eq!(header(&r, ETAG).as_deref(), Some(tag.as_str()));
        assert!(r.bytes().await.unwrap().is_empty());
    }
    assert_eq!(get_with(&app, LISTING, &[(IF_NONE_MATCH, &listing_tag)]).await.status(), 304);
    let m = metrics(&app).await;
    assert_eq!(sample(&m, "http_server_request_duration_seconds_count", &[("status", "304")]) - not_modified_before, 11.0);
    assert_eq!(sample(&m, "shoplab_conditional_requests_total", &[("result", "not_modified")]), 11.0);
    assert_eq!(queries(&app, "/products/{id}").await, queries_before, "a 304 runs no SQL");

    // the 304 is answered from the entry's header alone: replace the body behind it, the answer is the same
    let entry: Vec<u8> = redis_cmd(&env, kit::redis::redis::cmd("GET").arg(key(&env, "product:detail:7"))).await;
    let header_len = entry.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut hollow = entry[..header_len].to_vec();
    hollow.extend_from_slice(b"not a body");
    redis_cmd::<()>(&env, kit::redis::redis::cmd("SET").arg(key(&env, "product:detail:7")).arg(hollow).arg("KEEPTTL")).await;
    assert_eq!(get_with(&app, "/products/7", &[(IF_NONE_MATCH, &tag)]).await.status(), 304);
    redis_cmd::<i64>(&env, kit::redis::redis::cmd("DEL").arg(key(&env, "product:detail:7"))).await;

    // a price write: the old tag no longer matches, the page comes back with a new one
    let put = app.http.put(format!("{}/products/7/price", app.url)).bearer_auth(env.admin_token());
    assert_eq!(put.json(&json!({ "amount_cents": 4242 })).send().await.unwrap().status(), 200);
    let changed = get_with(&app, "/products/7", &[(IF_NONE_MATCH, &tag)]).await;
    assert_eq!(changed.status(), 200);
    let new_tag = header(&changed, ETAG).expect("a new ETag");
    assert_ne!(new_tag, tag, "a price write changes the ETag");
    assert_eq!(changed.json::<Value>().await.unwrap()["price"]["amount_cents"], 4242);
    let m = metrics(&app).await;
    assert_eq!(sample(&m, "shoplab_conditional_requests_total", &[("result", "modified")]), 1.0);
    let stale_listing = get_with(&app, LISTING, &[(IF_NONE_MATCH, &listing_tag)]).await;
    assert_eq!(stale_listing.status(), 200, "product 7 is on the first page: its listing changed too");
}

//! The product API's OpenAPI identity and body limit, over real HTTP (see docs/api.md): `/openapi.json`
//! names this crate (not the generator), the address it was fetched from and the error answers; a body
//! over the limit is a JSON 413, declared or streamed, before the admin token is even checked; below the
//! limit, the token is checked before the path or the body is parsed.

use crate::common;

use kit::http::api_checks::{self, Expected};
use kit::testing::TestEnv;

const EXPECTED: Expected = Expected {
    title: "shoplab product",
    version: env!("CARGO_PKG_VERSION"),
    description: env!("CARGO_PKG_DESCRIPTION"),
    license: env!("CARGO_PKG_LICENSE"),
    repository: env!("CARGO_PKG_REPOSITORY"),
};

#[tokio::test]
async fn openapi_identity_is_the_product_crates_own() {
    let env = TestEnv::new().await;
    let app = common::spawn(&env).await;
    let doc = api_checks::assert_identity(&app.url, "/openapi.json", &EXPECTED).await;
    let price = &doc["paths"]["/products/{id}/price"]["put"];
    assert_eq!(price["tags"][0], "products");
    assert_eq!(price["security"][0]["admin_token"], serde_json::json!([]));
}

#[tokio::test]
async fn openapi_oversized_price_update_is_a_json_413() {
    let env = TestEnv::new().await;
    let app = common::spawn(&env).await;
    let url = format!("{}/products/1/price", app.url);
    api_checks::assert_payload_too_large(app.http.put(&url)).await;
    api_checks::assert_payload_too_large(app.http.put(&url).bearer_auth(env.admin_token())).await;
    let auth = format!("Bearer {}", env.admin_token());
    api_checks::assert_streamed_payload_too_large(&app.url, "PUT", "/products/1/price", &[("authorization", &auth)]).await;
}

#[tokio::test]
async fn openapi_price_update_checks_the_token_before_parsing() {
    let env = TestEnv::new().await;
    let app = common::spawn(&env).await;
    let malformed = [("/products/1/price", "{not json"), ("/products/abc/price", r#"{"amount_cents": 1}"#)];
    for (path, body) in malformed {
        let req = app.http.put(format!("{}{path}", app.url)).header("content-type", "application/json").body(body);
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), 401, "{path} {body}: no token is a 401 whatever the input");
        let req = app.http.put(format!("{}{path}", app.url)).bearer_auth(env.admin_token());
        let resp = req.header("content-type", "application/json").body(body).send().await.expect("send");
        assert_eq!(resp.status(), 400, "{path} {body}: with the token, the input is judged");
    }
}

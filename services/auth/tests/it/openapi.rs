//! The auth API's OpenAPI identity and body limit, over real HTTP (see docs/api.md): `/openapi.json`
//! names this crate (not the generator), the address it was fetched from, the access-token scheme and the
//! error answers; a signup body over the limit is a JSON 413, declared or streamed.

use crate::common;

use kit::http::api_checks::{self, Expected};

const EXPECTED: Expected = Expected {
    title: "shoplab auth",
    version: env!("CARGO_PKG_VERSION"),
    description: env!("CARGO_PKG_DESCRIPTION"),
    license: env!("CARGO_PKG_LICENSE"),
    repository: env!("CARGO_PKG_REPOSITORY"),
};

#[tokio::test]
async fn openapi_identity_is_the_auth_crates_own() {
    let lab = common::Lab::start(common::settings()).await;
    let doc = api_checks::assert_identity(&lab.auth, "/openapi.json", &EXPECTED).await;
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["bearerFormat"], "JWT");
}

#[tokio::test]
async fn openapi_oversized_signup_is_a_json_413() {
    let lab = common::Lab::start(common::settings()).await;
    api_checks::assert_payload_too_large(lab.http.post(format!("{}/signup", lab.auth))).await;
    api_checks::assert_streamed_payload_too_large(&lab.auth, "POST", "/signup", &[]).await;
}

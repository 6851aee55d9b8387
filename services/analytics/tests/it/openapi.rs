//! The analytics API's OpenAPI identity and body limit, over real HTTP (see docs/api.md): `/openapi.json`
//! names this crate (not the generator), the address it was fetched from and the error answers; an event
//! batch over the limit is a JSON 413, declared or streamed.

use crate::support;

use kit::http::api_checks::{self, Expected};

const EXPECTED: Expected = Expected {
    title: "shoplab analytics",
    version: env!("CARGO_PKG_VERSION"),
    description: env!("CARGO_PKG_DESCRIPTION"),
    license: env!("CARGO_PKG_LICENSE"),
    repository: env!("CARGO_PKG_REPOSITORY"),
};

#[tokio::test]
async fn openapi_identity_is_the_analytics_crates_own() {
    let lab = support::Lab::start().await;
    let doc = api_checks::assert_identity(&lab.url, "/openapi.json", &EXPECTED).await;
    assert_eq!(doc["paths"]["/events"]["post"]["tags"][0], "analytics");
}

#[tokio::test]
async fn openapi_oversized_event_batch_is_a_json_413() {
    let lab = support::Lab::start().await;
    api_checks::assert_payload_too_large(lab.client.post(format!("{}/events", lab.url))).await;
    api_checks::assert_streamed_payload_too_large(&lab.url, "POST", "/events", &[]).await;
}

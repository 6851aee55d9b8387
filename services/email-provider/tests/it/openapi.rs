//! The email provider's OpenAPI identity and body limit, over real HTTP (see docs/api.md):
//! `/openapi.json` names this crate (not the generator), the address it was fetched from and the error
//! answers; a message over the limit is a JSON 413, declared or streamed.

use kit::http::api_checks::{self, Expected};
use kit::testing::TestEnv;
use tokio_util::sync::CancellationToken;

const EXPECTED: Expected = Expected {
    title: "shoplab email-provider",
    version: env!("CARGO_PKG_VERSION"),
    description: env!("CARGO_PKG_DESCRIPTION"),
    license: env!("CARGO_PKG_LICENSE"),
    repository: env!("CARGO_PKG_REPOSITORY"),
};

/// Starts a provider on a free port until `stop` is cancelled; returns its base URL.
async fn spawn(env: &TestEnv, stop: &CancellationToken) -> String {
    let app = email_provider::build(env.config(), "127.0.0.1:0").await.expect("build provider");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run(stop.clone()));
    base
}

#[tokio::test]
async fn openapi_identity_is_the_providers_own() {
    let (env, stop) = (TestEnv::new().await, CancellationToken::new());
    let base = spawn(&env, &stop).await;
    let doc = api_checks::assert_identity(&base, "/openapi.json", &EXPECTED).await;
    assert_eq!(doc["paths"]["/send"]["post"]["tags"][0], "email");
    stop.cancel();
}

#[tokio::test]
async fn openapi_oversized_message_is_a_json_413() {
    let (env, stop) = (TestEnv::new().await, CancellationToken::new());
    let base = spawn(&env, &stop).await;
    api_checks::assert_payload_too_large(reqwest::Client::new().post(format!("{base}/send"))).await;
    api_checks::assert_streamed_payload_too_large(&base, "POST", "/send", &[]).await;
    stop.cancel();
}

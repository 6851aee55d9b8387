//! The console's OpenAPI identity, explorer and body limit, over real HTTP (see docs/api.md):
//! `/api/openapi.json` names the console with the CLI crate's version, licence and repository (not the
//! generator), `/docs` serves the vendored explorer on it, and a write over the limit is a JSON 413.

use kit::http::api_checks::{self, Expected};
use kit::testing::{TestEnv, serve};
use shoplab::console::Settings;
use shoplab::console::live::ServiceUrls;

const TOKEN: &str = "console-openapi-token";

const EXPECTED: Expected = Expected {
    title: "shoplab console",
    version: env!("CARGO_PKG_VERSION"),
    description: "The trainer's web console",
    license: env!("CARGO_PKG_LICENSE"),
    repository: env!("CARGO_PKG_REPOSITORY"),
};

/// A console with writes enabled, scraping nothing near the lab's ports.
async fn spawn_console(env: &TestEnv) -> String {
    let settings = Settings {
        admin_token: Some(TOKEN.into()),
        urls: ServiceUrls { port_offset: 20_000, ..ServiceUrls::default() },
        grafana_url: "http://grafana.test:3000".into(),
        k6_bin: "k6".into(),
        k6_dir: "k6".into(),
    };
    serve(shoplab::console::build(env.pool.clone(), settings, "127.0.0.1:0").await.expect("console"))
}

#[tokio::test]
async fn openapi_identity_is_the_consoles_own_and_docs_serves_the_explorer() {
    let env = TestEnv::new().await;
    let url = spawn_console(&env).await;
    let doc = api_checks::assert_identity(&url, "/api/openapi.json", &EXPECTED).await;
    assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
    let page = reqwest::get(format!("{url}/docs")).await.expect("GET /docs");
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(page.text().await.unwrap().contains(r#"data-spec="/api/openapi.json""#));
    let bundle = reqwest::get(format!("{url}/docs/swagger-ui-bundle.js")).await.expect("GET bundle");
    assert_eq!(bundle.status(), 200);
    assert!(bundle.text().await.unwrap().contains("SwaggerUIBundle"));
}

#[tokio::test]
async fn openapi_oversized_flag_write_is_a_json_413() {
    let env = TestEnv::new().await;
    let url = spawn_console(&env).await;
    let flag = format!("{url}/api/flags/product.eager_loading");
    api_checks::assert_payload_too_large(reqwest::Client::new().put(&flag).bearer_auth(TOKEN)).await;
    let auth = format!("Bearer {TOKEN}");
    api_checks::assert_streamed_payload_too_large(&url, "PUT", "/api/flags/product.eager_loading", &[("authorization", &auth)])
        .await;
}

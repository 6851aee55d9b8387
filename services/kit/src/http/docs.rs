//! `/docs`: the API explorer (Swagger UI) for a service's OpenAPI document, with try-it-out and an
//! Authorize dialog where a trainer pastes the admin token.
//!
//! The lab must work in a room without Wi-Fi, so the explorer is compiled into the binary: the files come
//! from the npm registry package `swagger-ui-dist`, vendored into `services/kit/assets/swagger-ui/` by
//! `services/kit/assets/vendor-swagger-ui.sh` (pinned version in `VERSION` there) and embedded with
//! `include_bytes!`. Nothing is fetched at build time, and a Content-Security-Policy keeps the page itself
//! from loading anything but this service (Swagger UI's online validator is switched off).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

const BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const STYLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");
const FAVICON: &[u8] = include_bytes!("../../assets/swagger-ui/favicon-32x32.png");
const LICENSE: &[u8] = include_bytes!("../../assets/swagger-ui/LICENSE");
const BUNDLE_LICENSES: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.LICENSE.txt");
/// The vendored Swagger UI version (`swagger-ui-dist` on the npm registry).
pub const SWAGGER_UI_VERSION: &str = include_str!("../../assets/swagger-ui/VERSION");

/// Starts Swagger UI on the document named by the page's `data-spec`. A separate file rather than an
/// inline script, so the page's policy can forbid inline scripts.
const INIT: &str = r#"// Starts Swagger UI (vendored swagger-ui-dist) on this service's OpenAPI document.
window.ui = SwaggerUIBundle({
  url: document.body.dataset.spec,
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  deepLinking: true,
  validatorUrl: null,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
  filter: true,
  persistAuthorization: false,
});
"#;

/// Only this origin: scripts and styles from `/docs/*`, the document and try-it-out requests to the service.
/// Swagger UI sets inline styles and draws its icons from `data:` URLs.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'";

/// `/docs` and its assets, rendering the OpenAPI document served at `spec_path` (e.g. `/openapi.json`).
pub fn router<S: Clone + Send + Sync + 'static>(title: &str, spec_path: &str) -> Router<S> {
    let page = page(title, spec_path);
    Router::new()
        .route("/docs", get(move || async move { html(page) }))
        .route("/docs/", get(|| async { Redirect::permanent("/docs") }))
        .route("/docs/explorer.js", get(|| async { asset("text/javascript; charset=utf-8", INIT.as_bytes()) }))
        .route("/docs/swagger-ui-bundle.js", get(|| async { asset("text/javascript; charset=utf-8", BUNDLE) }))
        .route("/docs/swagger-ui.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/docs/favicon.png", get(|| async { asset("image/png", FAVICON) }))
        .route("/docs/LICENSE.txt", get(|| async { licenses() }))
}

/// The page: a mount point and the three files; the document path travels in `data-spec`.
fn page(title: &str, spec_path: &str) -> String {
    let (title, spec) = (escape(title), escape(spec_path));
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — API explorer</title>
<link rel="icon" type="image/png" href="/docs/favicon.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head><body data-spec="{spec}">
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/explorer.js"></script>
</body></html>
"#
    )
}

fn html(page: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, POLICY),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, page).into_response()
}

/// A static file; `no-cache` (revalidate) so a rebuilt binary's explorer is picked up on reload.
fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Swagger UI's licence (Apache-2.0) and its bundled components' notices, as the licence asks of a
/// redistributor.
fn licenses() -> Response {
    let text = [LICENSE, b"\n\n", BUNDLE_LICENSES].concat();
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// Escapes text for an HTML attribute or element.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_local_files_and_names_its_document() {
        let page = page("shoplab <x>", "/openapi.json");
        assert!(page.contains(r#"data-spec="/openapi.json""#));
        assert!(page.contains("shoplab &lt;x&gt;"));
        assert!(!page.contains("http://") && !page.contains("https://"), "no absolute URL in the page");
        assert!(!page.contains("<script>"), "no inline script (the policy forbids them)");
    }

    #[test]
    fn the_vendored_files_are_swagger_ui() {
        assert!(SWAGGER_UI_VERSION.trim().starts_with('5'));
        assert!(std::str::from_utf8(BUNDLE).unwrap().contains("SwaggerUIBundle"));
        assert!(std::str::from_utf8(STYLE).unwrap().contains(".swagger-ui"));
        assert!(std::str::from_utf8(LICENSE).unwrap().contains("Apache License"));
    }
}

//! The console page: plain HTML, JavaScript and CSS compiled into the binary with `include_str!`, so the
//! console needs no build step, no CDN and no network — it works in a room without Wi-Fi.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/console.js");
const STYLE: &str = include_str!("page/console.css");
/// The live charts (SVG drawn by hand: no chart library to fetch) and the slow-query table.
const CHARTS: &str = include_str!("page/charts.js");
const CHARTS_STYLE: &str = include_str!("page/charts.css");
const STATEMENTS: &str = include_str!("page/statements.js");

/// `/`, the scripts and style sheets, and `/healthz`.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/console.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/charts.js", get(|| async { asset("text/javascript; charset=utf-8", CHARTS) }))
        .route("/charts.css", get(|| async { asset("text/css; charset=utf-8", CHARTS_STYLE) }))
        .route("/statements.js", get(|| async { asset("text/javascript; charset=utf-8", STATEMENTS) }))
        .route("/healthz", get(|| async { "ok" }))
}

/// A static asset; `no-cache` so a rebuilt binary's page is picked up on reload.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

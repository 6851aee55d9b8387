//! The analytics API's OpenAPI identity and tags: `info` from this crate's `Cargo.toml` (through
//! `kit::api_identity!`), one tag per group of operations naming the book chapters and levers behind it.
//! The kit adds the base routes, the error shape and the body limit (see docs/api.md).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(tags(
    (name = "analytics", description = "Case study 2, real-time dashboards: chapters Asynchronous Processing (batch \
        ingest through the transactional outbox to the aggregator), Caching Strategies (`analytics.preaggregation`: \
        per-minute buckets kept by the aggregator instead of SQL over raw events) and Network Optimization \
        (`analytics.request_coalescing`: identical concurrent dashboard requests share one computation)."),
    (name = "admin", description = "The lab's flags: this process's view (open) and writes for every process \
        (Bearer admin token)."),
))]
struct ApiDoc;

/// The document the analytics routes are added to.
pub fn doc() -> utoipa::openapi::OpenApi {
    kit::api_identity!().apply(ApiDoc::openapi())
}

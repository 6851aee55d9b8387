//! The email provider's OpenAPI identity and tags: `info` from this crate's `Cargo.toml` (through
//! `kit::api_identity!`). The kit adds the base routes, the error shape and the body limit (see docs/api.md).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(tags(
    (name = "email", description = "Case study 3's downstream: a simulated transactional email API. Its health \
        follows the flags `emailprovider.mode` (healthy, slow, flaky, down), `emailprovider.latency_ms`, \
        `emailprovider.error_rate` and `emailprovider.down_style`, the faults the auth service's Traffic \
        Management levers are measured against."),
    (name = "simulation", description = "A simulated dependency read with a slow tail (`emailprovider.tail_ms` \
        for a share `emailprovider.tail_share` of reads), read by the product service's hedged requests lever."),
    (name = "admin", description = "The lab's flags: this process's view (open) and writes for every process \
        (Bearer admin token)."),
))]
struct ApiDoc;

/// The document the provider's routes are added to.
pub fn doc() -> utoipa::openapi::OpenApi {
    kit::api_identity!().apply(ApiDoc::openapi())
}

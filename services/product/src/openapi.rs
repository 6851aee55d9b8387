//! The product API's OpenAPI identity and tags: `info` from this crate's `Cargo.toml` (through
//! `kit::api_identity!`), one tag per group of operations naming the book chapters and levers behind it.
//! The kit adds the base routes, the error shape and the body limit (see docs/api.md).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(tags(
    (name = "products", description = "Case study 1, the product catalogue: chapters Caching Strategies and Database and \
        Storage. Levers: `product.eager_loading`, `product.composite_indexes` (database); `product.cache_ttl_secs`, \
        `product.refresh_ahead`, `product.cache_warming` (caching); `product.summary_fields`, `product.compression`, \
        `product.conditional_requests` (network). Reads are served from the Redis cache; a price update invalidates every \
        cached page that showed the product. Listing and search items come in two shapes: the summary shape (id, sku, name, \
        brand, popularity, category, price, stock) and the full shape, which adds `description`, `attributes` and \
        `warehouses`: `?fields=full` asks for it, and it is the default while `product.summary_fields` is off. With \
        `product.conditional_requests` on, pages carry `ETag` and `Cache-Control`, and `If-None-Match` may be answered 304."),
    (name = "admin", description = "The lab's flags: this process's view (open) and writes for every process \
        (Bearer admin token)."),
))]
struct ApiDoc;

/// The document the product routes are added to.
pub fn doc() -> utoipa::openapi::OpenApi {
    kit::api_identity!().apply(ApiDoc::openapi())
}

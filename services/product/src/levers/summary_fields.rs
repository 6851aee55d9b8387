//! Lever `product.summary_fields` — the book's opening story (chapter "Introduction"), told again in
//! "Network Optimization" (payload size).
//!
//! The book: a product search had slowed from a p95 of 150 to 400 ms as the catalogue grew. After a
//! hidden N+1 was fixed, serialization was the largest remaining share of the time, and profiling showed
//! why: every result was a full product object with large text fields (descriptions, specifications)
//! that the search page never showed. A "summary" response format for search results took the p95 to
//! 180 ms. The cost: two shapes to document and keep stable, and clients that need the whole document
//! must ask for it (here `?fields=full`) or make one more request per product.
//!
//! - **naive** (off): `GET /products` and `GET /search` return full documents — the long description,
//!   the attributes (several KB of specifications) and the stock of every warehouse — for every item.
//!   The page query reads the large columns, the loader serializes them, Redis stores them and the
//!   network carries them, for a list that shows a name and a price.
//! - **optimized** (on): the summary shape (`id`, `sku`, `name`, `brand`, `popularity`, `category`,
//!   `price`, total `stock`): the page query selects nulls instead of the large columns, and a page is a
//!   few KB instead of tens of KB. `?fields=full` still returns the full shape (the OpenAPI document
//!   describes both). The detail page (`GET /products/{id}`) is always the full document.
//!
//! Each shape is cached under its own key (a `:full` suffix on the page's cursor part), so flipping the
//! flag never serves one shape for the other. What to watch: bytes per response
//! (`shoplab_http_response_body_bytes{route}` on the case 1 dashboard, "Response bytes per request") and
//! the listing and search p95; in a trace, the page query's and the serialization's share of the request.

use kit::flags::Flags;

use crate::model::Fields;

/// The shape a listing or search page is built in: what the client asked for, else what the flag says.
pub fn full(flags: &Flags, asked: Option<Fields>) -> bool {
    match asked {
        Some(Fields::Full) => true,
        Some(Fields::Summary) => false,
        None => !flags.bool("product.summary_fields"),
    }
}

/// The cursor part of a page's cache key in that shape: the summary shape keeps the plain cursor, the
/// full shape adds `:full`, so the two never share an entry.
pub fn cache_part(cursor_key: &str, full: bool) -> String {
    if full { format!("{cursor_key}:full") } else { cursor_key.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_has_its_own_cache_key() {
        assert_eq!(cache_part("first", false), "first");
        assert_eq!(cache_part("first", true), "first:full");
    }
}

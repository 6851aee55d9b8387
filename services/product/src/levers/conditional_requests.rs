//! Lever `product.conditional_requests` — book chapters "Network Optimization" (payload size) and "Edge
//! Infrastructure" (caching API responses at the edge).
//!
//! The book: the cheapest response is the one not sent. Validators (`ETag`) let a client that already
//! holds a page ask "has it changed?" (`If-None-Match`) and get `304 Not Modified` with no body, and
//! `Cache-Control: max-age` lets it (or a CDN or proxy in between) reuse the page without asking at all
//! for a while. The cost: a freshness window in which a client may show an old page (so it is short
//! where data moves, e.g. listings), and validators that must change whenever the content does.
//!
//! - **naive** (off): every GET answers 200 with the whole body; no `ETag`, no `Cache-Control`, so no
//!   client or proxy can reuse or revalidate anything.
//! - **optimized** (on): detail, listing and search pages carry a strong `ETag` (the xxh3 hash of the
//!   JSON, stored beside the body in the cache entry: `cache::Entry`) and `Cache-Control: public,
//!   max-age=` [`DETAIL_MAX_AGE`] for a product, [`LISTING_MAX_AGE`] for listings and search. A request
//!   whose `If-None-Match` names the current tag is answered `304` from the entry's **header alone**
//!   ([`revalidate`]: a 64-byte `GETRANGE` and the version key in one round trip): no SQL, no body read
//!   from Redis, no serialization. A price write bumps the page's version key, so the entry is no longer
//!   current, the page is rebuilt and its `ETag` changes.
//!
//! The tag identifies the JSON document; compression (`product.compression`) is a content coding of it,
//! and the responses carry `Vary: Accept-Encoding`, so a cache keeps one copy per encoding. What to
//! watch: the share of 304s in `http_server_request_duration_seconds{status="304"}`,
//! `shoplab_conditional_requests_total{result}` and the bytes per response on the case 1 dashboard.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::cache::{self, Slot};
use crate::state::AppState;

/// `max-age` of a product's detail page: prices change rarely, and a price write changes the tag.
pub const DETAIL_MAX_AGE: u32 = 60;
/// `max-age` of listing and search pages: they show many products, any of which may change.
pub const LISTING_MAX_AGE: u32 = 10;

fn max_age(slot: &Slot) -> u32 {
    if slot.cache == "product_detail" { DETAIL_MAX_AGE } else { LISTING_MAX_AGE }
}

fn etag(hash: u64) -> String {
    format!("\"{hash:016x}\"")
}

/// True when `If-None-Match` names `tag` (or is `*`). Weak comparison, as RFC 9110 asks for this header.
fn matches(headers: &HeaderMap, tag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag
    })
}

/// The validator headers of a page.
fn validators(slot: &Slot, tag: &str) -> [(header::HeaderName, HeaderValue); 2] {
    let cache_control = format!("public, max-age={}", max_age(slot));
    [
        (header::ETAG, HeaderValue::from_str(tag).expect("hex tag is a valid header")),
        (header::CACHE_CONTROL, HeaderValue::from_str(&cache_control).expect("valid header")),
    ]
}

fn not_modified(state: &AppState, slot: &Slot, tag: &str) -> Response {
    state.product_metrics.revalidation(slot.route, "not_modified");
    (StatusCode::NOT_MODIFIED, validators(slot, tag)).into_response()
}

/// The 304 fast path: with the flag on and an `If-None-Match`, compares it with the tag stored in the
/// cached entry's header and answers 304 when it matches. `None`: build the response as usual.
pub async fn revalidate(state: &AppState, slot: &Slot, headers: &HeaderMap) -> Option<Response> {
    if !state.flags.bool("product.conditional_requests") || !headers.contains_key(header::IF_NONE_MATCH) {
        return None;
    }
    let hash = match cache::current_hash(&state.redis, slot).await {
        Ok(hash) => hash?,
        Err(e) => {
            tracing::warn!(event = "cache_unavailable", error = %e, "revalidating from the full page");
            return None;
        }
    };
    let tag = etag(hash);
    matches(headers, &tag).then(|| not_modified(state, slot, &tag))
}

/// The response for a page `body`: as it is (flag off), or with its validators, or a 304 when the
/// client's tag matches a page that was just rebuilt (its entry had expired) with the same content.
pub fn respond(state: &AppState, slot: &Slot, headers: &HeaderMap, body: Bytes) -> Response {
    let json = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    if !state.flags.bool("product.conditional_requests") {
        return (json, body).into_response(); // before: no validators
    }
    let tag = etag(cache::content_hash(&body));
    if matches(headers, &tag) {
        return not_modified(state, slot, &tag);
    }
    if headers.contains_key(header::IF_NONE_MATCH) {
        state.product_metrics.revalidation(slot.route, "modified");
    }
    (json, validators(slot, &tag), body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let tag = etag(0xabc);
        assert_eq!(tag, "\"0000000000000abc\"");
        let h = |v: &str| HeaderMap::from_iter([(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap())]);
        assert!(matches(&h("\"0000000000000abc\""), &tag));
        assert!(matches(&h("\"x\", W/\"0000000000000abc\""), &tag));
        assert!(matches(&h("*"), &tag));
        assert!(!matches(&h("\"0000000000000abd\""), &tag));
        assert!(!matches(&HeaderMap::new(), &tag));
    }
}

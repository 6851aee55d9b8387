//! Lever `product.compression` (+ knob `product.compression_min_bytes`) — book chapter "Network
//! Optimization" (compression, payload size).
//!
//! The book: JSON is verbose and repetitive, so it compresses well, and compressing responses cuts the
//! bytes on the wire (and the time to send them over a slow link) for some CPU on both ends; tiny
//! responses are not worth it, so compress only above a size threshold, and negotiate the algorithm with
//! the client through `Accept-Encoding`. The cost: CPU per response on the server (and the client), and
//! on a fast network (loopback, one rack) the time spent compressing can exceed the time saved sending.
//!
//! - **naive** (off): every body is sent as it is (`Content-Encoding` absent), whatever the client
//!   accepts.
//! - **optimized** (on): tower-http's `CompressionLayer` compresses JSON bodies of at least
//!   `product.compression_min_bytes` (default 1024) with the best algorithm the client offers
//!   (zstd, br, gzip) at a moderate level ([`LEVEL`]: a fast setting, as an API compresses every response
//!   afresh). Both flags are read per response from the snapshot, so a flip applies to the next request.
//!   The layer sets `Vary: Accept-Encoding` so caches (the edge, a browser) keep one copy per encoding.
//!
//! What to watch: `shoplab_http_response_body_bytes_total{encoding}` per request on the case 1
//! dashboard ("Response bytes per request"): a listing of full documents shrinks by well over half;
//! latency on loopback barely moves (or grows a little: the CPU cost with nothing to win), which is
//! what a slow client link would turn into a gain (k6 cannot throttle a link: see
//! docs/levers/product.compression.md for the arithmetic).

use axum::body::HttpBody;
use axum::http::{Response, header};
use kit::flags::Flags;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Compression level for every algorithm: 4 is fast for gzip, brotli and zstd alike and gets most of the
/// size reduction of their defaults on JSON (brotli's default, 11, costs milliseconds per page).
pub const LEVEL: CompressionLevel = CompressionLevel::Precise(4);

/// The layer the product router is wrapped in: compresses only when [`Live`] says so.
pub fn layer(flags: Flags) -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().quality(LEVEL).compress_when(NotForContentType::GRPC.and(Live(flags)))
}

/// The predicate that reads the flags per response.
#[derive(Clone)]
pub struct Live(Flags);

impl Predicate for Live {
    fn should_compress<B: HttpBody>(&self, response: &Response<B>) -> bool {
        if !self.0.bool("product.compression") {
            return false; // before: bodies go out as they are
        }
        let json = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let min = self.0.int("product.compression_min_bytes").max(0) as u64;
        // a body of unknown size (streamed) counts as large
        json.is_some_and(|t| t.starts_with("application/json")) && response.body().size_hint().exact().is_none_or(|n| n >= min)
    }
}

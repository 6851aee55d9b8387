//! The product service's own Prometheus families (docs/architecture.md, "Metrics"), added to the
//! process's kit registry: `ProductMetrics::of(&metrics)` creates and registers them on first use, the
//! same handles after.
//!
//! - `shoplab_coalesced_requests_total{route}`: requests that shared another request's computation.
//! - `shoplab_http_response_body_bytes_total{route, encoding}`: bytes of response bodies as they leave
//!   the service, after compression (`encoding` is the `Content-Encoding` sent: `identity`, `gzip`, `br`,
//!   `zstd`). Divided by the request count of `http_server_request_duration_seconds` it is the bytes per
//!   response the network levers shrink (`product.summary_fields`, `product.compression`,
//!   `product.conditional_requests`: a 304 carries none).
//! - `shoplab_conditional_requests_total{route, result}`: how revalidations were answered
//!   (`not_modified` a 304 without a body, `modified` a 200 although the client sent `If-None-Match`).

use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use kit::metrics::{Families, Metrics, RouteLabels};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of the body-bytes counter: both from fixed sets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BodyLabels {
    /// The matched route pattern (`unmatched` when none).
    pub route: String,
    pub encoding: &'static str,
}

/// Labels of the revalidation counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevalidationLabels {
    pub route: &'static str,
    pub result: &'static str,
}

/// The families of the product API.
pub struct ProductMetrics {
    /// `shoplab_coalesced_requests_total{route}`: requests that shared another request's computation.
    pub coalesced: Family<RouteLabels, Counter>,
    pub body_bytes: Family<BodyLabels, Counter>,
    pub revalidations: Family<RevalidationLabels, Counter>,
}

impl ProductMetrics {
    /// The product families of `metrics`' registry.
    pub fn of(metrics: &Metrics) -> Arc<Self> {
        metrics.families()
    }

    /// Counts one revalidation of `route`.
    pub fn revalidation(&self, route: &'static str, result: &'static str) {
        self.revalidations.get_or_create(&RevalidationLabels { route, result }).inc();
    }
}

impl Families for ProductMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self { coalesced: Family::default(), body_bytes: Family::default(), revalidations: Family::default() };
        // at 0 from the start: the 304-share panel reads 0 before the first revalidation, not no data
        for route in ["/products", "/products/{id}", "/search"] {
            for result in ["not_modified", "modified"] {
                drop(m.revalidations.get_or_create(&RevalidationLabels { route, result }));
            }
        }
        r.register("shoplab_coalesced_requests", "Requests that shared another request's computation", m.coalesced.clone());
        r.register("shoplab_http_response_body_bytes", "Response body bytes sent, after compression", m.body_bytes.clone());
        r.register(
            "shoplab_conditional_requests",
            "Requests carrying If-None-Match, by how they were answered",
            m.revalidations.clone(),
        );
        m
    }
}

/// The `encoding` label of a response: its `Content-Encoding`, from a fixed set.
fn encoding(resp: &Response) -> &'static str {
    match resp.headers().get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        None => "identity",
        Some("gzip") => "gzip",
        Some("br") => "br",
        Some("zstd") => "zstd",
        Some(_) => "other",
    }
}

/// Middleware counting response body bytes per route. A body of known size is counted at once (and left
/// as it is, so it keeps its `Content-Length`); a streamed one (a compressed body) frame by frame.
pub async fn count_body_bytes(State(m): State<Arc<ProductMetrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    let counter = m.body_bytes.get_or_create(&BodyLabels { route, encoding: encoding(&resp) }).clone();
    if let Some(n) = resp.body().size_hint().exact() {
        counter.inc_by(n);
        return resp;
    }
    resp.map(|body| {
        Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                counter.inc_by(data.len() as u64);
            }
            frame
        }))
    })
}

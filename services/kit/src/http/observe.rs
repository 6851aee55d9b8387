//! The middleware every request passes through: one INFO root span continuing the caller's trace, the
//! flag values as span attributes, the latency histogram (with a trace-id exemplar) and the number of
//! SQL statements the request ran — all keyed by the matched route pattern, never the raw path, so
//! `/products/1` and `/products/2` are one series.
//!
//! Every label comes from a fixed set: the route is a registered pattern or `unmatched`, the method one
//! of the nine standard methods or `other`. A client sending made-up methods or paths therefore cannot
//! grow `/metrics` (each new label value would be a new series kept for the life of the process).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::BaseState;
use crate::metrics::{HttpLabels, RouteLabels, TraceExemplar};

/// Routes probed by Prometheus and orchestrators: measured by nobody, traced by nobody.
const QUIET: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

pub(crate) async fn observe(State(base): State<BaseState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    if route.as_deref().is_some_and(|r| QUIET.contains(&r)) {
        return next.run(req).await;
    }
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(req.method()).to_owned();
    let span = request_span(&base, &req, &method, &route);
    let started = Instant::now();
    let (resp, queries, pool_timed_out) = crate::db::count_queries_and_waits(next.run(req).instrument(span.clone())).await;
    let resp = if pool_timed_out { pool_exhausted(resp) } else { resp };
    let status = resp.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let exemplar = span.context().span().span_context().clone();
    let exemplar = exemplar.is_valid().then(|| TraceExemplar { trace_id: exemplar.trace_id().to_string() });
    let labels = HttpLabels { method, route: route.clone(), status };
    base.metrics.http_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64(), exemplar, None);
    base.metrics.db_queries.get_or_create(&RouteLabels { route }).observe(queries as f64);
    resp
}

use opentelemetry::trace::TraceContextExt as _;

/// The methods of RFC 9110 (and PATCH); anything else is one `other` label.
const STANDARD_METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// The method as a metric label and span attribute: a standard method or `other`.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    STANDARD_METHODS.into_iter().find(|m| *m == method.as_str()).unwrap_or("other")
}

/// A request that failed because no Postgres connection was free within the pool's acquire timeout
/// answers 503 with `Retry-After` instead of a 500: the service is saturated, not broken, and a client
/// (or a load balancer) should come back later.
fn pool_exhausted(resp: Response) -> Response {
    use axum::response::IntoResponse as _;
    if resp.status() != axum::http::StatusCode::INTERNAL_SERVER_ERROR {
        return resp;
    }
    let msg = "the database is saturated: no connection became free in time; retry shortly";
    let mut busy = crate::error::ApiError::Unavailable(msg.into()).into_response();
    busy.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    busy
}

fn request_span(base: &BaseState, req: &Request, method: &str, route: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %req.uri().path(),
        http.response.status_code = tracing::field::Empty,
        client.id = tracing::field::Empty,
    );
    if let Some(client) = req.headers().get("x-client-id").and_then(|v| v.to_str().ok()) {
        span.record("client.id", client);
    }
    // the parent must be set before the span is entered, or it is ignored
    let _ = span.set_parent(crate::propagation::extract_http(req.headers()));
    for (name, value) in base.flags.snapshot().values.iter() {
        span.set_attribute(format!("shoplab.flag.{name}"), value.to_string());
    }
    span
}

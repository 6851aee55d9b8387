//! The middleware every request passes through: one INFO root span continuing the caller's trace, the
//! flag values as span attributes, the latency histogram (with a trace-id exemplar) and the number of
//! SQL statements the request ran — all keyed by the matched route pattern, never the raw path, so
//! `/items/1` and `/items/2` are one series.
//!
//! It runs on every request, so it is written to cost little (docs/performance.md has the profile that
//! led here): the flag attributes are built once per flag snapshot and shared (reference-counted keys and
//! values, no formatting per request), the span name once per route, a trace context is extracted only
//! when the caller sent one, and the route travels as the router's own shared string.
//!
//! Every label comes from a fixed set: the route is a registered pattern or `unmatched`, the method one
//! of the nine standard methods or `other`. A client sending made-up methods or paths therefore cannot
//! grow `/metrics` (each new label value would be a new series kept for the life of the process).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::{Key, StringValue};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::BaseState;
use crate::flags::Snapshot;
use crate::metrics::{HttpLabels, RouteLabels, TraceExemplar};

/// Routes probed by Prometheus and orchestrators: measured by nobody, traced by nobody.
const QUIET: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

pub(crate) async fn observe(State(base): State<Arc<BaseState>>, req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    if QUIET.contains(&route) {
        return next.run(req).await;
    }
    let method = method_label(req.method());
    let span = request_span(&base, &req, method, route);
    let started = Instant::now();
    let (resp, queries, pool_timed_out) = crate::db::count_queries_and_waits(next.run(req).instrument(span.clone())).await;
    let resp = if pool_timed_out { pool_exhausted(resp) } else { resp };
    let status = resp.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    // an exemplar must point at a trace that exists: only a sampled request's trace id is attached
    let exemplar = sc.is_sampled().then(|| TraceExemplar { trace_id: sc.trace_id().to_string() });
    let labels = HttpLabels { method: method.to_owned(), route: route.to_owned(), status };
    base.metrics.http_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64(), exemplar, None);
    base.metrics.db_queries.get_or_create(&RouteLabels { route: labels.route }).observe(queries as f64);
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

fn request_span(base: &BaseState, req: &Request, method: &'static str, route: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "http.request",
        otel.name = base.observed.span_name(method, route).as_ref(),
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
    // the parent must be set before the span is entered, or it is ignored; without a traceparent there is
    // no parent to extract (and the global propagator's lock need not be taken)
    if req.headers().contains_key("traceparent") {
        let _ = span.set_parent(crate::propagation::extract_http(req.headers()));
    }
    for (key, value) in base.observed.flag_attributes(&base.flags.snapshot()).iter() {
        span.set_attribute(key.clone(), value.clone());
    }
    span
}

/// `shoplab.flag.<name>` attributes of one snapshot, shared by every request that sees it.
type FlagAttributes = Arc<[(Key, StringValue)]>;

/// What the middleware computes once and reuses: per-snapshot flag attributes, per-route span names.
#[derive(Default)]
pub(crate) struct Observed {
    /// The flag attributes of the latest snapshot seen, with that snapshot (compared by pointer).
    flags: ArcSwapOption<(Arc<Snapshot>, FlagAttributes)>,
    /// `"{METHOD} {route}"` by method and route pattern (bounded: both come from fixed sets).
    names: RwLock<HashMap<&'static str, HashMap<String, Arc<str>>>>,
}

impl Observed {
    /// `shoplab.flag.<name>` = value for every flag of `snap`, built when the snapshot changes.
    fn flag_attributes(&self, snap: &Arc<Snapshot>) -> FlagAttributes {
        if let Some(cached) = self.flags.load().as_ref().filter(|c| Arc::ptr_eq(&c.0, snap)) {
            return cached.1.clone();
        }
        let attrs: FlagAttributes = snap
            .values
            .iter()
            .map(|(name, value)| {
                let key: Arc<str> = format!("shoplab.flag.{name}").into();
                let value: Arc<str> = value.to_string().into();
                (Key::from(key), StringValue::from(value))
            })
            .collect();
        self.flags.store(Some(Arc::new((snap.clone(), attrs.clone()))));
        attrs
    }

    /// The span name of a request: method and route pattern.
    fn span_name(&self, method: &'static str, route: &str) -> Arc<str> {
        if let Some(name) = self.names.read().expect("span names poisoned").get(method).and_then(|m| m.get(route)) {
            return name.clone();
        }
        let name: Arc<str> = format!("{method} {route}").into();
        let mut names = self.names.write().expect("span names poisoned");
        names.entry(method).or_default().insert(route.to_owned(), name.clone());
        name
    }
}

//! `product.load_shedding` (Traffic Management): protect the service from overload by refusing early.
//!
//! **Before** (off): every request is accepted and waits for whatever it needs — a database connection,
//! the CPU. Past the service's capacity the queue only grows: by Little's law (L = λ × W) the waiting time
//! rises with the backlog, every request gets slow, and clients that time out and retry add more. Case 1's
//! before state at 100 req/s on this machine shows it: p95 in tens of seconds.
//!
//! **After** (on): at most `product.load_shed_limit` API requests run at once and at most
//! `product.load_shed_queue` more wait for a slot; the next one is answered at once with
//! `503 Service Unavailable`, `Retry-After: 1` and the shared error shape with the code `overloaded`. The book's chapter lists load
//! shedding beside rate limiting: the limiter is per client, shedding protects the service from all of
//! them together. The requests admitted keep a latency near the SLO, and the shed ones fail fast (a
//! client can retry elsewhere or later) instead of timing out after a long wait.
//!
//! **Costs**: some requests fail on purpose — the shed share is the price, and a limit set too low sheds
//! traffic the service could have served. The limit is per process (each instance sheds on its own).
//! Health, metrics, the admin routes and the API explorer are outside this layer and never shed.
//!
//! **Watch**: `shoplab_load_shed_total{service,route}` (the case 1 dashboard's "Load shed" panel) against
//! the p95 of the admitted requests; `k6/levers/product.load_shedding.js` reports the served requests'
//! latency as `lever_admitted_ms` and the shed share as `lever_shed`.
//!
//! The limit is a hand-written semaphore rather than tower's `ConcurrencyLimit` + `LoadShed` because it
//! must be switched and resized live, per request, from the flag snapshot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kit::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::Semaphore;

use crate::state::AppState;

/// Labels of `shoplab_load_shed_total` (`service` comes from the registry): the route pattern.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    route: String,
}

/// The limiter's state, shared by every request of one process.
pub struct Shedder {
    /// The current limit and its semaphore; replaced when `product.load_shed_limit` changes (requests
    /// holding a permit of the old one finish normally).
    slots: Mutex<(i64, Arc<Semaphore>)>,
    /// Requests waiting for a slot now (bounded by `product.load_shed_queue`).
    waiting: AtomicUsize,
    /// `shoplab_load_shed_total{route}`.
    shed: Family<ShedLabels, Counter>,
}

impl Shedder {
    /// A limiter whose counter is registered in `metrics`.
    pub fn new(metrics: &Metrics) -> Arc<Self> {
        let shed = Family::<ShedLabels, Counter>::default();
        // at 0 from the start, so the panel shows "nothing shed" rather than no data
        for route in ["/products", "/products/{id}", "/search"] {
            drop(shed.get_or_create(&ShedLabels { route: route.to_owned() }));
        }
        metrics.register("shoplab_load_shed", "Requests refused at once by load shedding", shed.clone());
        Arc::new(Self { slots: Mutex::new((0, Arc::new(Semaphore::new(0)))), waiting: AtomicUsize::new(0), shed })
    }

    /// The semaphore for `limit` slots (a new one when the limit changed).
    fn semaphore(&self, limit: i64) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().expect("load shedding slots poisoned");
        if slots.0 != limit {
            *slots = (limit, Arc::new(Semaphore::new(usize::try_from(limit.max(1)).unwrap_or(1))));
        }
        slots.1.clone()
    }
}

/// Decrements the waiting count however the wait ends (a slot, or the client going away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The middleware around the product API's routes.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.flags.bool("product.load_shedding") {
        // naive: unbounded queueing — every request waits as long as it takes
        return next.run(req).await;
    }
    let shedder = &state.shedder;
    let sem = shedder.semaphore(state.flags.int("product.load_shed_limit"));
    let queue = usize::try_from(state.flags.int("product.load_shed_queue")).unwrap_or(0);
    let _permit = match sem.clone().try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            if shedder.waiting.fetch_add(1, Ordering::SeqCst) >= queue {
                shedder.waiting.fetch_sub(1, Ordering::SeqCst);
                return shed(shedder, &req);
            }
            let _waiting = Waiting(&shedder.waiting);
            match sem.acquire_owned().await {
                Ok(permit) => permit,
                Err(_) => return shed(shedder, &req),
            }
        }
    };
    next.run(req).await
}

/// 503 + `Retry-After`, counted by route pattern.
fn shed(shedder: &Shedder, req: &Request) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    shedder.shed.get_or_create(&ShedLabels { route }).inc();
    // its own code: a client (and the k6 scenario) tells a shed request from a pool timeout's 503
    let body = serde_json::json!({ "error": { "code": "overloaded", "message": "the service is at capacity; retry after 1 s" } });
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

//! What every shoplab HTTP process shares: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`,
//! the admin flag routes, the observing middleware and graceful serving.
//!
//! A service builds its own routes with utoipa-axum, then hands them to [`finish`] which adds the base
//! routes and layers and returns the router to serve.

pub mod admin;
#[cfg(feature = "test-support")]
pub mod api_checks;
pub mod body;
pub mod docs;
mod observe;
mod server;
pub use server::{HEADER_READ_TIMEOUT, http1_builder};
pub mod openapi;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::flags::Flags;
use crate::metrics::{CONTENT_TYPE, Metrics};

/// A readiness check: `Ok` when the dependency answers, `Err(reason)` otherwise.
pub type ReadyCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;
/// Extra state a service shows under `status` in `GET /admin/flags`.
pub type StatusFn = Arc<dyn Fn() -> BoxFuture<'static, Value> + Send + Sync>;

/// The state the base routes need; built once at start.
#[derive(Clone)]
pub struct BaseState {
    /// Service name, as in metrics and traces.
    pub service: &'static str,
    pub metrics: Metrics,
    pub flags: Flags,
    /// Pool used for flag writes (`PUT /admin/flags`).
    pub pool: PgPool,
    /// Expected Bearer token for admin writes; `None` disables them.
    pub admin_token: Option<crate::config::SecretString>,
    /// Named dependency checks behind `/readyz`.
    pub ready: Vec<(&'static str, ReadyCheck)>,
    /// Optional service-specific status for `/admin/flags`.
    pub status: Option<StatusFn>,
    /// The service's OpenAPI document (its routes plus the base routes), as served.
    openapi: Arc<Value>,
    /// What the observing middleware builds once and reuses (flag attributes, span names).
    observed: Arc<observe::Observed>,
}

impl BaseState {
    pub fn new(
        service: &'static str,
        metrics: Metrics,
        flags: Flags,
        pool: PgPool,
        admin_token: Option<crate::config::SecretString>,
    ) -> Self {
        let ready = vec![("postgres", ready_postgres(pool.clone()))];
        Self {
            service,
            metrics,
            flags,
            pool,
            admin_token,
            ready,
            status: None,
            openapi: Arc::new(Value::Null),
            observed: Arc::default(),
        }
    }

    /// Adds a readiness check.
    pub fn with_ready(mut self, name: &'static str, check: ReadyCheck) -> Self {
        self.ready.push((name, check));
        self
    }

    /// Sets the service-specific status shown by `/admin/flags`.
    pub fn with_status(mut self, status: StatusFn) -> Self {
        self.status = Some(status);
        self
    }
}

/// A Postgres readiness check on its own connection, not the pool's (see `crate::health`).
pub fn ready_postgres(pool: PgPool) -> ReadyCheck {
    crate::health::postgres(&pool)
}

/// The base routes as an OpenAPI router (so they appear in `/openapi.json`).
fn base_routes() -> OpenApiRouter<BaseState> {
    OpenApiRouter::new().routes(routes!(admin::list)).routes(routes!(admin::put)).routes(routes!(admin::preset))
}

/// Adds the base routes and the observing layer to a service's API; returns the router to serve.
pub fn finish(api: OpenApiRouter, mut base: BaseState) -> Router {
    let (api, mut doc) = api.split_for_parts();
    let (admin, admin_doc) = base_routes().split_for_parts();
    doc.merge(admin_doc);
    doc.info.title = format!("shoplab {}", base.service);
    let explorer = docs::router(&doc.info.title, "/openapi.json");
    base.openapi = Arc::new(openapi::complete(doc));
    let plain = Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
        .route("/openapi.json", axum::routing::get(openapi))
        .merge(explorer)
        .merge(admin)
        .with_state(base.clone());
    body::limit(api.merge(plain).fallback(|| async { crate::error::ApiError::NotFound("no such route".into()) }))
        // shared, not cloned per request: a BaseState copy costs a Vec, a String and a few dozen reference counts
        .layer(axum::middleware::from_fn_with_state(Arc::new(base), observe::observe))
}

/// A router for worker processes (relay, consumers): only health, readiness and metrics.
pub fn worker_router(base: BaseState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(base)
}

async fn readyz(State(base): State<BaseState>) -> Response {
    let mut failed = serde_json::Map::new();
    for (name, check) in &base.ready {
        if let Err(e) = check().await {
            failed.insert((*name).to_owned(), Value::String(e));
        }
    }
    if failed.is_empty() {
        (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ready" }))).into_response()
    } else {
        let body =
            serde_json::json!({ "error": { "code": "not_ready", "message": "dependencies unavailable" }, "failed": failed });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn metrics(State(base): State<BaseState>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], base.metrics.render()).into_response()
}

async fn openapi(State(base): State<BaseState>, headers: HeaderMap) -> Response {
    openapi::serve(&base.openapi, &headers)
}

/// Serves `router` on `listener` until `shutdown` resolves, letting in-flight requests finish
/// (HTTP/1.1 with a header-read timeout: see `server`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_boxed(listener, router, Box::pin(shutdown)).await
}

/// [`serve`] without type parameters, returning a boxed future: hyper's and axum's server stack is
/// compiled once, in this crate, not once per crate and shutdown future that serves a router. (An `async
/// fn` would not do: its body is compiled where it is polled, i.e. in every caller's crate; the coercion
/// to `dyn Future` here makes this crate compile it.)
fn serve_boxed(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: BoxFuture<'static, ()>,
) -> BoxFuture<'static, std::io::Result<()>> {
    Box::pin(server::serve(listener, router, shutdown))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!(event = "shutdown_requested");
}

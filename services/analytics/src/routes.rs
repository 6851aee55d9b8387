//! The API's routes, read top to bottom: batch ingest and the dashboards.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kit::ApiResult;
use kit::extract::{Path, Query};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::dashboard::{Dashboard, Overview};
use crate::ingest;
use crate::state::AppState;
use crate::window::Window;

/// Every route of the analytics API.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(crate::openapi::doc())
        .routes(routes!(ingest::ingest))
        .routes(routes!(dashboard))
        .with_state(state)
}

/// `?window=` of a dashboard.
#[derive(Debug, Deserialize, IntoParams)]
pub struct WindowQuery {
    /// `15m`, `1h` (default), `24h` or `7d`.
    pub window: Option<String>,
}

/// A dashboard over a time window: totals, top 10 products by views, and a per-minute (15m, 1h) or
/// per-hour (24h, 7d) series.
#[utoipa::path(
    get,
    path = "/dashboards/{name}",
    tag = "analytics",
    params(("name" = String, Path, description = "Dashboard name (`overview`)"), WindowQuery),
    responses(
        (status = 200, description = "The dashboard", body = Overview),
        (status = 400, description = "Unknown window"),
        (status = 404, description = "Unknown dashboard"),
    )
)]
#[tracing::instrument(skip_all, fields(dashboard = %name, window, coalesced))]
pub async fn dashboard(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<WindowQuery>,
) -> ApiResult<Response> {
    let dashboard = Dashboard::parse(&name)?;
    let window = Window::parse(q.window.as_deref().unwrap_or("1h"))?;
    tracing::Span::current().record("window", window.as_str());
    let body = state.dashboards.render(dashboard, window).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

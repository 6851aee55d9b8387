//! The console's slow-query view: `shoplab top-queries` as two routes, so the room sees which statements
//! the database spends its time on (the Database and Storage Selection chapter) without a terminal.
//!
//! Reading is open like the rest of the page; clearing the statistics is a write and needs the token.
//! A server without `pg_stat_statements` is not an error here: the answer says what is missing.

use axum::extract::State;
use kit::error::{ApiError, ApiResult};
use kit::extract::{Json, Query};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ConsoleState;
use super::api::Admin;
use crate::top_queries::{self, Statement, TopError};

/// `?limit=N` (1..=50, default 10).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    pub limit: Option<i64>,
}

/// The top statements, or why there are none.
#[derive(Serialize, ToSchema)]
pub struct TopView {
    /// Whether `pg_stat_statements` can be read in the lab database.
    pub available: bool,
    /// What is missing and how to fix it, when not available.
    pub message: Option<String>,
    /// By total execution time, largest first.
    pub statements: Vec<Statement>,
}

/// The lab database's statements by total execution time (pg_stat_statements).
#[utoipa::path(get, path = "/api/top-queries", tag = "console", params(LimitQuery),
    responses((status = 200, body = TopView), (status = 400, description = "limit out of range")))]
#[tracing::instrument(skip_all)]
pub async fn top(State(st): State<ConsoleState>, Query(q): Query<LimitQuery>) -> ApiResult<Json<TopView>> {
    let limit = q.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::bad_request("invalid_limit", "limit must be between 1 and 50"));
    }
    let view = match top_queries::fetch(&st.pool, limit).await {
        Ok(statements) => TopView { available: true, message: None, statements },
        Err(TopError::Db(e)) => return Err(ApiError::Internal(e.into())),
        Err(missing) => TopView { available: false, message: Some(missing.to_string()), statements: Vec::new() },
    };
    Ok(Json(view))
}

/// Clears the lab database's statement statistics (other databases keep theirs).
#[utoipa::path(post, path = "/api/top-queries/reset", tag = "console",
    responses((status = 200, body = Object), (status = 401), (status = 403),
        (status = 409, description = "pg_stat_statements is not available")),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all)]
pub async fn reset(_: Admin, State(st): State<ConsoleState>) -> ApiResult<Json<serde_json::Value>> {
    match top_queries::reset(&st.pool).await {
        Ok(()) => Ok(Json(serde_json::json!({ "reset": true }))),
        Err(TopError::Db(e)) => Err(ApiError::Internal(e.into())),
        Err(missing) => Err(ApiError::Conflict(missing.to_string())),
    }
}

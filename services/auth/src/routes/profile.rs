//! `GET /me/profile` and `PUT /me/profile`: the caller's own profile — useful, but not critical.
//!
//! The access token is checked locally (signature, expiry); the profile lives in the users table, read
//! through the non-critical pool when `auth.bulkheads` is on.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use kit::db::traced;
use kit::error::{ApiError, ApiResult};
use kit::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::DisplayName;
use crate::levers::bulkheads::Work;
use crate::state::AppState;

/// A user's profile.
#[derive(Serialize, ToSchema, sqlx::FromRow)]
pub struct Profile {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// When the address was confirmed (null: not yet).
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Body of `PUT /me/profile`.
#[derive(Deserialize, ToSchema)]
pub struct ProfileUpdate {
    /// 1 to 80 printable characters.
    pub display_name: String,
}

/// The caller's profile.
#[utoipa::path(get, path = "/me/profile", tag = "profile",
    responses((status = 200, body = Profile), (status = 401, description = "missing or invalid access token")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_profile(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Profile>> {
    const SQL: &str = "select id as user_id, email, display_name, verified_at, created_at from auth.users where id = $1";
    let claims = state.tokens.from_headers(&headers)?;
    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    let mut conn = db.acquire().await?;
    let profile: Option<Profile> = traced(SQL, sqlx::query_as(SQL).bind(claims.sub).fetch_optional(&mut *conn)).await?;
    profile.map(Json).ok_or_else(|| ApiError::NotFound("no such user".into()))
}

/// Changes the caller's display name.
#[utoipa::path(put, path = "/me/profile", tag = "profile", request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 401), (status = 422, description = "invalid display name")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn put_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<ProfileUpdate>,
) -> ApiResult<Json<Profile>> {
    const SQL: &str = "update auth.users set display_name = $2, updated_at = now() where id = $1 \
                       returning id as user_id, email, display_name, verified_at, created_at";
    let claims = state.tokens.from_headers(&headers)?;
    let name = DisplayName::parse(&req.display_name)?;
    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    let mut conn = db.acquire().await?;
    let q = sqlx::query_as(SQL).bind(claims.sub).bind(name.as_str());
    let profile: Option<Profile> = traced(SQL, q.fetch_optional(&mut *conn)).await?;
    profile.map(Json).ok_or_else(|| ApiError::NotFound("no such user".into()))
}

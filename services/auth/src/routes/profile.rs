//! `GET /me/profile` and `PUT /me/profile`: the caller's own profile — useful, but not critical.
//!
//! The access token is checked first ([`Authenticated`]: signature, expiry, issuer, audience — before the
//! body is parsed), then the session must be live: the same query that reads or writes the profile joins
//! the caller's session and finds nothing when it was revoked or has expired (401), so a logged-out token
//! reads nothing, at no extra round trip. The profile lives in the users table, read through the
//! non-critical pool when `auth.bulkheads` is on.

use axum::extract::State;
use chrono::{DateTime, Utc};
use kit::db::traced;
use kit::error::{ApiError, ApiResult};
use kit::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::credentials::Authenticated;
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
    responses((status = 200, body = Profile), (status = 401, description = "missing or invalid access token, or session ended")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_profile(State(state): State<AppState>, Authenticated(claims): Authenticated) -> ApiResult<Json<Profile>> {
    // the caller's row, only while session $2 of user $1 is live
    const SQL: &str = "select id as user_id, email, display_name, verified_at, created_at from auth.users \
                       where id = $1 and exists (select 1 from auth.sessions s where s.id = $2 and s.user_id = $1 \
                       and s.revoked_at is null and s.expires_at > now())";
    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    let mut conn = db.acquire().await?;
    let q = sqlx::query_as(SQL).bind(claims.sub).bind(claims.sid);
    let profile: Option<Profile> = traced(SQL, q.fetch_optional(&mut *conn)).await?;
    profile.map(Json).ok_or_else(session_ended)
}

/// Changes the caller's display name.
#[utoipa::path(put, path = "/me/profile", tag = "profile", request_body = ProfileUpdate,
    responses((status = 200, body = Profile), (status = 401), (status = 422, description = "invalid display name")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub(crate) async fn put_profile(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Json(req): Json<ProfileUpdate>,
) -> ApiResult<Json<Profile>> {
    const SQL: &str = "update auth.users set display_name = $3, updated_at = now() \
                       where id = $1 and exists (select 1 from auth.sessions s where s.id = $2 and s.user_id = $1 \
                       and s.revoked_at is null and s.expires_at > now()) \
                       returning id as user_id, email, display_name, verified_at, created_at";
    let name = DisplayName::parse(&req.display_name)?;
    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    let mut conn = db.acquire().await?;
    let q = sqlx::query_as(SQL).bind(claims.sub).bind(claims.sid).bind(name.as_str());
    let profile: Option<Profile> = traced(SQL, q.fetch_optional(&mut *conn)).await?;
    profile.map(Json).ok_or_else(session_ended)
}

fn session_ended() -> ApiError {
    ApiError::Unauthorized("session revoked or expired".into())
}

//! `POST /login`, `POST /refresh` and `GET /validate`: the critical path every other service depends on.
//!
//! With `auth.bulkheads` on, these take their connections from the critical pool, so a backlog of
//! signups cannot starve them. No connection is held while argon2 runs.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use kit::db::traced;
use kit::error::{ApiError, ApiResult};
use kit::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::credentials::{random_token, token_hash};
use crate::domain::Email;
use crate::levers::bulkheads::Work;
use crate::state::AppState;

/// Body of `POST /login`.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    /// Never logged.
    pub password: String,
}

/// Body of `POST /refresh`.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens returned by login and refresh.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub user_id: Uuid,
    /// JWT (HS256) for `Authorization: Bearer`.
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; exchange it at `POST /refresh`.
    pub refresh_token: String,
}

/// Answer of `GET /validate`.
#[derive(Serialize, ToSchema)]
pub struct Validation {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// When the session (not the access token) ends.
    pub session_expires_at: DateTime<Utc>,
}

/// Exchanges email + password for tokens.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "wrong email or password"),
        (status = 429, description = "rate limited")))]
#[tracing::instrument(skip_all, fields(user.id = tracing::field::Empty))]
pub(crate) async fn login(State(state): State<AppState>, Json(req): Json<LoginRequest>) -> ApiResult<Json<TokenResponse>> {
    const FIND: &str = "select id, password_hash from auth.users where lower(email) = lower($1)";
    let email = Email::parse(&req.email).map_err(|_| wrong_credentials())?;
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let user: Option<(Uuid, String)> = {
        let mut conn = db.acquire().await?;
        traced(FIND, sqlx::query_as(FIND).bind(email.as_str()).fetch_optional(&mut *conn)).await?
    };
    let (user_id, hash) = user.map(|(id, h)| (Some(id), Some(h))).unwrap_or_default();
    if !state.passwords.verify(req.password, hash).await {
        return Err(wrong_credentials());
    }
    let user_id = user_id.ok_or_else(wrong_credentials)?;
    tracing::Span::current().record("user.id", tracing::field::display(user_id));
    Ok(Json(open_session(&state, user_id).await?))
}

/// Creates a session and its tokens.
async fn open_session(state: &AppState, user_id: Uuid) -> ApiResult<TokenResponse> {
    const INSERT: &str = "insert into auth.sessions (id, user_id, token_hash, expires_at) values ($1, $2, $3, $4)";
    let (session_id, refresh) = (Uuid::now_v7(), random_token());
    let expires_at = Utc::now() + state.tokens.refresh_ttl;
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let mut conn = db.acquire().await?;
    let q = sqlx::query(INSERT).bind(session_id).bind(user_id).bind(token_hash(&refresh)).bind(expires_at);
    traced(INSERT, q.execute(&mut *conn)).await?;
    tokens(state, user_id, session_id, refresh)
}

fn tokens(state: &AppState, user_id: Uuid, session_id: Uuid, refresh_token: String) -> ApiResult<TokenResponse> {
    let access_token = state.tokens.issue(user_id, session_id)?;
    let expires_in = state.tokens.access_ttl.as_secs();
    Ok(TokenResponse { user_id, access_token, token_type: "Bearer", expires_in, refresh_token })
}

fn wrong_credentials() -> ApiError {
    ApiError::Unauthorized("wrong email or password".into())
}

/// Exchanges a refresh token for new tokens (the old refresh token stops working).
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "unknown, revoked or expired refresh token")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn refresh(State(state): State<AppState>, Json(req): Json<RefreshRequest>) -> ApiResult<Json<TokenResponse>> {
    const ROTATE: &str = "update auth.sessions set token_hash = $2, expires_at = $3 \
                          where token_hash = $1 and revoked_at is null and expires_at > now() returning id, user_id";
    let fresh = random_token();
    let expires_at = Utc::now() + state.tokens.refresh_ttl;
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let mut conn = db.acquire().await?;
    let q = sqlx::query_as(ROTATE).bind(token_hash(req.refresh_token.trim())).bind(token_hash(&fresh)).bind(expires_at);
    let row: Option<(Uuid, Uuid)> = traced(ROTATE, q.fetch_optional(&mut *conn)).await?;
    let (session_id, user_id) = row.ok_or_else(|| ApiError::Unauthorized("unknown, revoked or expired refresh token".into()))?;
    Ok(Json(tokens(&state, user_id, session_id, fresh)?))
}

/// Checks an access token and its session: the call every other service makes per request.
#[utoipa::path(get, path = "/validate", tag = "auth",
    responses((status = 200, body = Validation),
        (status = 401, description = "missing, invalid or expired token, or session revoked"),
        (status = 429, description = "rate limited")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user.id = tracing::field::Empty))]
pub(crate) async fn validate(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Validation>> {
    const SESSION: &str = "select user_id, expires_at, revoked_at from auth.sessions where id = $1";
    let claims = state.tokens.from_headers(&headers)?;
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let mut conn = db.acquire().await?;
    let row: Option<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> =
        traced(SESSION, sqlx::query_as(SESSION).bind(claims.sid).fetch_optional(&mut *conn)).await?;
    let live = row.filter(|(user, expires, revoked)| *user == claims.sub && *expires > Utc::now() && revoked.is_none());
    let (user_id, session_expires_at, _) = live.ok_or_else(|| ApiError::Unauthorized("session revoked or expired".into()))?;
    tracing::Span::current().record("user.id", tracing::field::display(user_id));
    Ok(Json(Validation { user_id, session_id: claims.sid, session_expires_at }))
}

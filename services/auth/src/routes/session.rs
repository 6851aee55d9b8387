//! `POST /login`, `POST /refresh`, `GET /validate` and `POST /logout`: the critical path every other
//! service depends on.
//!
//! With `auth.bulkheads` on, these take their connections from the critical pool, so a backlog of
//! signups cannot starve them. No connection is held while argon2 runs. Login is guarded twice, whatever
//! the flags: the failed-login throttle answers 429 before any query or hash
//! ([`crate::login_throttle`]), and a login then waits briefly for one of a few password-work permits or
//! answers 503 ([`crate::passwords`]) — before it takes a database connection, so a flood of logins is a
//! flood of cheap refusals that leaves the critical pool to `/validate`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use kit::db::traced;
use kit::error::{ApiError, ApiResult};
use kit::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::credentials::{Authenticated, random_token, token_hash};
use crate::domain::Email;
use crate::error::AuthResult;
use crate::levers::bulkheads::Work;
use crate::levers::local_token_validation::{self, Validation};
use crate::passwords::Admitted;
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

/// Exchanges email + password for tokens.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "wrong email or password"),
        (status = 429, description = "rate limited, or too many failed logins for this account or client"),
        (status = 503, description = "password checks at capacity: retry after Retry-After")))]
#[tracing::instrument(skip_all, fields(user.id = tracing::field::Empty))]
pub(crate) async fn login(
    State(state): State<AppState>,
    Peer(client): Peer,
    Json(req): Json<LoginRequest>,
) -> AuthResult<Json<TokenResponse>> {
    let email = Email::parse(&req.email).map_err(|_| wrong_credentials())?;
    if let Err(wait) = state.throttle.check(email.as_str(), &client) {
        tracing::warn!(event = "login_throttled", "too many failed logins for this account or client");
        return Err(ApiError::TooManyRequests { retry_after_secs: whole_secs(wait) }.into());
    }
    // admission first: a login refused for capacity never queues for a database connection
    let admitted = state.passwords.admit().await?;
    // boxed: the (large) state of the lookup, the hash and the session insert is allocated only for
    // the few admitted logins, not for every login of a flood waiting for a permit
    let user_id = Box::pin(check_password(&state, &email, admitted, req.password)).await?;
    let Some(user_id) = user_id else {
        state.throttle.failed(email.as_str(), &client);
        return Err(wrong_credentials().into());
    };
    state.throttle.succeeded(email.as_str());
    tracing::Span::current().record("user.id", tracing::field::display(user_id));
    Ok(Json(Box::pin(open_session(&state, user_id)).await?))
}

/// The account's id if `password` is its password (unknown accounts cost the same decoy check).
async fn check_password(state: &AppState, email: &Email, admitted: Admitted<'_>, password: String) -> AuthResult<Option<Uuid>> {
    const FIND: &str = "select id, password_hash from auth.users where lower(email) = lower($1)";
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let user: Option<(Uuid, String)> = {
        let mut conn = db.acquire().await?;
        traced(FIND, sqlx::query_as(FIND).bind(email.as_str()).fetch_optional(&mut *conn)).await?
    };
    let (user_id, hash) = user.map(|(id, h)| (Some(id), Some(h))).unwrap_or_default();
    let matched = admitted.verify(password, hash).await?;
    Ok(user_id.filter(|_| matched))
}

/// The client's peer address: the login throttle's per-client key (`X-Client-Id` is only a label).
pub(crate) struct Peer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Peer(format!("ip:{}", ip.as_deref().unwrap_or("unknown"))))
    }
}

/// A wait rounded up to whole seconds, for `Retry-After`.
fn whole_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
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
    tokens(state, user_id, session_id, expires_at, refresh)
}

fn tokens(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    ends: DateTime<Utc>,
    refresh_token: String,
) -> ApiResult<TokenResponse> {
    let access_token = state.tokens.issue(user_id, session_id, ends.timestamp())?;
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
    Ok(Json(tokens(&state, user_id, session_id, expires_at, fresh)?))
}

/// Checks an access token and its session: the call every other service makes per request.
#[utoipa::path(get, path = "/validate", tag = "auth",
    responses((status = 200, body = Validation),
        (status = 401, description = "missing, invalid or expired token, or session revoked"),
        (status = 429, description = "rate limited")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user.id = tracing::field::Empty))]
pub(crate) async fn validate(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Validation>> {
    let claims = state.tokens.from_headers(&headers)?;
    let valid = local_token_validation::validate(&state, &claims).await?;
    tracing::Span::current().record("user.id", tracing::field::display(valid.user_id));
    Ok(Json(valid))
}

/// Ends the caller's session: its access tokens stop validating and its refresh token stops working.
#[utoipa::path(post, path = "/logout", tag = "auth",
    responses((status = 204, description = "the session is revoked (also when it already was)"),
        (status = 401, description = "missing, invalid or expired access token")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user.id = tracing::field::Empty))]
pub(crate) async fn logout(State(state): State<AppState>, Authenticated(claims): Authenticated) -> ApiResult<StatusCode> {
    tracing::Span::current().record("user.id", tracing::field::display(claims.sub));
    const REVOKE: &str = "update auth.sessions set revoked_at = coalesce(revoked_at, now()) where id = $1 and user_id = $2";
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let mut conn = db.acquire().await?;
    traced(REVOKE, sqlx::query(REVOKE).bind(claims.sid).bind(claims.sub).execute(&mut *conn)).await?;
    // this instance stops accepting the token at once; the others at their next refresh
    state.revocations.revoke(claims.sid);
    Ok(StatusCode::NO_CONTENT)
}

//! `POST /signup` and `POST /verify-email`: creating an account and confirming its address.
//!
//! A signup first looks the address up (no password work for an address that is taken), then hashes the
//! password (bounded: [`crate::passwords`], holding no connection), then opens one transaction on the
//! non-critical work's pool: insert the user, insert the verification token's hash, and hand the email
//! to the `auth.async_email` lever — which, in the before state, calls the provider right there, inside
//! the transaction.
//!
//! The answer never says whether the address already had an account (no account enumeration): both
//! cases answer 201 with the same body, and an existing address gets an email of its own through the
//! same lever ("someone tried to sign up with this address") instead of a new account. What still
//! differs is the time of one password hash, which the existing address skips; the docs say so.
//! Verification tokens are stored as their SHA-256, like refresh tokens: only the email carries the token.

use axum::extract::State;
use axum::http::StatusCode;
use kit::db::traced;
use kit::error::{ApiError, ApiResult};
use kit::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::credentials::{random_token, token_hash};
use crate::domain::{DisplayName, Email, Password};
use crate::email::VerificationEmail;
use crate::error::AuthResult;
use crate::levers::async_email::{Delivery, send_verification};
use crate::levers::bulkheads::Work;
use crate::state::AppState;

/// Body of `POST /signup`.
#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    pub email: String,
    /// 8 to 128 characters; never logged.
    pub password: String,
    pub display_name: Option<String>,
}

/// Answer of `POST /signup` — the same whether the address was new or already had an account.
#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    pub email: String,
    /// sent (during the request) or queued (outbox; the worker sends it).
    pub verification_email: Delivery,
}

/// Body of `POST /verify-email`.
#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The token from the verification email.
    pub token: String,
}

/// Answer of `POST /verify-email`.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    pub user_id: Uuid,
    pub verified_at: chrono::DateTime<chrono::Utc>,
}

/// Creates an account and sends (or queues) its verification email; an existing address gets a notice.
#[utoipa::path(post, path = "/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse, description = "account created, or the address's owner notified"),
        (status = 400, description = "malformed JSON"),
        (status = 422, description = "invalid email or password"),
        (status = 429, description = "rate limited"),
        (status = 500, description = "the email provider failed the direct send (auth.async_email off): rolled back"),
        (status = 503, description = "password work at capacity (Retry-After), or the direct send timed out or was \
                                      short-circuited by the breaker: rolled back")))]
#[tracing::instrument(skip_all, fields(email.delivery = tracing::field::Empty))]
pub(crate) async fn signup(
    State(state): State<AppState>,
    Json(req): Json<SignupRequest>,
) -> AuthResult<(StatusCode, Json<SignupResponse>)> {
    let email = Email::parse(&req.email)?;
    let password = Password::parse(req.password)?;
    let name = req.display_name.as_deref().map(DisplayName::parse).transpose()?;
    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    // the duplicate check comes before the hash: a taken address costs no password work
    let plan = match find_owner(&mut *db.acquire().await?, &email).await? {
        Some(owner) => Plan::Notify(owner),
        None => Plan::Create(state.passwords.hash(password).await?),
    };
    let mut tx = db.begin().await?;
    let message = match plan {
        Plan::Notify(owner) => VerificationEmail::already_registered(owner, email.as_str()),
        Plan::Create(hash) => match insert_user(&mut tx, &email, &hash, name.as_ref()).await? {
            Some(user_id) => new_account(&mut tx, user_id, &email).await?,
            // signed up concurrently by someone else since the check: their account stands
            None => VerificationEmail::already_registered(owner_of(&mut tx, &email).await?, email.as_str()),
        },
    };
    let delivery = send_verification(&state, &mut tx, message).await?;
    tx.commit().await?;

    tracing::Span::current().record("email.delivery", tracing::field::debug(delivery));
    let body = SignupResponse { email: email.as_str().to_owned(), verification_email: delivery };
    Ok((StatusCode::CREATED, Json(body)))
}

/// What a signup does once it knows whether the address is taken.
enum Plan {
    /// Taken: email this account's owner instead.
    Notify(Uuid),
    /// Free: create the account with this password hash.
    Create(String),
}

/// The account holding `email` (case-insensitive), if any.
async fn find_owner(conn: &mut sqlx::PgConnection, email: &Email) -> ApiResult<Option<Uuid>> {
    const SQL: &str = "select id from auth.users where lower(email) = lower($1)";
    Ok(traced(SQL, sqlx::query_scalar(SQL).bind(email.as_str()).fetch_optional(conn)).await?)
}

async fn owner_of(conn: &mut sqlx::PgConnection, email: &Email) -> ApiResult<Uuid> {
    find_owner(conn, email).await?.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the conflicting account vanished")))
}

/// Inserts the user; `None` when the address is taken (the unique index on `lower(email)` decides).
async fn insert_user(
    tx: &mut sqlx::PgConnection,
    email: &Email,
    hash: &str,
    name: Option<&DisplayName>,
) -> ApiResult<Option<Uuid>> {
    const SQL: &str = "insert into auth.users (id, email, password_hash, display_name) values ($1, $2, $3, $4) \
                       on conflict ((lower(email))) do nothing returning id";
    let name = name.map(DisplayName::as_str).unwrap_or_default();
    let q = sqlx::query_scalar(SQL).bind(Uuid::now_v7()).bind(email.as_str()).bind(hash).bind(name);
    Ok(traced(SQL, q.fetch_optional(&mut *tx)).await?)
}

/// The verification row (the token's hash) and the email carrying the token itself.
async fn new_account(tx: &mut sqlx::PgConnection, user_id: Uuid, email: &Email) -> ApiResult<VerificationEmail> {
    const SQL: &str =
        "insert into auth.email_verifications (token_hash, user_id, expires_at) values ($1, $2, now() + interval '1 day')";
    let token = random_token();
    traced(SQL, sqlx::query(SQL).bind(token_hash(&token)).bind(user_id).execute(&mut *tx)).await?;
    Ok(VerificationEmail::new(user_id, email.as_str(), token))
}

/// Confirms an address with the token from its verification email.
#[utoipa::path(post, path = "/verify-email", tag = "auth", request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 422, description = "unknown, used or expired token")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn verify_email(
    State(state): State<AppState>,
    Json(req): Json<VerifyRequest>,
) -> ApiResult<Json<VerifyResponse>> {
    const USE: &str = "update auth.email_verifications set used_at = now() \
                       where token_hash = $1 and used_at is null and expires_at > now() returning user_id";
    const VERIFY: &str = "update auth.users set verified_at = coalesce(verified_at, now()), updated_at = now() \
                          where id = $1 returning verified_at";
    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    let mut tx = db.begin().await?;
    let user_id: Option<Uuid> =
        traced(USE, sqlx::query_scalar(USE).bind(token_hash(req.token.trim())).fetch_optional(&mut *tx)).await?;
    let user_id =
        user_id.ok_or_else(|| ApiError::unprocessable("invalid_token", "unknown, used or expired verification token"))?;
    let verified_at = traced(VERIFY, sqlx::query_scalar(VERIFY).bind(user_id).fetch_one(&mut *tx)).await?;
    tx.commit().await?;
    Ok(Json(VerifyResponse { user_id, verified_at }))
}

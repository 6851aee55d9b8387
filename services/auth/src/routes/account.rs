//! `POST /signup` and `POST /verify-email`: creating an account and confirming its address.
//!
//! A signup hashes the password first (on the blocking pool, holding no connection), then opens one
//! transaction on the non-critical work's pool: insert the user (a case-insensitive duplicate is a 409),
//! insert the verification token, and hand the email to the `auth.async_email` lever — which, in the
//! before state, calls the provider right there, inside the transaction.

use axum::extract::State;
use axum::http::StatusCode;
use kit::db::traced;
use kit::error::{ApiError, ApiResult};
use kit::extract::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::credentials::random_token;
use crate::domain::{DisplayName, Email, Password};
use crate::email::VerificationEmail;
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

/// Answer of `POST /signup`.
#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    pub user_id: Uuid,
    pub email: String,
    /// sent (during the request), queued (outbox) or deferred (provider failed; outbox).
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

/// Creates an account and sends (or queues) its verification email.
#[utoipa::path(post, path = "/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse), (status = 400, description = "malformed JSON"),
        (status = 409, description = "an account with this email exists"),
        (status = 422, description = "invalid email or password"),
        (status = 429, description = "rate limited")))]
#[tracing::instrument(skip_all, fields(user.id = tracing::field::Empty, email.delivery = tracing::field::Empty))]
pub(crate) async fn signup(
    State(state): State<AppState>,
    Json(req): Json<SignupRequest>,
) -> ApiResult<(StatusCode, Json<SignupResponse>)> {
    let email = Email::parse(&req.email)?;
    let password = Password::parse(req.password)?;
    let name = req.display_name.as_deref().map(DisplayName::parse).transpose()?;
    let hash = state.passwords.hash(password).await?;

    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    let mut tx = db.begin().await?;
    let user_id = insert_user(&mut tx, &email, &hash, name.as_ref()).await?;
    let token = random_token();
    insert_verification(&mut tx, user_id, &token).await?;
    let delivery = send_verification(&state, &mut tx, VerificationEmail::new(user_id, email.as_str(), token)).await?;
    tx.commit().await?;

    let span = tracing::Span::current();
    span.record("user.id", tracing::field::display(user_id));
    span.record("email.delivery", tracing::field::debug(delivery));
    let body = SignupResponse { user_id, email: email.as_str().to_owned(), verification_email: delivery };
    Ok((StatusCode::CREATED, Json(body)))
}

async fn insert_user(tx: &mut sqlx::PgConnection, email: &Email, hash: &str, name: Option<&DisplayName>) -> ApiResult<Uuid> {
    const SQL: &str = "insert into auth.users (id, email, password_hash, display_name) values ($1, $2, $3, $4)";
    let id = Uuid::now_v7();
    let name = name.map(DisplayName::as_str).unwrap_or_default();
    let res = traced(SQL, sqlx::query(SQL).bind(id).bind(email.as_str()).bind(hash).bind(name).execute(&mut *tx)).await;
    match res {
        Ok(_) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(ApiError::Conflict("an account with this email already exists".into()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn insert_verification(tx: &mut sqlx::PgConnection, user_id: Uuid, token: &str) -> ApiResult<()> {
    const SQL: &str =
        "insert into auth.email_verifications (token, user_id, expires_at) values ($1, $2, now() + interval '1 day')";
    traced(SQL, sqlx::query(SQL).bind(token).bind(user_id).execute(&mut *tx)).await?;
    Ok(())
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
                       where token = $1 and used_at is null and expires_at > now() returning user_id";
    const VERIFY: &str = "update auth.users set verified_at = coalesce(verified_at, now()), updated_at = now() \
                          where id = $1 returning verified_at";
    let db = state.pools.for_work(&state.flags, Work::NonCritical);
    let mut tx = db.begin().await?;
    let user_id: Option<Uuid> = traced(USE, sqlx::query_scalar(USE).bind(req.token.trim()).fetch_optional(&mut *tx)).await?;
    let user_id =
        user_id.ok_or_else(|| ApiError::unprocessable("invalid_token", "unknown, used or expired verification token"))?;
    let verified_at = traced(VERIFY, sqlx::query_scalar(VERIFY).bind(user_id).fetch_one(&mut *tx)).await?;
    tx.commit().await?;
    Ok(Json(VerifyResponse { user_id, verified_at }))
}

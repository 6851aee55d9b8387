//! The email's rows: its outbox row (the road of `auth.async_email`) and the `sent_at` stamp of its
//! verification row. Shared by the signup, which writes both, and the worker, which stamps `sent_at`
//! when the provider accepted a queued email.

use kit::outbox::enqueue;

use super::VerificationEmail;
use super::topology::ROUTING_KEY;

/// Writes `email` to the outbox in the caller's transaction, for the relay to publish to `exchange`.
pub async fn defer(tx: &mut sqlx::PgConnection, exchange: &str, email: &VerificationEmail) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(email).expect("a verification email serializes");
    enqueue(tx, &crate::relay::OUTBOX, exchange, ROUTING_KEY, &payload).await?;
    Ok(())
}

/// Records that the provider accepted the email for `token` (a notice without a token has no row).
pub async fn mark_sent(tx: &mut sqlx::PgConnection, token: Option<&str>) -> Result<(), sqlx::Error> {
    const SQL: &str = "update auth.email_verifications set sent_at = coalesce(sent_at, now()) where token_hash = $1";
    let Some(token) = token else { return Ok(()) };
    kit::db::traced(SQL, sqlx::query(SQL).bind(crate::credentials::token_hash(token)).execute(&mut *tx)).await?;
    Ok(())
}

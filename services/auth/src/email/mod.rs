//! The verification email and the one HTTP client that talks to the email provider.
//!
//! The same [`VerificationEmail`] travels two roads, chosen by `auth.async_email`: straight to the
//! provider from inside the signup request ([`direct`], where the timeout, breaker and retry levers
//! apply), or as an outbox row -> RabbitMQ -> email worker ([`outbox`], `crate::worker`).
//! [`ProviderClient`] is created once at start; its reqwest client has reqwest's default of **no
//! timeout**: whoever calls it decides how long to wait (the naive signup: forever; with
//! `auth.email_timeout_ms`: that long; the worker: its own `AUTH_EMAIL_TIMEOUT_MS`, 5 s).

pub mod direct;
pub mod outbox;
pub mod topology;

use std::time::Duration;

use kit::metrics::Metrics;

use crate::metrics::{AuthMetrics, ResultLabels};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use uuid::Uuid;

/// The message a signup sends — the welcome email with its token, or the notice an existing account's
/// owner gets instead; also the outbox payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerificationEmail {
    pub user_id: Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The token `POST /verify-email` expects (its SHA-256 identifies the `email_verifications` row);
    /// `None` for the notice to an existing account.
    #[serde(default)]
    pub token: Option<String>,
    /// When the signup asked for it: the start of `shoplab_email_delivery_seconds`.
    pub requested_at: DateTime<Utc>,
    /// Idempotency key to send with it instead of the outbox message id (kept for messages written by
    /// earlier versions, which deferred a failed direct attempt under its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl VerificationEmail {
    /// The welcome email for a new account.
    pub fn new(user_id: Uuid, to: &str, token: String) -> Self {
        let body = format!("Welcome to shoplab! Confirm your address with POST /verify-email {{\"token\": \"{token}\"}}");
        Self {
            user_id,
            to: to.to_owned(),
            subject: "Confirm your shoplab account".to_owned(),
            body,
            token: Some(token),
            requested_at: Utc::now(),
            idempotency_key: None,
        }
    }

    /// The notice to the owner of an address someone tried to sign up with (no token, no new account).
    pub fn already_registered(user_id: Uuid, to: &str) -> Self {
        let body = "Someone tried to create a shoplab account with this address, which already has one. \
                    If it was you, log in with POST /login; if not, you can ignore this email."
            .to_owned();
        Self {
            user_id,
            to: to.to_owned(),
            subject: "You already have a shoplab account".to_owned(),
            body,
            token: None,
            requested_at: Utc::now(),
            idempotency_key: None,
        }
    }

    /// Seconds from signup to now (provider accepted).
    pub fn age_secs(&self) -> f64 {
        (Utc::now() - self.requested_at).num_milliseconds().max(0) as f64 / 1000.0
    }
}

/// Why the provider did not accept a message.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No HTTP answer: refused, reset, closed or hung up.
    #[error("no answer from the email provider: {0}")]
    Transport(String),
    /// The provider answered with an error status.
    #[error("email provider answered {0}")]
    Status(u16),
}

impl SendError {
    /// A 4xx (other than 408/429) will fail the same way every time: retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Status(s) if (400..500).contains(s) && *s != 408 && *s != 429)
    }
}

/// Why one guarded provider call did not succeed: the provider's answer, the caller's timeout, or the
/// breaker's refusal. The timeout, breaker and retry levers all speak this type.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    /// No answer within the caller's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The breaker is open: the call was not made.
    #[error("circuit open: call not attempted")]
    ShortCircuited,
    #[error(transparent)]
    Provider(#[from] SendError),
}

impl SendFailure {
    /// Retrying cannot help (the provider rejected the message itself).
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendFailure::Provider(e) if e.is_permanent())
    }

    /// The `shoplab_email_send_total{result}` of a send that ended this way.
    pub fn result_label(&self) -> &'static str {
        match self {
            SendFailure::Timeout(_) => "timed_out",
            SendFailure::ShortCircuited => "short_circuited",
            SendFailure::Provider(_) => "failed",
        }
    }
}

/// Waits for `call` at most `limit`: its outcome, or [`SendFailure::Timeout`].
pub async fn within(limit: Duration, call: impl Future<Output = Result<(), SendError>>) -> Result<(), SendFailure> {
    match tokio::time::timeout(limit, call).await {
        Ok(res) => res.map_err(SendFailure::Provider),
        Err(_) => Err(SendFailure::Timeout(limit)),
    }
}

/// Counts one `shoplab_email_send_total{result}`.
pub fn count(metrics: &Metrics, result: &'static str) {
    AuthMetrics::of(metrics).email_send.get_or_create(&ResultLabels { result }).inc();
}

/// The email provider's HTTP API.
#[derive(Clone)]
pub struct ProviderClient {
    /// `POST {url}/send`.
    send_url: String,
    /// Created once; no timeout of its own.
    http: reqwest::Client,
}

#[derive(Serialize)]
struct SendBody<'a> {
    to: &'a str,
    subject: &'a str,
    body: &'a str,
    idempotency_key: Option<&'a str>,
}

impl ProviderClient {
    /// A client for the provider at `base_url`.
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().build()?;
        Ok(Self { send_url: format!("{}/send", base_url.trim_end_matches('/')), http })
    }

    /// Sends `email`; waits as long as the provider takes (wrap it in a timeout to wait less).
    pub async fn send(&self, email: &VerificationEmail, idempotency_key: Option<&str>) -> Result<(), SendError> {
        let span = tracing::info_span!(
            "email.send",
            otel.name = "POST /send",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = "POST",
            url.full = %self.send_url,
            peer.service = "email-provider",
            http.response.status_code = tracing::field::Empty,
        );
        let res = self.post(email, idempotency_key).instrument(span.clone()).await;
        if res.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        res
    }

    async fn post(&self, email: &VerificationEmail, idempotency_key: Option<&str>) -> Result<(), SendError> {
        let mut headers = http::HeaderMap::new();
        kit::propagation::inject_http(&mut headers);
        let body = SendBody { to: &email.to, subject: &email.subject, body: &email.body, idempotency_key };
        let resp = self.http.post(&self.send_url).headers(headers).json(&body).send().await;
        let resp = resp.map_err(|e| SendError::Transport(describe(&e)))?;
        let status = resp.status().as_u16();
        tracing::Span::current().record("http.response.status_code", status);
        if resp.status().is_success() { Ok(()) } else { Err(SendError::Status(status)) }
    }
}

/// A reqwest error with its causes, on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Shares of a tier's delay that its wait queues hold: "equal jitter" in steps. Half the delay is fixed,
/// the rest is picked at random per message, so retries of many messages that failed together spread
/// out instead of arriving in lockstep. Each step is a queue with its own `x-message-ttl` (a per-message
/// expiration would only expire at the head of its queue, and the shared publish helper sets none).
pub const JITTER_STEPS: [f64; 3] = [0.5, 0.75, 1.0];

/// The un-jittered delay tier of `attempt` (the wait queue's TTL).
pub fn backoff_cap(attempt: u32, base: Duration, max: Duration) -> Duration {
    base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1))).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(10));
        assert_eq!(backoff_cap(1, base, max), base);
        assert_eq!(backoff_cap(3, base, max), Duration::from_secs(4));
        assert_eq!(backoff_cap(6, base, max), max);
    }

    #[test]
    fn only_client_errors_are_permanent() {
        assert!(SendError::Status(422).is_permanent());
        assert!(!SendError::Status(429).is_permanent());
        assert!(!SendError::Status(503).is_permanent());
        assert!(!SendError::Transport("reset".into()).is_permanent());
    }
}

//! Lever `auth.rate_limit` (book chapter "Traffic Management"): a token bucket per client.
//!
//! The book's case study had "no circuit breaker, no rate limiting" before, and added "per-client
//! token-bucket rate limiting". Each client (`X-Client-Id` header, else the peer IP) owns a bucket of
//! `auth.rate_limit_burst` tokens refilled at `auth.rate_limit_per_sec`; a request takes one token, and
//! with the bucket empty it is answered `429 Too Many Requests` with `Retry-After` (seconds until the next
//! token) before it touches a pool, a hash or the provider. One noisy client (a retry storm, a
//! credential-stuffing run) then costs the others nothing.
//!
//! - before: every request goes in, however many a client sends.
//! - after: governor's keyed GCRA limiter (a token bucket without a timer per client). When a trainer
//!   changes the rate or burst flags, the limiter is rebuilt with the new quota at the next request
//!   (every bucket starts full again).
//!
//! Cost: a hash-map lookup per request, memory per active client (pruned every minute), and honest
//! clients behind one IP (an office NAT) share a bucket unless they send an id — which is why k6 sends
//! `X-Client-Id` per virtual user. Refused requests count in `shoplab_rate_limited_total{route}`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use kit::error::ApiError;
use kit::flags::Flags;
use kit::metrics::{Metrics, RouteLabels};

use crate::metrics::AuthMetrics;
use crate::state::AppState;

/// How often idle clients' buckets are forgotten.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// One quota's limiter.
struct Bucket {
    per_sec: u32,
    burst: u32,
    limiter: DefaultKeyedRateLimiter<String>,
}

/// The per-client limiter, rebuilt when its flags change.
#[derive(Default)]
pub struct RateLimiter {
    current: ArcSwapOption<Bucket>,
}

impl RateLimiter {
    /// Takes a token from `client`'s bucket; `Err(wait)` when it is empty.
    pub fn check(&self, client: &str, per_sec: u32, burst: u32) -> Result<(), Duration> {
        let bucket = self.bucket(per_sec.max(1), burst.max(1));
        bucket.limiter.check_key(&client.to_owned()).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// The limiter for this quota, building it if the flags changed.
    fn bucket(&self, per_sec: u32, burst: u32) -> Arc<Bucket> {
        if let Some(b) = self.current.load_full().filter(|b| b.per_sec == per_sec && b.burst == burst) {
            return b;
        }
        let quota = Quota::per_second(nonzero(per_sec)).allow_burst(nonzero(burst));
        let fresh = Arc::new(Bucket { per_sec, burst, limiter: DefaultKeyedRateLimiter::keyed(quota) });
        tracing::info!(event = "rate_limiter_rebuilt", per_sec, burst);
        self.current.store(Some(fresh.clone()));
        fresh
    }

    /// Forgets clients whose buckets are full again (called periodically).
    pub fn prune(&self) {
        if let Some(b) = self.current.load_full() {
            b.limiter.retain_recent();
            b.limiter.shrink_to_fit();
        }
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Middleware on every auth API route.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.flags.bool("auth.rate_limit") {
        // before: no limit at all
        return next.run(req).await;
    }
    // after: one bucket per client
    let (per_sec, burst) = quota(&state.flags);
    match state.limiter.check(&client_key(&req), per_sec, burst) {
        Ok(()) => next.run(req).await,
        Err(wait) => refuse(&state, &req, wait),
    }
}

/// The client's key: its `X-Client-Id`, else its IP address.
fn client_key(req: &Request) -> String {
    if let Some(id) = req.headers().get("x-client-id").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
        return format!("id:{}", &id[..id.len().min(128)]);
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "ip:unknown".to_owned(),
    }
}

fn quota(flags: &Flags) -> (u32, u32) {
    let clamp = |v: i64| v.clamp(1, i64::from(u32::MAX)) as u32;
    (clamp(flags.int("auth.rate_limit_per_sec")), clamp(flags.int("auth.rate_limit_burst")))
}

/// Publishes `route`'s refusal counter at 0 before the first 429, so "no request refused" is a value
/// on the dashboard rather than an empty panel.
pub fn count_from_zero(metrics: &Metrics, route: &str) {
    drop(AuthMetrics::of(metrics).rate_limited.get_or_create(&RouteLabels { route: route.to_owned() }));
}

fn refuse(state: &AppState, req: &Request, wait: Duration) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    AuthMetrics::of(&state.metrics).rate_limited.get_or_create(&RouteLabels { route }).inc();
    let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::TooManyRequests { retry_after_secs }.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let limiter = RateLimiter::default();
        for _ in 0..3 {
            assert!(limiter.check("a", 1, 3).is_ok());
        }
        let wait = limiter.check("a", 1, 3).expect_err("bucket empty");
        assert!(wait <= Duration::from_secs(1));
        assert!(limiter.check("b", 1, 3).is_ok(), "another client has its own bucket");
    }

    #[test]
    fn a_new_quota_rebuilds_the_limiter() {
        let limiter = RateLimiter::default();
        assert!(limiter.check("a", 1, 1).is_ok());
        assert!(limiter.check("a", 1, 1).is_err());
        assert!(limiter.check("a", 1, 2).is_ok(), "a changed burst starts from a full bucket");
    }
}

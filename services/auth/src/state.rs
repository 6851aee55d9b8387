//! The auth service's state: everything a handler needs, created once at start.

use std::ops::Deref;
use std::sync::Arc;

use kit::flags::Flags;
use kit::metrics::Metrics;

use crate::credentials::Tokens;
use crate::email::ProviderClient;
use crate::email::topology::Topology;
use crate::levers::bulkheads::Pools;
use crate::levers::email_circuit_breaker::SharedBreaker;
use crate::levers::local_token_validation::Revocations;
use crate::levers::rate_limit_store::Buckets;
use crate::levers::retry_policy::Retries;
use crate::login_throttle::LoginThrottle;
use crate::passwords::Passwords;
use crate::settings::Settings;

/// Shared by every handler (cheap to clone: one `Arc`).
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// The lab flags (levers and their knobs).
    pub flags: Flags,
    /// Where handlers count emails, breaker state and refused requests.
    pub metrics: Metrics,
    /// Shared, critical and non-critical pools (`auth.bulkheads` picks).
    pub pools: Pools,
    /// Argon2 hashing on the blocking pool, a few at a time.
    pub passwords: Passwords,
    /// Failed logins per account and per client (always on).
    pub throttle: LoginThrottle,
    /// JWT access tokens.
    pub tokens: Tokens,
    /// The email provider's API (one client, no timeout of its own).
    pub provider: ProviderClient,
    /// The email breaker (used when `auth.email_circuit_breaker` is on).
    pub breaker: Arc<SharedBreaker>,
    /// Per-client token buckets (used when `auth.rate_limit` is on), local or in Redis.
    pub buckets: Arc<Buckets>,
    /// Proxies whose forwarded-for headers the rate limiter believes.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Recently revoked sessions (used when `auth.local_token_validation` is on).
    pub revocations: Arc<Revocations>,
    /// The retry budget of the signup's provider call (used when `auth.retry_policy` is `backoff`).
    pub retries: Arc<Retries>,
    /// Exchange names (the outbox rows name the exchange they go to).
    pub topology: Topology,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state from the process's flags/metrics, the settings and the resolved JWT secret.
    pub async fn new(
        config: &kit::Config,
        settings: &Settings,
        jwt_secret: &str,
        flags: Flags,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        let pools = Pools::connect(&config.database_url, settings, &metrics).await?;
        let redis = kit::redis::connect(&config.redis_url, 8).await?;
        let inner = Inner {
            pools,
            passwords: Passwords::new(settings.argon2, settings.password_work).await?,
            throttle: LoginThrottle::new(&settings.throttle),
            tokens: Tokens::new(jwt_secret, settings.access_ttl, settings.refresh_ttl),
            provider: ProviderClient::new(&settings.email_provider_url)?,
            breaker: Arc::new(SharedBreaker::new(settings.breaker, metrics.clone())),
            buckets: Arc::new(Buckets::new(redis, &config.redis_prefix)),
            trusted_proxies: settings.trusted_proxies.clone(),
            revocations: Arc::default(),
            retries: Arc::new(Retries::new(&metrics)),
            topology: Topology::new(&config.amqp_prefix, &settings.email),
            flags,
            metrics,
        };
        Ok(Self(Arc::new(inner)))
    }
}

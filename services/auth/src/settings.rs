//! The auth service's own settings, read once at start by clap from options and `AUTH_*` variables
//! ([`SettingsArgs`], listed with their defaults by `shoplab auth --help`; docs/architecture.md,
//! "Configuration"): every value has a lab default, a bad value fails start-up with one line naming it.
//! The defaults live in one place, `Settings::default()`, which the options show as theirs.
//!
//! The defaults are chosen to make the cascade of case study 3 visible on a laptop: a shared pool of 10
//! connections empties within seconds once signups wait on a slow provider (Little's law: 10 signups/s x
//! 3 s = 30 connections wanted), while the bulkhead pools (6 critical, 4 non-critical) keep login and
//! validation apart from it. Tests shrink the windows (breaker, retries) and the argon2 cost.

use std::time::Duration;

use kit::config::SecretString;

use crate::levers::email_circuit_breaker::BreakerConfig;

pub use crate::settings_args::SettingsArgs;

/// Where the simulated provider listens by default (`shoplab email-provider`).
pub const DEFAULT_EMAIL_PROVIDER_URL: &str = "http://127.0.0.1:8090";

/// Argon2id cost parameters for new password hashes (verification uses the parameters in the stored hash).
#[derive(Clone, Copy, Debug)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Argon2Cost {
    /// The argon2 crate's defaults (OWASP's minimum for argon2id): 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: Self = Self { m_kib: 19 * 1024, t: 2, p: 1 };
    /// A cheap cost for tests: hashing is not what they measure.
    pub const LIGHT: Self = Self { m_kib: 256, t: 1, p: 1 };
}

/// The email pipeline's knobs (worker side).
#[derive(Clone, Debug)]
pub struct EmailSettings {
    /// Timeout of one provider call made by the worker (it never waits forever, whatever the flags).
    pub timeout: Duration,
    /// Deliveries of one message before it goes to the dead-letter queue.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles per attempt.
    pub retry_base: Duration,
    /// Longest delay between two attempts.
    pub retry_max: Duration,
    /// Messages a worker processes at once (also its prefetch).
    pub concurrency: u16,
}

/// How much password work (argon2) may run at once, and how long a request waits for its turn.
#[derive(Clone, Copy, Debug)]
pub struct PasswordWork {
    /// Hashes at once; default: the cores (more only queue for the same CPUs, holding memory).
    pub permits: usize,
    /// Longest wait for a permit before 503 + Retry-After.
    pub wait: Duration,
}

/// The failed-login throttle (always on; see [`crate::login_throttle`]).
#[derive(Clone, Copy, Debug)]
pub struct ThrottleSettings {
    /// Failed logins per account before it is throttled.
    pub account_burst: u32,
    /// Then one more failure allowed per this long.
    pub account_every: Duration,
    /// Failed logins per client (peer address) before it is throttled.
    pub client_burst: u32,
    /// Then one more failure allowed per this long.
    pub client_every: Duration,
}

/// Everything `auth serve`, `auth relay` and `auth email-worker` read besides [`kit::Config`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// Size of the one pool every request shares (bulkheads off).
    pub shared_pool: u32,
    /// Size of the pool of login, refresh and validate (bulkheads on).
    pub critical_pool: u32,
    /// Size of the pool of signup, verify-email and profile (bulkheads on).
    pub noncritical_pool: u32,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout: Duration,
    /// HS256 secret of access tokens as configured (`None`: unset); checked by `auth serve` at start
    /// ([`crate::secret::resolve`]), so the relay and the worker, which sign nothing, do not need it.
    pub jwt_secret: Option<SecretString>,
    /// `SHOPLAB_LAB=1`: a throwaway lab, where a missing JWT secret is generated per process.
    pub lab_mode: bool,
    /// The bound on password work.
    pub password_work: PasswordWork,
    /// The failed-login throttle.
    pub throttle: ThrottleSettings,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token (its session).
    pub refresh_ttl: Duration,
    /// Cost of new password hashes.
    pub argon2: Argon2Cost,
    /// The email circuit breaker.
    pub breaker: BreakerConfig,
    /// Worker retries and timeouts.
    pub email: EmailSettings,
    /// Outbox rows the relay claims per transaction.
    pub relay_batch: i64,
    /// Postgres connections of the relay and the worker.
    pub worker_pool: u32,
    /// Peers whose `X-Forwarded-For` / `Forwarded` the rate limiter believes (`AUTH_TRUSTED_PROXIES`,
    /// comma-separated CIDRs or addresses; default none: the TCP peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where the email provider answers (signup's synchronous call and the email worker).
    pub email_provider_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            shared_pool: 10,
            critical_pool: 6,
            noncritical_pool: 4,
            acquire_timeout: Duration::from_secs(5),
            jwt_secret: None,
            lab_mode: false,
            password_work: PasswordWork {
                permits: std::thread::available_parallelism().map_or(2, usize::from),
                wait: Duration::from_millis(100),
            },
            throttle: ThrottleSettings {
                account_burst: 5,
                account_every: Duration::from_secs(30),
                client_burst: 30,
                client_every: Duration::from_secs(1),
            },
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            argon2: Argon2Cost::DEFAULT,
            breaker: BreakerConfig::default(),
            email: EmailSettings {
                timeout: Duration::from_secs(5),
                max_attempts: 6,
                retry_base: Duration::from_secs(1),
                retry_max: Duration::from_secs(60),
                concurrency: 32,
            },
            relay_batch: 100,
            worker_pool: 8,
            trusted_proxies: Vec::new(),
            email_provider_url: DEFAULT_EMAIL_PROVIDER_URL.to_owned(),
        }
    }
}

/// `10.0.0.0/8`, `10.1.2.3` or `::1` as a network (a bare address is its own /32 or /128).
pub fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse().ok().or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

//! The auth service's own settings, read once from the environment at start (docs/architecture.md,
//! "Configuration": every value has a lab default, a bad value fails start-up with one line naming the
//! variable).
//!
//! The defaults are chosen to make the cascade of case study 3 visible on a laptop: a shared pool of 10
//! connections empties within seconds once signups wait on a slow provider (Little's law: 10 signups/s x
//! 3 s = 30 connections wanted), while the bulkhead pools (6 critical, 4 non-critical) keep login and
//! validation apart from it. Tests shrink the windows (breaker, retries) and the argon2 cost.

use std::str::FromStr;
use std::time::Duration;

use crate::email::breaker::BreakerConfig;

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
    pub jwt_secret: Option<crate::secret::Secret>,
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
        }
    }
}

impl Settings {
    /// Reads `AUTH_*` variables over the defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        let d = Self::default();
        let ms = |name: &str, default: Duration| -> anyhow::Result<Duration> {
            Ok(Duration::from_millis(var(name, default.as_millis() as u64)?))
        };
        let breaker = BreakerConfig {
            timeout: ms("AUTH_BREAKER_TIMEOUT_MS", d.breaker.timeout)?,
            failure_rate: var("AUTH_BREAKER_FAILURE_RATE", d.breaker.failure_rate)?,
            window: ms("AUTH_BREAKER_WINDOW_MS", d.breaker.window)?,
            min_calls: var("AUTH_BREAKER_MIN_CALLS", d.breaker.min_calls)?,
            open_for: ms("AUTH_BREAKER_OPEN_MS", d.breaker.open_for)?,
            half_open_probes: var("AUTH_BREAKER_HALF_OPEN_PROBES", d.breaker.half_open_probes)?,
        };
        let email = EmailSettings {
            timeout: ms("AUTH_EMAIL_TIMEOUT_MS", breaker.timeout)?,
            max_attempts: var("AUTH_EMAIL_MAX_ATTEMPTS", d.email.max_attempts)?.max(1),
            retry_base: ms("AUTH_EMAIL_RETRY_BASE_MS", d.email.retry_base)?,
            retry_max: ms("AUTH_EMAIL_RETRY_MAX_MS", d.email.retry_max)?,
            concurrency: var("AUTH_WORKER_CONCURRENCY", d.email.concurrency)?.max(1),
        };
        let argon2 = Argon2Cost {
            m_kib: var("AUTH_ARGON2_M_KIB", d.argon2.m_kib)?,
            t: var("AUTH_ARGON2_T", d.argon2.t)?,
            p: var("AUTH_ARGON2_P", d.argon2.p)?,
        };
        Ok(Self {
            shared_pool: var("AUTH_SHARED_POOL_SIZE", d.shared_pool)?,
            critical_pool: var("AUTH_CRITICAL_POOL_SIZE", d.critical_pool)?,
            noncritical_pool: var("AUTH_NONCRITICAL_POOL_SIZE", d.noncritical_pool)?,
            acquire_timeout: ms("AUTH_DB_ACQUIRE_TIMEOUT_MS", d.acquire_timeout)?,
            jwt_secret: crate::secret::from_env()?,
            lab_mode: std::env::var("SHOPLAB_LAB").is_ok_and(|v| v == "1"),
            password_work: PasswordWork {
                permits: var("AUTH_PASSWORD_PERMITS", d.password_work.permits)?.max(1),
                wait: ms("AUTH_PASSWORD_WAIT_MS", d.password_work.wait)?,
            },
            throttle: ThrottleSettings {
                account_burst: var("AUTH_LOGIN_FAILURES_PER_ACCOUNT", d.throttle.account_burst)?,
                account_every: ms("AUTH_LOGIN_ACCOUNT_FORGIVE_MS", d.throttle.account_every)?,
                client_burst: var("AUTH_LOGIN_FAILURES_PER_CLIENT", d.throttle.client_burst)?,
                client_every: ms("AUTH_LOGIN_CLIENT_FORGIVE_MS", d.throttle.client_every)?,
            },
            access_ttl: Duration::from_secs(var("AUTH_ACCESS_TTL_SECS", d.access_ttl.as_secs())?),
            refresh_ttl: Duration::from_secs(var("AUTH_REFRESH_TTL_SECS", d.refresh_ttl.as_secs())?),
            argon2,
            breaker,
            email,
            relay_batch: var("AUTH_RELAY_BATCH", d.relay_batch)?,
            worker_pool: var("AUTH_WORKER_POOL_SIZE", d.worker_pool)?,
            trusted_proxies: proxies("AUTH_TRUSTED_PROXIES")?,
        })
    }
}

/// A comma-separated list of CIDRs or single addresses (a bare address is its own /32 or /128).
fn proxies(name: &str) -> anyhow::Result<Vec<ipnet::IpNet>> {
    let raw = kit::config::env_or(name, "");
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_net(s).ok_or_else(|| anyhow::anyhow!("{name}={raw}: {s} is not a CIDR or an IP address (default: none)")))
        .collect()
}

/// `10.0.0.0/8`, `10.1.2.3` or `::1` as a network.
pub fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse().ok().or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// `name` parsed as `T`, or `default` when unset; a bad value is one clear error.
fn var<T: FromStr + ToString>(name: &str, default: T) -> anyhow::Result<T> {
    let raw = kit::config::env_or(name, &default.to_string());
    raw.trim().parse().map_err(|_| anyhow::anyhow!("{name}={raw} is not a valid value (default {})", default.to_string()))
}

//! The options (and `AUTH_*` variables) behind [`Settings`]: one clap argument per setting, whose default
//! is the value of `Settings::default()`, so `shoplab auth --help` shows the defaults the code uses.

use std::time::Duration;

use clap::Args;
use kit::config::{EmptyIsDefault, SecretString, non_empty};

use crate::levers::email_circuit_breaker::BreakerConfig;
use crate::settings::{Argon2Cost, EmailSettings, PasswordWork, Settings, ThrottleSettings};

/// The defaults, as shown by `--help`.
fn d() -> Settings {
    Settings::default()
}

/// A duration in whole milliseconds (how the `*_MS` variables give it).
fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// A number where an empty variable means the default.
macro_rules! num {
    ($t:ty) => {
        kit::config::parsed::<$t>()
    };
}

/// Every setting of `shoplab auth` (all processes read the same; each uses what it needs).
#[derive(Args, Clone, Debug)]
pub struct SettingsArgs {
    /// Size of the one Postgres pool every request shares (bulkheads off).
    #[arg(long, env = "AUTH_SHARED_POOL_SIZE", default_value_t = d().shared_pool, value_parser = num!(u32))]
    pub shared_pool_size: u32,
    /// Pool of login, refresh and validate (bulkheads on).
    #[arg(long, env = "AUTH_CRITICAL_POOL_SIZE", default_value_t = d().critical_pool, value_parser = num!(u32))]
    pub critical_pool_size: u32,
    /// Pool of signup, verify-email and profile (bulkheads on).
    #[arg(long, env = "AUTH_NONCRITICAL_POOL_SIZE", default_value_t = d().noncritical_pool, value_parser = num!(u32))]
    pub noncritical_pool_size: u32,
    /// How long a request waits for a pooled connection before failing (ms).
    #[arg(long, env = "AUTH_DB_ACQUIRE_TIMEOUT_MS", default_value_t = ms(d().acquire_timeout), value_parser = num!(u64))]
    pub db_acquire_timeout_ms: u64,
    /// Postgres connections of the relay and the email worker.
    #[arg(long, env = "AUTH_WORKER_POOL_SIZE", default_value_t = d().worker_pool, value_parser = num!(u32))]
    pub worker_pool_size: u32,
    /// Password hashes computed at once (default: the machine's cores).
    #[arg(long, env = "AUTH_PASSWORD_PERMITS", value_parser = num!(usize))]
    pub password_permits: Option<usize>,
    /// Longest wait for a hashing permit before 503 + Retry-After (ms).
    #[arg(long, env = "AUTH_PASSWORD_WAIT_MS", default_value_t = ms(d().password_work.wait), value_parser = num!(u64))]
    pub password_wait_ms: u64,
    /// Failed logins per account before it is throttled.
    #[arg(long, env = "AUTH_LOGIN_FAILURES_PER_ACCOUNT", default_value_t = d().throttle.account_burst, value_parser = num!(u32))]
    pub login_failures_per_account: u32,
    /// Then one more failure per account allowed per this long (ms).
    #[arg(long, env = "AUTH_LOGIN_ACCOUNT_FORGIVE_MS", default_value_t = ms(d().throttle.account_every), value_parser = num!(u64))]
    pub login_account_forgive_ms: u64,
    /// Failed logins per client (peer address) before it is throttled.
    #[arg(long, env = "AUTH_LOGIN_FAILURES_PER_CLIENT", default_value_t = d().throttle.client_burst, value_parser = num!(u32))]
    pub login_failures_per_client: u32,
    /// Then one more failure per client allowed per this long (ms).
    #[arg(long, env = "AUTH_LOGIN_CLIENT_FORGIVE_MS", default_value_t = ms(d().throttle.client_every), value_parser = num!(u64))]
    pub login_client_forgive_ms: u64,
    /// Lifetime of an access token (s).
    #[arg(long, env = "AUTH_ACCESS_TTL_SECS", default_value_t = d().access_ttl.as_secs(), value_parser = num!(u64))]
    pub access_ttl_secs: u64,
    /// Lifetime of a refresh token, that is of its session (s).
    #[arg(long, env = "AUTH_REFRESH_TTL_SECS", default_value_t = d().refresh_ttl.as_secs(), value_parser = num!(u64))]
    pub refresh_ttl_secs: u64,
    /// Argon2id memory of new password hashes (KiB).
    #[arg(long, env = "AUTH_ARGON2_M_KIB", default_value_t = d().argon2.m_kib, value_parser = num!(u32))]
    pub argon2_m_kib: u32,
    /// Argon2id iterations.
    #[arg(long, env = "AUTH_ARGON2_T", default_value_t = d().argon2.t, value_parser = num!(u32))]
    pub argon2_t: u32,
    /// Argon2id parallelism.
    #[arg(long, env = "AUTH_ARGON2_P", default_value_t = d().argon2.p, value_parser = num!(u32))]
    pub argon2_p: u32,
    /// Failure share (0..1) over the window at which the breaker opens.
    #[arg(long, env = "AUTH_BREAKER_FAILURE_RATE", default_value_t = d().breaker.failure_rate, value_parser = num!(f64))]
    pub breaker_failure_rate: f64,
    /// Length of the breaker's rolling window (ms).
    #[arg(long, env = "AUTH_BREAKER_WINDOW_MS", default_value_t = ms(d().breaker.window), value_parser = num!(u64))]
    pub breaker_window_ms: u64,
    /// Fewest outcomes in the window before the failure rate is trusted.
    #[arg(long, env = "AUTH_BREAKER_MIN_CALLS", default_value_t = d().breaker.min_calls, value_parser = num!(u32))]
    pub breaker_min_calls: u32,
    /// How long the breaker stays open before probing (ms).
    #[arg(long, env = "AUTH_BREAKER_OPEN_MS", default_value_t = ms(d().breaker.open_for), value_parser = num!(u64))]
    pub breaker_open_ms: u64,
    /// Calls let through while half-open.
    #[arg(long, env = "AUTH_BREAKER_HALF_OPEN_PROBES", default_value_t = d().breaker.half_open_probes, value_parser = num!(u32))]
    pub breaker_half_open_probes: u32,
    /// Timeout of one provider call made by the email worker (ms; the signup's own call is bounded by
    /// the flag `auth.email_timeout_ms` instead).
    #[arg(long, env = "AUTH_EMAIL_TIMEOUT_MS", default_value_t = ms(d().email.timeout), value_parser = num!(u64))]
    pub email_timeout_ms: u64,
    /// Deliveries of one message before it goes to the dead-letter queue.
    #[arg(long, env = "AUTH_EMAIL_MAX_ATTEMPTS", default_value_t = d().email.max_attempts, value_parser = num!(u32))]
    pub email_max_attempts: u32,
    /// Delay before the first retry, doubling per attempt (ms).
    #[arg(long, env = "AUTH_EMAIL_RETRY_BASE_MS", default_value_t = ms(d().email.retry_base), value_parser = num!(u64))]
    pub email_retry_base_ms: u64,
    /// Longest delay between two attempts (ms).
    #[arg(long, env = "AUTH_EMAIL_RETRY_MAX_MS", default_value_t = ms(d().email.retry_max), value_parser = num!(u64))]
    pub email_retry_max_ms: u64,
    /// Messages an email worker processes at once (also its prefetch).
    #[arg(long, env = "AUTH_WORKER_CONCURRENCY", default_value_t = d().email.concurrency, value_parser = num!(u16))]
    pub worker_concurrency: u16,
    /// Outbox rows the relay claims per transaction.
    #[arg(long, env = "AUTH_RELAY_BATCH", default_value_t = d().relay_batch, value_parser = num!(i64))]
    pub relay_batch: i64,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` the rate limiter believes: comma-separated
    /// CIDRs or addresses (default none: the TCP peer is the client).
    #[arg(long, env = "AUTH_TRUSTED_PROXIES", value_delimiter = ',', value_parser = proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where the email provider answers.
    #[arg(long, env = "EMAIL_PROVIDER_URL", default_value = crate::settings::DEFAULT_EMAIL_PROVIDER_URL, value_parser = non_empty())]
    pub email_provider_url: String,
    /// HS256 secret of access tokens (at least 32 bytes; `auth serve` refuses to start without one
    /// outside lab mode).
    #[arg(long, env = "AUTH_JWT_SECRET", hide_env_values = true, value_parser = kit::config::secret())]
    pub jwt_secret: Option<SecretString>,
    /// File holding the JWT secret (a mounted secret), read when AUTH_JWT_SECRET is unset or empty.
    #[arg(long, env = "AUTH_JWT_SECRET_FILE", value_parser = non_empty())]
    pub jwt_secret_file: Option<String>,
    /// A throwaway lab (set by `shoplab up` and compose): a missing JWT secret is generated per process.
    #[arg(long = "lab", env = "SHOPLAB_LAB", value_parser = EmptyIsDefault(clap::builder::BoolishValueParser::new()))]
    pub lab_mode: bool,
}

/// One entry of `AUTH_TRUSTED_PROXIES`: `10.0.0.0/8`, `10.1.2.3` or `::1`.
fn proxy(s: &str) -> Result<ipnet::IpNet, String> {
    crate::settings::parse_net(s.trim()).ok_or_else(|| format!("{s} is not a CIDR or an IP address"))
}

impl SettingsArgs {
    /// The settings these options describe; fails only when the JWT secret file cannot be read.
    pub fn settings(self) -> anyhow::Result<Settings> {
        let breaker = BreakerConfig {
            failure_rate: self.breaker_failure_rate,
            window: Duration::from_millis(self.breaker_window_ms),
            min_calls: self.breaker_min_calls,
            open_for: Duration::from_millis(self.breaker_open_ms),
            half_open_probes: self.breaker_half_open_probes,
        };
        let email = EmailSettings {
            timeout: Duration::from_millis(self.email_timeout_ms),
            max_attempts: self.email_max_attempts.max(1),
            retry_base: Duration::from_millis(self.email_retry_base_ms),
            retry_max: Duration::from_millis(self.email_retry_max_ms),
            concurrency: self.worker_concurrency.max(1),
        };
        Ok(Settings {
            shared_pool: self.shared_pool_size,
            critical_pool: self.critical_pool_size,
            noncritical_pool: self.noncritical_pool_size,
            acquire_timeout: Duration::from_millis(self.db_acquire_timeout_ms),
            jwt_secret: crate::secret::configured(self.jwt_secret, self.jwt_secret_file.as_deref())?,
            lab_mode: self.lab_mode,
            password_work: PasswordWork {
                permits: self.password_permits.unwrap_or(Settings::default().password_work.permits).max(1),
                wait: Duration::from_millis(self.password_wait_ms),
            },
            throttle: ThrottleSettings {
                account_burst: self.login_failures_per_account,
                account_every: Duration::from_millis(self.login_account_forgive_ms),
                client_burst: self.login_failures_per_client,
                client_every: Duration::from_millis(self.login_client_forgive_ms),
            },
            access_ttl: Duration::from_secs(self.access_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_ttl_secs),
            argon2: Argon2Cost { m_kib: self.argon2_m_kib, t: self.argon2_t, p: self.argon2_p },
            breaker,
            email,
            relay_batch: self.relay_batch,
            worker_pool: self.worker_pool_size,
            trusted_proxies: self.trusted_proxies,
            email_provider_url: self.email_provider_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        args: SettingsArgs,
    }

    #[test]
    fn the_options_defaults_are_the_settings_defaults() {
        let parsed = Probe::try_parse_from(["auth", "--jwt-secret", ""]).unwrap().args.settings().unwrap();
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Settings::default()));
    }

    #[test]
    fn options_reach_the_settings_and_a_bad_number_names_its_option() {
        let args =
            ["auth", "--email-timeout-ms", "250", "--lab", "--email-max-attempts", "0", "--trusted-proxies", "10.0.0.0/8,::1"];
        let s = Probe::try_parse_from(args).unwrap().args.settings().unwrap();
        assert_eq!(s.email.timeout, Duration::from_millis(250));
        assert_eq!(s.trusted_proxies.len(), 2, "a comma-separated list of networks");
        assert_eq!(s.email.max_attempts, 1, "at least one delivery");
        assert!(s.lab_mode);
        let err = Probe::try_parse_from(["auth", "--shared-pool-size", "ten"]).err().unwrap().to_string();
        assert!(err.contains("--shared-pool-size"), "{err}");
        let err = Probe::try_parse_from(["auth", "--trusted-proxies", "nope"]).err().unwrap().to_string();
        assert!(err.contains("not a CIDR"), "{err}");
    }
}

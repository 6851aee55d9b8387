//! Typed configuration read once from the environment at start.
//!
//! Every value has a default that works on a developer machine with Postgres, Redis and RabbitMQ on their
//! standard local ports (docs/architecture.md, "Configuration"), so `cargo run` needs no setup. Nothing reads
//! the environment after start: handlers get what they need from the state built from this struct.

use std::net::SocketAddr;

/// Connection and naming settings shared by every shoplab process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Postgres connection string; the database holds the product, auth, analytics and lab schemas.
    pub database_url: String,
    /// Redis connection string (cache, pre-aggregates, locks).
    pub redis_url: String,
    /// RabbitMQ connection string.
    pub amqp_url: String,
    /// Prefix of every Redis key this process writes, so tests and several labs can share one Redis.
    pub redis_prefix: String,
    /// Prefix of every exchange and queue this process declares, for the same reason.
    pub amqp_prefix: String,
    /// Bearer token for admin writes; `None` refuses them with a message saying how to enable them
    /// (see [`admin_token`] for where it comes from).
    pub admin_token: Option<String>,
    /// Where the email provider is reached (used by auth).
    pub email_provider_url: String,
}

/// Default local addresses of each process (docs/architecture.md, "Processes").
pub mod addr {
    pub const PRODUCT: &str = "127.0.0.1:8081";
    pub const AUTH: &str = "127.0.0.1:8082";
    pub const ANALYTICS: &str = "127.0.0.1:8083";
    pub const EMAIL_PROVIDER: &str = "127.0.0.1:8090";
    pub const AUTH_RELAY: &str = "127.0.0.1:9101";
    pub const EMAIL_WORKER: &str = "127.0.0.1:9102";
    pub const ANALYTICS_RELAY: &str = "127.0.0.1:9103";
    pub const AGGREGATOR: &str = "127.0.0.1:9104";
}

impl Config {
    /// Reads the environment, falling back to the local defaults.
    pub fn from_env() -> Self {
        Self {
            database_url: env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoplab"),
            redis_url: env_or("REDIS_URL", "redis://127.0.0.1:6379"),
            amqp_url: env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            redis_prefix: env_or("SHOPLAB_REDIS_PREFIX", "shoplab:"),
            amqp_prefix: env_or("SHOPLAB_AMQP_PREFIX", "shoplab"),
            admin_token: admin_token(std::env::var("SHOPLAB_ADMIN_TOKEN").ok(), std::env::var("SHOPLAB_ADMIN_TOKEN_FILE").ok()),
            email_provider_url: env_or("EMAIL_PROVIDER_URL", "http://127.0.0.1:8090"),
        }
    }
}

/// The admin token from `SHOPLAB_ADMIN_TOKEN` (`var`) or, when that is unset, from the file named by
/// `SHOPLAB_ADMIN_TOKEN_FILE` (`file`, e.g. a secret mounted by compose).
///
/// A variable that is set but empty means "admin writes disabled" and is never replaced by the file, so
/// an operator can switch writes off explicitly. An empty or unreadable file disables them too (with one
/// line on stderr for the unreadable case): no default token ever grants writes.
pub fn admin_token(var: Option<String>, file: Option<String>) -> Option<String> {
    if let Some(token) = var {
        return Some(token).filter(|t| !t.is_empty());
    }
    let path = file.filter(|f| !f.is_empty())?;
    match std::fs::read_to_string(&path) {
        Ok(raw) => Some(raw.trim().to_owned()).filter(|t| !t.is_empty()),
        Err(e) => {
            eprintln!("SHOPLAB_ADMIN_TOKEN_FILE={path} cannot be read ({e}): admin writes are disabled");
            None
        }
    }
}

/// The value of `name`, or `default` when unset or empty.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// Parses a listen address from `name` (or `default`), failing with one clear line.
pub fn listen_addr(name: &str, default: &str) -> anyhow::Result<SocketAddr> {
    let raw = env_or(name, default);
    raw.parse().map_err(|_| anyhow::anyhow!("{name}={raw} is not a socket address like 127.0.0.1:8081"))
}

#[cfg(test)]
mod tests {
    use super::admin_token;

    #[test]
    fn a_set_but_empty_token_disables_writes_even_with_a_file() {
        let file = std::env::temp_dir().join(format!("shoplab-token-{}", std::process::id()));
        std::fs::write(&file, "from-file\n").unwrap();
        let path = Some(file.display().to_string());
        assert_eq!(admin_token(Some(String::new()), path.clone()), None);
        assert_eq!(admin_token(Some("given".into()), path.clone()).as_deref(), Some("given"));
        assert_eq!(admin_token(None, path).as_deref(), Some("from-file"), "the file is read, trimmed");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn no_token_anywhere_means_no_writes() {
        assert_eq!(admin_token(None, None), None);
        assert_eq!(admin_token(None, Some("/nonexistent/shoplab-admin-token".into())), None);
        let empty = std::env::temp_dir().join(format!("shoplab-empty-token-{}", std::process::id()));
        std::fs::write(&empty, "  \n").unwrap();
        assert_eq!(admin_token(None, Some(empty.display().to_string())), None);
        std::fs::remove_file(&empty).unwrap();
    }
}

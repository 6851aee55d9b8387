//! Typed configuration, read once at start by clap from the command line and the environment.
//!
//! One mechanism for every process: each setting is a clap argument with `env = "..."` and a default that
//! works on a developer machine with Postgres, Redis and RabbitMQ on their standard local ports
//! (docs/architecture.md, "Configuration", is checked against these definitions by a test), so
//! `shoplab --help` and every `shoplab <service> --help` list each variable with its default, and a value
//! that does not parse stops the process with clap's one-line error naming the option. Nothing reads the
//! environment after start: handlers get what they need from the state built from [`Config`].
//!
//! An empty variable counts as unset (compose files pass `${X:-}`), except `SHOPLAB_ADMIN_TOKEN`, where
//! set-but-empty means "admin writes disabled". Secrets are [`SecretString`]s: `Debug` never prints them
//! and `--help` never shows their current value.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
pub use secrecy::{ExposeSecret, SecretString};

/// Variables read by libraries rather than by shoplab's own options (the OpenTelemetry SDK and the log
/// filter); shown under every command's `--help`, listed in the docs' table beside the options.
pub const LIBRARY_ENV: &str = "\
Read by the telemetry libraries (docs/architecture.md, \"Traces\"):
  OTEL_EXPORTER_OTLP_ENDPOINT   OTLP collector (unset: no export)
  OTEL_EXPORTER_OTLP_PROTOCOL   grpc (default) or http/protobuf
  OTEL_SERVICE_NAME, OTEL_BSP_SCHEDULE_DELAY   the SDK's (sampling is the flag telemetry.trace_sampling)
  RUST_LOG                      log filter (info, chatty dependencies at warn)";

/// The variables of [`LIBRARY_ENV`] as (name, default, meaning), for the docs' table (`shoplab env`).
pub const LIBRARY_VARS: &[(&str, &str, &str)] = &[
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "none: no export", "OTLP collector of every process (docs/architecture.md, \"Traces\")"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "`grpc` or `http/protobuf`"),
    ("OTEL_SERVICE_NAME", "the process's name", "the `service.name` of its spans"),
    ("OTEL_BSP_SCHEDULE_DELAY", "`5000` (ms)", "the OpenTelemetry SDK's export interval"),
    ("RUST_LOG", "info, chatty dependencies at warn", "log filter of every process"),
];

/// Where every process finds Postgres, Redis and RabbitMQ (global options of `shoplab`).
#[derive(clap::Args, Clone, Debug)]
pub struct Connections {
    /// Postgres connection string; the database holds every service's schema and the lab's.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true,
          default_value = "postgres://postgres@127.0.0.1:5432/shoplab", value_parser = non_empty())]
    pub database_url: String,
    /// Redis connection string (cache, pre-aggregates, locks).
    #[arg(long, env = "REDIS_URL", global = true, hide_env_values = true,
          default_value = "redis://127.0.0.1:6379", value_parser = non_empty())]
    pub redis_url: String,
    /// RabbitMQ connection string.
    #[arg(long, env = "AMQP_URL", global = true, hide_env_values = true,
          default_value = "amqp://guest:guest@127.0.0.1:5672/%2f", value_parser = non_empty())]
    pub amqp_url: String,
}

/// What every service and worker reads besides [`Connections`]: its names and the admin token.
#[derive(clap::Args, Clone, Debug)]
pub struct ServiceArgs {
    /// Prefix of every Redis key, so tests and several labs can share one Redis.
    #[arg(long, env = "SHOPLAB_REDIS_PREFIX", default_value = "shoplab:", value_parser = non_empty())]
    pub redis_prefix: String,
    /// Prefix of every exchange and queue, so tests and several labs can share one RabbitMQ.
    #[arg(long, env = "SHOPLAB_AMQP_PREFIX", default_value = "shoplab", value_parser = non_empty())]
    pub amqp_prefix: String,
    /// Bearer token for admin writes over HTTP; set but empty disables them (never replaced by the file).
    #[arg(long, env = "SHOPLAB_ADMIN_TOKEN", hide_env_values = true, value_parser = secret())]
    pub admin_token: Option<SecretString>,
    /// File holding the admin token (a mounted secret), read when SHOPLAB_ADMIN_TOKEN is unset.
    #[arg(long, env = "SHOPLAB_ADMIN_TOKEN_FILE", value_parser = non_empty())]
    pub admin_token_file: Option<String>,
}

/// Connection and naming settings shared by every shoplab process, resolved from the options.
///
/// `Debug` shows the connection strings without their passwords (a compose lab generates them).
#[derive(Clone)]
pub struct Config {
    /// Postgres connection string; the database holds every service's schema and the lab's.
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
    pub admin_token: Option<SecretString>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redacted(&self.database_url))
            .field("redis_url", &redacted(&self.redis_url))
            .field("amqp_url", &redacted(&self.amqp_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("amqp_prefix", &self.amqp_prefix)
            .field("admin_token", &self.admin_token)
            .finish()
    }
}

/// `url` with its password replaced by `***` (unparsable: the scheme only).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => url.split_once("://").map_or_else(|| "(unparsable)".to_owned(), |(scheme, _)| format!("{scheme}://...")),
    }
}

impl Config {
    /// The settings of a service: its connections and its [`ServiceArgs`], the admin token resolved.
    pub fn new(connections: Connections, service: ServiceArgs) -> Self {
        Self {
            database_url: connections.database_url,
            redis_url: connections.redis_url,
            amqp_url: connections.amqp_url,
            redis_prefix: service.redis_prefix,
            amqp_prefix: service.amqp_prefix,
            admin_token: admin_token(service.admin_token, service.admin_token_file),
        }
    }

    /// The same options parsed from the environment alone (tests, and commands that need a service's
    /// names without being one), through the same clap definitions.
    pub fn from_env() -> Self {
        #[derive(clap::Parser)]
        struct EnvOnly {
            #[command(flatten)]
            connections: Connections,
            #[command(flatten)]
            service: ServiceArgs,
        }
        let parsed = <EnvOnly as clap::Parser>::try_parse_from(["shoplab"]).unwrap_or_else(|e| e.exit());
        Self::new(parsed.connections, parsed.service)
    }
}

/// The admin token from `SHOPLAB_ADMIN_TOKEN` (`var`) or, when that is unset, from the file named by
/// `SHOPLAB_ADMIN_TOKEN_FILE` (`file`, e.g. a secret mounted by compose).
///
/// A variable that is set but empty means "admin writes disabled" and is never replaced by the file, so
/// an operator can switch writes off explicitly. An empty or unreadable file disables them too (with one
/// line on stderr for the unreadable case): no default token ever grants writes.
pub fn admin_token(var: Option<SecretString>, file: Option<String>) -> Option<SecretString> {
    if let Some(token) = var {
        return Some(token).filter(|t| !t.expose_secret().is_empty());
    }
    let path = file.filter(|f| !f.is_empty())?;
    match std::fs::read_to_string(&path) {
        Ok(raw) => Some(raw.trim().to_owned()).filter(|t| !t.is_empty()).map(SecretString::from),
        Err(e) => {
            eprintln!("SHOPLAB_ADMIN_TOKEN_FILE={path} cannot be read ({e}): admin writes are disabled");
            None
        }
    }
}

/// A clap value parser for a secret: any text, kept as a [`SecretString`].
pub fn secret() -> impl TypedValueParser<Value = SecretString> {
    clap::builder::StringValueParser::new().map(SecretString::from)
}

/// A clap value parser for text where an empty value (`X=` in a compose file) means the default.
pub fn non_empty() -> EmptyIsDefault<clap::builder::StringValueParser> {
    EmptyIsDefault(clap::builder::StringValueParser::new())
}

/// A clap value parser for any `FromStr` value (numbers, durations in ms, ...), where an empty value
/// means the default; a bad value is clap's one-line error naming the option.
pub fn parsed<T>() -> EmptyIsDefault<impl TypedValueParser<Value = T>>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    EmptyIsDefault(clap::builder::StringValueParser::new().try_map(|s| s.trim().parse::<T>()))
}

/// Wraps a value parser so that an empty value parses the argument's default instead (see [`non_empty`]).
#[derive(Clone)]
pub struct EmptyIsDefault<P>(pub P);

impl<P: TypedValueParser> TypedValueParser for EmptyIsDefault<P> {
    type Value = P::Value;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &OsStr) -> Result<Self::Value, clap::Error> {
        let default = arg.and_then(|a| a.get_default_values().first());
        match default {
            Some(default) if value.is_empty() => self.0.parse_ref(cmd, arg, default),
            _ => self.0.parse_ref(cmd, arg, value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(t: Option<SecretString>) -> Option<String> {
        t.map(|t| t.expose_secret().to_owned())
    }

    #[test]
    fn a_set_but_empty_token_disables_writes_even_with_a_file() {
        let file = std::env::temp_dir().join(format!("shoplab-token-{}", std::process::id()));
        std::fs::write(&file, "from-file\n").unwrap();
        let path = Some(file.display().to_string());
        assert_eq!(token(admin_token(Some("".into()), path.clone())), None);
        assert_eq!(token(admin_token(Some("given".into()), path.clone())).as_deref(), Some("given"));
        assert_eq!(token(admin_token(None, path)).as_deref(), Some("from-file"), "the file is read, trimmed");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn no_token_anywhere_means_no_writes() {
        assert!(admin_token(None, None).is_none());
        assert!(admin_token(None, Some("/nonexistent/shoplab-admin-token".into())).is_none());
        let empty = std::env::temp_dir().join(format!("shoplab-empty-token-{}", std::process::id()));
        std::fs::write(&empty, "  \n").unwrap();
        assert!(admin_token(None, Some(empty.display().to_string())).is_none());
        std::fs::remove_file(&empty).unwrap();
    }

    #[derive(clap::Parser)]
    struct Probe {
        #[command(flatten)]
        connections: Connections,
        #[command(flatten)]
        service: ServiceArgs,
    }

    #[test]
    fn empty_values_mean_the_default_and_secrets_never_print() {
        use clap::Parser;
        let p = Probe::try_parse_from(["x", "--redis-prefix", "", "--admin-token", "s3cr3t", "--database-url", ""]).unwrap();
        assert_eq!(p.service.redis_prefix, "shoplab:");
        assert_eq!(p.connections.database_url, "postgres://postgres@127.0.0.1:5432/shoplab");
        let mut config = Config::new(p.connections, p.service);
        config.amqp_url = "amqp://lab:pa55word@rabbitmq:5672/%2f".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("pa55word"), "{shown}");
        assert!(shown.contains("amqp://lab:***@rabbitmq:5672/%2f"), "{shown}");
        assert_eq!(config.admin_token.as_ref().map(|t| t.expose_secret()), Some("s3cr3t"));
    }
}

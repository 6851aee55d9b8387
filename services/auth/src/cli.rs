//! `shoplab auth serve | relay | email-worker`: the auth API and its two background processes.
//!
//! The `shoplab` binary parses its command line and calls [`run`]. Start-up lives here, in the library,
//! so the service is compiled once, in this crate, and the one binary that runs every process only
//! dispatches to it.

use clap::Subcommand;
use kit::Config;
use kit::app::Core;
use kit::config::addr;

use crate::settings::Settings;

/// Environment variables the auth processes read (shown by `shoplab auth --help`).
const ENV_HELP: &str = "\
Environment:
  AUTH_ADDR                     listen address of `serve` (127.0.0.1:8082)
  METRICS_ADDR                  /healthz, /readyz, /metrics of `relay` (:9101) and `email-worker` (:9102)
  DATABASE_URL, REDIS_URL, AMQP_URL   Postgres, Redis, RabbitMQ (local defaults; also --database-url, ...)
  SHOPLAB_REDIS_PREFIX, SHOPLAB_AMQP_PREFIX   prefixes of Redis keys and RabbitMQ names (shoplab)
  SHOPLAB_ADMIN_TOKEN           Bearer token for admin writes (unset: refused)
  EMAIL_PROVIDER_URL            where the email provider answers (http://127.0.0.1:8090)
  AUTH_JWT_SECRET               HS256 secret of access tokens
  AUTH_SHARED_POOL_SIZE, AUTH_CRITICAL_POOL_SIZE, AUTH_NONCRITICAL_POOL_SIZE, AUTH_DB_ACQUIRE_TIMEOUT_MS,
  AUTH_ACCESS_TTL_SECS, AUTH_REFRESH_TTL_SECS, AUTH_ARGON2_M_KIB, AUTH_ARGON2_T, AUTH_ARGON2_P,
  AUTH_BREAKER_TIMEOUT_MS, AUTH_BREAKER_FAILURE_RATE, AUTH_BREAKER_WINDOW_MS, AUTH_BREAKER_MIN_CALLS,
  AUTH_BREAKER_OPEN_MS, AUTH_BREAKER_HALF_OPEN_PROBES, AUTH_EMAIL_TIMEOUT_MS, AUTH_EMAIL_MAX_ATTEMPTS,
  AUTH_EMAIL_RETRY_BASE_MS, AUTH_EMAIL_RETRY_MAX_MS, AUTH_WORKER_CONCURRENCY, AUTH_WORKER_POOL_SIZE,
  AUTH_RELAY_BATCH              tuning, with defaults and meaning in docs/case-study-3.md
  AUTH_TRUSTED_PROXIES          CIDRs/addresses whose X-Forwarded-For the rate limiter believes (none)
  OTEL_EXPORTER_OTLP_ENDPOINT   OTLP collector (unset: no export); OTEL_EXPORTER_OTLP_PROTOCOL,
                                OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_SCHEDULE_DELAY
  RUST_LOG                      log filter (info)";

/// The processes of `shoplab auth`.
#[derive(Subcommand, Debug, Clone)]
#[command(after_help = ENV_HELP)]
pub enum AuthCommand {
    /// The HTTP API: signup, login, refresh, validate, profile.
    Serve {
        /// Listen address.
        #[arg(long, env = "AUTH_ADDR", default_value = addr::AUTH)]
        addr: String,
    },
    /// Publishes the auth outbox to RabbitMQ.
    Relay {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::AUTH_RELAY)]
        metrics_addr: String,
    },
    /// Sends verification emails from RabbitMQ, with retries and a dead-letter queue.
    EmailWorker {
        /// Where /healthz, /readyz and /metrics are served.
        #[arg(long, env = "METRICS_ADDR", default_value = addr::EMAIL_WORKER)]
        metrics_addr: String,
    },
}

impl AuthCommand {
    /// The name of the process in traces, metrics and logs.
    pub fn service(&self) -> &'static str {
        match self {
            Self::Serve { .. } => crate::startup::SERVICE,
            Self::Relay { .. } => crate::relay::SERVICE,
            Self::EmailWorker { .. } => crate::worker::SERVICE,
        }
    }
}

/// Runs one auth process until Ctrl-C or SIGTERM.
pub async fn run(config: Config, command: AuthCommand) -> anyhow::Result<()> {
    let service = command.service();
    kit::supervise::run_process(service, Box::pin(serve(config, command, service))).await
}

async fn serve(config: Config, command: AuthCommand, service: &'static str) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    match command {
        AuthCommand::Serve { addr } => {
            let app = crate::build(config, settings, &addr).await?;
            app.run_until_stopped(kit::http::shutdown_signal()).await?;
        }
        AuthCommand::Relay { metrics_addr } => {
            let core = Core::connect(service, config, settings.worker_pool).await?;
            let work = |stop| crate::relay::run(core.clone(), settings, stop);
            kit::worker::serve(core.base(), &metrics_addr, work).await?;
        }
        AuthCommand::EmailWorker { metrics_addr } => {
            let core = Core::connect(service, config, settings.worker_pool).await?;
            let work = |stop| crate::worker::run(core.clone(), settings, stop);
            kit::worker::serve(core.base(), &metrics_addr, work).await?;
        }
    }
    Ok(())
}

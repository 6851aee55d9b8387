//! Command-line interface: every subcommand and its options.
//!
//! One binary runs every process of the lab: the lab's commands (`migrate`, `up`, `case`, ...) and, as
//! `shoplab product`, `shoplab auth serve`, ..., each service and worker, whose start-up lives in its own
//! library's `cli` module. Shared code (axum, hyper, sqlx, the kit) is compiled and linked once.

use clap::{Parser, Subcommand};

use crate::{calibrate, compare, console, database, doctor, flags, health, reset, seed, up};

/// shoplab: a reference e-commerce API whose performance optimizations are flags you flip live.
#[derive(Parser, Debug)]
#[command(name = "shoplab", version, about, long_about = None)]
pub struct Cli {
    /// Postgres connection string.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/shoplab", global = true)]
    pub database_url: String,
    /// Redis connection string (checked by `doctor`, used by the services; `seed` resets the pre-aggregates there).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", global = true)]
    pub redis_url: String,
    /// RabbitMQ connection string (checked by `doctor`, used by the services).
    #[arg(long, env = "AMQP_URL", default_value = "amqp://guest:guest@127.0.0.1:5672/%2f", global = true)]
    pub amqp_url: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the database if missing and apply all migrations.
    Migrate(database::MigrateArgs),
    /// Load the deterministic lab data set with COPY (idempotent: a complete data set is left alone).
    Seed(seed::SeedArgs),
    /// Read and flip the lab's feature flags (through the database; every service sees it within 1 s).
    #[command(subcommand)]
    Flags(flags::FlagsCmd),
    /// Check Postgres, Redis, RabbitMQ, the schema, the data and k6; exit non-zero if a dependency is missing.
    Doctor,
    /// Start the whole lab natively (migrate, seed if empty, every service and worker); Ctrl-C stops all.
    Up(up::UpArgs),
    /// Run a case study's k6 scenario; with --compare before vs after, with --steps one lever at a time.
    Case(compare::CaseArgs),
    /// Find the rate at which each case's before state shows the book's before shape; store it for `case`.
    Calibrate(calibrate::CalibrateArgs),
    /// Put a case (default: all) back to its starting state: before flags, cache emptied, queues drained.
    Reset(reset::ResetArgs),
    /// Serve the trainer console: switches for every lever, live numbers, load button (default :8088).
    Console(console::ConsoleArgs),
    /// The lab database's statements by total time (pg_stat_statements): find the N+1 pattern; --reset clears.
    TopQueries(crate::top_queries::TopQueriesArgs),
    /// Run the product API (case study 1).
    Product(product::cli::ProductArgs),
    /// Run an auth process (case study 3): the API, the outbox relay or the email worker.
    #[command(subcommand)]
    Auth(auth::cli::AuthCommand),
    /// Run an analytics process (case study 2): the API (default), the outbox relay or the aggregator.
    Analytics(analytics::cli::AnalyticsArgs),
    /// Run the simulated email provider (case study 3's flaky downstream).
    EmailProvider(email_provider::cli::ProviderArgs),
    /// Exit 0 when URL answers 2xx, else print one line and exit 1 (container health checks).
    Health(health::HealthArgs),
    /// Serve the bare ceiling endpoints of bench/ceilings.sh (static, one Redis GET, one Postgres lookup).
    #[command(hide = true)]
    BenchServer(crate::bench_server::BenchServerArgs),
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => database::migrate_waiting(&cli.database_url, args.wait).await,
        Command::Seed(args) => {
            seed::run_with(&cli.database_url, &cli.redis_url, &kit::Config::from_env().redis_prefix, args).await
        }
        Command::Flags(cmd) => flags::run(&cli.database_url, cmd).await,
        Command::Doctor => doctor::run(&cli.database_url, &cli.redis_url, &cli.amqp_url).await,
        Command::Console(args) => console::run(&cli.database_url, args).await,
        Command::Case(args) => compare::run(&cli.database_url, &cli.redis_url, &cli.amqp_url, args).await,
        Command::Calibrate(args) => calibrate::run(&cli.database_url, &cli.redis_url, &cli.amqp_url, args).await,
        Command::Reset(args) => reset::run(&cli.database_url, &cli.redis_url, &cli.amqp_url, args).await,
        Command::Up(args) => up::run(&cli.database_url, &cli.redis_url, &cli.amqp_url, args).await,
        Command::TopQueries(args) => crate::top_queries::run(&cli.database_url, args).await,
        Command::Health(args) => health::run(args).await,
        Command::BenchServer(args) => crate::bench_server::run(&cli.database_url, &cli.redis_url, args).await,
        Command::Product(args) => product::cli::run(service_config(&cli.database_url, &cli.redis_url, &cli.amqp_url), args).await,
        Command::Auth(cmd) => auth::cli::run(service_config(&cli.database_url, &cli.redis_url, &cli.amqp_url), cmd).await,
        Command::Analytics(args) => {
            analytics::cli::run(service_config(&cli.database_url, &cli.redis_url, &cli.amqp_url), args).await
        }
        Command::EmailProvider(args) => {
            email_provider::cli::run(service_config(&cli.database_url, &cli.redis_url, &cli.amqp_url), args).await
        }
    }
}

/// A service's configuration: the environment, with the connection strings given on the command line.
fn service_config(database_url: &str, redis_url: &str, amqp_url: &str) -> kit::Config {
    let mut config = kit::Config::from_env();
    config.database_url = database_url.to_owned();
    config.redis_url = redis_url.to_owned();
    config.amqp_url = amqp_url.to_owned();
    config
}

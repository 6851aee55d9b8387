//! Command-line interface: every subcommand and its options.
//!
//! One binary runs every process of the lab: the lab's commands (`migrate`, `up`, `case`, ...) and, as
//! `shoplab product`, `shoplab auth serve`, ..., each service and worker, whose start-up lives in its own
//! library's `cli` module. Shared code (axum, hyper, sqlx, the kit) is compiled and linked once.

use clap::{Parser, Subcommand};

use crate::{calibrate, compare, console, database, doctor, flags, health, lever, reset, seed, up};

/// shoplab: a reference e-commerce API whose performance optimizations are flags you flip live.
#[derive(Parser, Debug)]
#[command(name = "shoplab", version, about, long_about = None, after_help = kit::config::LIBRARY_ENV)]
pub struct Cli {
    #[command(flatten)]
    pub connections: kit::config::Connections,
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
    /// One lever: `list` shows every lever by chapter; `NAME --compare` runs its scenario off, then on.
    Lever(lever::LeverArgs),
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
    Auth(auth::cli::AuthArgs),
    /// Run an analytics process (case study 2): the API (default), the outbox relay or the aggregator.
    Analytics(analytics::cli::AnalyticsArgs),
    /// Run the simulated email provider (case study 3's flaky downstream).
    EmailProvider(email_provider::cli::ProviderArgs),
    /// Print every environment variable of every command with its default and who reads it (Markdown).
    Env,
    /// Exit 0 when URL answers 2xx, else print one line and exit 1 (container health checks).
    Health(health::HealthArgs),
    /// Serve the bare ceiling endpoints of bench/ceilings.sh (static, one Redis GET, one Postgres lookup).
    #[command(hide = true)]
    BenchServer(crate::bench_server::BenchServerArgs),
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let c = cli.connections;
    let (db, redis, amqp) = (c.database_url.as_str(), c.redis_url.as_str(), c.amqp_url.as_str());
    match cli.command {
        Command::Migrate(args) => database::migrate_waiting(db, args.wait).await,
        Command::Seed(args) => seed::run_with(db, redis, &kit::Config::from_env().redis_prefix, args).await,
        Command::Flags(cmd) => flags::run(db, cmd).await,
        Command::Doctor => doctor::run(db, redis, amqp).await,
        Command::Console(args) => console::run(db, args).await,
        Command::Case(args) => compare::run(db, redis, amqp, args).await,
        Command::Lever(args) => lever::run(db, redis, amqp, args).await,
        Command::Calibrate(args) => calibrate::run(db, redis, amqp, args).await,
        Command::Reset(args) => reset::run(db, redis, amqp, args).await,
        Command::Up(args) => up::run(db, redis, amqp, args).await,
        Command::TopQueries(args) => crate::top_queries::run(db, args).await,
        Command::Health(args) => health::run(args).await,
        Command::Env => {
            print!("{}", crate::env_table::markdown());
            Ok(())
        }
        Command::BenchServer(args) => crate::bench_server::run(db, redis, args).await,
        Command::Product(args) => product::cli::run(c.clone(), args).await,
        Command::Auth(args) => auth::cli::run(c.clone(), args).await,
        Command::Analytics(args) => analytics::cli::run(c.clone(), args).await,
        Command::EmailProvider(args) => email_provider::cli::run(c.clone(), args).await,
    }
}

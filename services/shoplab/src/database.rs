//! `shoplab migrate`: creates the database when it does not exist yet, then applies the migrations.
//!
//! `--wait 60s` retries the first connection for up to that long, for start-up jobs that may run before
//! Postgres accepts connections (a fresh compose volume); after that, a missing Postgres is an error.

use std::time::{Duration, Instant};

use clap::Args;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

/// Splits `postgres://.../shoplab` into the server URL (on database `postgres`) and the database name.
fn split(url: &str) -> anyhow::Result<(String, String)> {
    let mut u = url::Url::parse(url).map_err(|e| anyhow::anyhow!("DATABASE_URL is not a URL: {e}"))?;
    let name = u.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL {} names no database", kit::deps::redact(url));
    anyhow::ensure!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "database name {name} must be [A-Za-z0-9_]");
    u.set_path("/postgres");
    Ok((u.to_string(), name))
}

/// Options of `shoplab migrate`.
#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    /// Keep retrying the first connection for up to this long (`60s`, `2m`) before giving up.
    #[arg(long, value_parser = parse_wait, default_value = "0s")]
    pub wait: Duration,
}

/// Parses `30`, `30s`, `2m` into a duration.
pub fn parse_wait(raw: &str) -> Result<Duration, String> {
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{raw:?} is not a duration like 60s or 2m"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{raw:?}: use seconds (60s) or minutes (2m)")),
    }
}

/// Creates the database if missing and migrates it.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    migrate_waiting(url, Duration::ZERO).await
}

/// [`migrate`], retrying the first connection for up to `wait`.
pub async fn migrate_waiting(url: &str, wait: Duration) -> anyhow::Result<()> {
    let (server, name) = split(url)?;
    let mut admin = connect_waiting(&server, url, wait).await?;
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(&name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&mut admin).await?;
        println!("created database {name}");
    }
    let pool = connect(url, 2).await?;
    kit::migrate::run(&pool).await?;
    println!("migrations applied ({} in total)", kit::migrate::MIGRATOR.iter().count());
    Ok(())
}

/// Connects to `server`, retrying every second for up to `wait`; errors name `url` without its password.
async fn connect_waiting(server: &str, url: &str, wait: Duration) -> anyhow::Result<PgConnection> {
    let started = Instant::now();
    loop {
        match PgConnection::connect(server).await {
            Ok(conn) => return Ok(conn),
            Err(e) if started.elapsed() + Duration::from_secs(1) <= wait => {
                let endpoint = kit::deps::endpoint(url);
                eprintln!("waiting for Postgres at {endpoint} ({} s so far): {}", started.elapsed().as_secs(), short(&e));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(kit::deps::postgres_error(url, &e)),
        }
    }
}

fn short(e: &sqlx::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

/// A pool on the lab database with a clear error when it is missing.
pub async fn connect(url: &str, max: u32) -> anyhow::Result<PgPool> {
    PgPoolOptions::new().max_connections(max).connect(url).await.map_err(|e| kit::deps::postgres_error(url, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_parse_in_seconds_or_minutes() {
        assert_eq!(parse_wait("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_wait("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_wait("15"), Ok(Duration::from_secs(15)));
        assert!(parse_wait("soon").is_err() && parse_wait("5h").is_err() && parse_wait("").is_err());
    }
}

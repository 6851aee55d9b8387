//! `shoplab migrate`: creates the database when it does not exist yet, then applies the migrations.

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

/// Creates the database if missing and migrates it.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let (server, name) = split(url)?;
    let mut admin = PgConnection::connect(&server).await.map_err(|e| kit::deps::postgres_error(url, &e))?;
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

/// A pool on the lab database with a clear error when it is missing.
pub async fn connect(url: &str, max: u32) -> anyhow::Result<PgPool> {
    PgPoolOptions::new().max_connections(max).connect(url).await.map_err(|e| kit::deps::postgres_error(url, &e))
}

//! `shoplab top-queries`: the lab database's statements ranked by total execution time, from
//! `pg_stat_statements` — the slow-query view of the Database and Storage Selection chapter.
//!
//! The book's team found the N+1 pattern and the missing indexes by looking at what the database spent
//! its time on. This is the same look: one row per normalised statement (parameters as `$1`), with its
//! calls, total and mean time and rows. An N+1 shows as a per-item statement (`where product_id = $1`)
//! called about twenty times as often as the page query above it. Only this database's statements are
//! shown and `--reset` clears only them, so several labs (or tests) on one server do not disturb each other.
//!
//! Needs the extension preloaded (`shared_preload_libraries = 'pg_stat_statements'`, as `.ci/services.sh`
//! and the compose Postgres configure it) and created in the database (migration 0030 does when it can).

use clap::Args;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

#[derive(Args, Debug, Clone)]
pub struct TopQueriesArgs {
    /// How many statements to show.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=200))]
    pub limit: i64,
    /// Clear this database's statistics (and show nothing): start a measurement from zero.
    #[arg(long)]
    pub reset: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One normalised statement and what it cost since the last reset.
#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Statement {
    /// Statement text with its parameters as `$1`, `$2`, ... (whitespace collapsed).
    pub query: String,
    /// Times it ran.
    pub calls: i64,
    /// Execution time summed over every call, in milliseconds.
    pub total_ms: f64,
    /// Mean execution time of one call, in milliseconds.
    pub mean_ms: f64,
    /// Rows returned or affected, summed.
    pub rows: i64,
    /// Share (0..1) of this database's total execution time.
    pub share: f64,
}

/// Why there is nothing to show, said with the fix.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error(
        "pg_stat_statements is not installed in this database: preload it (shared_preload_libraries = \
         'pg_stat_statements', see .ci/services.sh), restart Postgres, then run `shoplab migrate`"
    )]
    NotInstalled,
    #[error(
        "pg_stat_statements is installed but not preloaded: ALTER SYSTEM SET shared_preload_libraries = \
         'pg_stat_statements' and restart Postgres (.ci/services.sh does both)"
    )]
    NotPreloaded,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// This database's statements by total execution time, the statistics' own queries left out.
const TOP: &str = "with mine as (\
        select regexp_replace(query, '\\s+', ' ', 'g') as query, calls, total_exec_time, mean_exec_time, rows \
        from pg_stat_statements \
        where dbid = (select oid from pg_database where datname = current_database()) \
          and query not ilike '%pg_stat_statements%') \
    select query, calls, total_exec_time as total_ms, mean_exec_time as mean_ms, rows, \
        coalesce(total_exec_time / nullif(sum(total_exec_time) over (), 0), 0) as share \
    from mine order by total_exec_time desc limit $1";

/// The top `limit` statements of the database `pool` is connected to.
pub async fn fetch(pool: &PgPool, limit: i64) -> Result<Vec<Statement>, TopError> {
    ensure_installed(pool).await?;
    sqlx::query_as(TOP).bind(limit).fetch_all(pool).await.map_err(classify)
}

/// Clears the statistics of this database only (other databases on the server keep theirs).
pub async fn reset(pool: &PgPool) -> Result<(), TopError> {
    ensure_installed(pool).await?;
    const RESET: &str = "select pg_stat_statements_reset(0, (select oid from pg_database where datname = current_database()), 0)";
    sqlx::query(RESET).execute(pool).await.map_err(classify)?;
    Ok(())
}

async fn ensure_installed(pool: &PgPool) -> Result<(), TopError> {
    const INSTALLED: &str = "select exists (select 1 from pg_extension where extname = 'pg_stat_statements')";
    let installed: bool = sqlx::query_scalar(INSTALLED).fetch_one(pool).await?;
    if installed { Ok(()) } else { Err(TopError::NotInstalled) }
}

/// Postgres says "must be loaded via shared_preload_libraries" when the view exists but the library is not loaded.
fn classify(e: sqlx::Error) -> TopError {
    match &e {
        sqlx::Error::Database(db) if db.message().contains("shared_preload_libraries") => TopError::NotPreloaded,
        _ => TopError::Db(e),
    }
}

/// The statements as a fixed-width table, statement text last (cut to `width` characters).
pub fn table(rows: &[Statement], width: usize) -> String {
    let mut out = format!("{:>11} {:>9} {:>10} {:>9} {:>6}  statement\n", "total ms", "calls", "mean ms", "rows", "share");
    for s in rows {
        let text: String = s.query.chars().take(width).collect();
        let cut = if s.query.chars().count() > width { "…" } else { "" };
        out.push_str(&format!(
            "{:>11.1} {:>9} {:>10.3} {:>9} {:>5.1}%  {text}{cut}\n",
            s.total_ms,
            s.calls,
            s.mean_ms,
            s.rows,
            s.share * 100.0
        ));
    }
    out
}

/// Runs the command.
pub async fn run(database_url: &str, args: TopQueriesArgs) -> anyhow::Result<()> {
    let pool = crate::database::connect(database_url, 1).await?;
    if args.reset {
        reset(&pool).await?;
        println!("pg_stat_statements reset for {}", kit::deps::endpoint(database_url));
        return Ok(());
    }
    let rows = fetch(&pool, args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no statements recorded since the last reset: put some load on the lab first");
    } else {
        print!("{}", table(&rows, 110));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_cuts_long_statements_and_shows_shares() {
        let s = |q: &str, calls| Statement { query: q.into(), calls, total_ms: 1234.5, mean_ms: 0.5, rows: calls, share: 0.75 };
        let out = table(&[s("select 1", 3), s(&"x".repeat(50), 20)], 10);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].ends_with("75.0%  select 1"), "{}", lines[1]);
        assert!(lines[2].ends_with(&format!("{}…", "x".repeat(10))), "{}", lines[2]);
        assert!(lines[2].contains(" 20 "), "{}", lines[2]);
    }
}

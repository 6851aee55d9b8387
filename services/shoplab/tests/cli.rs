//! The CLI's data and health commands against the real services.

use std::process::Command;

use kit::testing::TestEnv;

fn shoplab(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shoplab")).args(args).env("DATABASE_URL", url).output().expect("run shoplab")
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
    let url = env.config().database_url;
    let args = ["seed", "--quiet", "--products", "300", "--categories", "30", "--users", "40", "--events", "5000"];
    let first = shoplab(&url, &args);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("seeded in"), "prints the time it took");
    let after_first = counts(&env.pool).await;
    assert_eq!(after_first, vec![30, 300, 3000, 900, 40, 5000]);
    let first_price: i64 =
        sqlx::query_scalar("select amount_cents from product.prices order by id limit 1").fetch_one(&env.pool).await.unwrap();

    let second = shoplab(&url, &args);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already seeded"));
    assert_eq!(counts(&env.pool).await, after_first);

    // a different size reloads deterministically: same first price as before
    let bigger =
        shoplab(&url, &["seed", "--quiet", "--products", "310", "--categories", "30", "--users", "40", "--events", "5000"]);
    assert!(bigger.status.success());
    assert_eq!(counts(&env.pool).await[1], 310);
    let again: i64 = sqlx::query_scalar("select amount_cents from product.prices order by product_id, valid_from limit 1")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let before: i64 = first_price;
    assert!(again > 0 && before > 0);
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
    let out = shoplab("postgres://postgres@127.0.0.1:1/shoplab", &["flags", "list"]);
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

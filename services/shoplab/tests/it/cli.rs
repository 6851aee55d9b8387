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

/// A checksum of every seeded row: the columns the generators decide (timestamps relative to the time of
/// seeding and the password hash's random salt are left out). Rows are hashed in text order, so the
/// same rows in another physical order give the same checksum, and any changed value another one.
async fn checksum(pool: &sqlx::PgPool) -> String {
    const ROWS: &str = "select md5(string_agg(r, ',' order by r)) from (
        select 'c' || row(id, parent_id, name, slug)::text r from product.categories
        union all select 'p' || row(id, sku, name, description, category_id, brand, popularity)::text from product.products
        union all select 'pr' || row(product_id, currency, amount_cents)::text from product.prices
        union all select 'i' || row(product_id, warehouse_id, quantity)::text from product.inventory
        union all select 'u' || row(email)::text from auth.users
        union all select 'e' || row(type, product_id, user_id, session_id, amount_cents)::text from analytics.events
    ) t";
    sqlx::query_scalar(ROWS).fetch_one(pool).await.unwrap()
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
    let first_sum = checksum(&env.pool).await;

    let second = shoplab(&env, &args);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already seeded"));
    assert_eq!(counts(&env.pool).await, after_first);

    // another size reloads; going back to the first size reloads the very same catalogue (fixed RNG seed)
    let bigger =
        shoplab(&env, &["seed", "--quiet", "--products", "310", "--categories", "30", "--users", "40", "--events", "5000"]);
    assert!(bigger.status.success());
    assert_eq!(counts(&env.pool).await[1], 310);
    assert_ne!(checksum(&env.pool).await, first_sum, "the checksum sees a different data set");
    let back = shoplab(&env, &args);
    assert!(back.status.success());
    assert_eq!(counts(&env.pool).await, after_first);
    assert_eq!(checksum(&env.pool).await, first_sum, "the very same rows after a reseed: the seed is deterministic");
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

#[test]
fn configuration_table_in_docs_is_generated_from_the_clap_definitions() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/architecture.md")).expect("docs exist");
    let generated = shoplab::env_table::markdown();
    assert!(
        doc.contains(&generated),
        "docs/architecture.md, \"Configuration\", disagrees with the options: paste the output of `shoplab env`:\n{generated}"
    );
}

#[test]
fn every_service_help_lists_its_variables_with_defaults() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_shoplab")).args(args).arg("--help").output().expect("run shoplab");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cases: [(&[&str], &[&str]); 4] = [
        (
            &["product"],
            &["PRODUCT_ADDR", "PRODUCT_DB_POOL", "DATABASE_URL", "SHOPLAB_ADMIN_TOKEN_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT"],
        ),
        (&["auth", "serve"], &["AUTH_ADDR", "DATABASE_URL", "AMQP_URL"]),
        (&["auth"], &["AUTH_JWT_SECRET_FILE", "SHOPLAB_LAB", "EMAIL_PROVIDER_URL", "AUTH_TRUSTED_PROXIES"]),
        (&["analytics"], &["ANALYTICS_ADDR", "SHOPLAB_REDIS_PREFIX", "SHOPLAB_AMQP_PREFIX", "RUST_LOG"]),
    ];
    for (args, vars) in cases {
        let text = help(args);
        for var in vars {
            assert!(text.contains(var), "`shoplab {} --help` misses {var}:\n{text}", args.join(" "));
        }
    }
    let product = help(&["product"]);
    assert!(product.contains("[default: 127.0.0.1:8081]") && product.contains("[default: 10]"), "{product}");
    let secret = Command::new(env!("CARGO_BIN_EXE_shoplab"))
        .args(["auth", "--help"])
        .env("AUTH_JWT_SECRET", "do-not-print-me")
        .env("SHOPLAB_ADMIN_TOKEN", "nor-me")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&secret.stdout);
    assert!(!text.contains("do-not-print-me") && !text.contains("nor-me"), "help shows no secret");
}

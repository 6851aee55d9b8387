//! The commands a start-up job runs on every `up` (compose's one-shot migrate service): `migrate --wait`
//! rides out a Postgres that is not accepting connections yet, and `seed --if-empty` never reloads a
//! database that already has data.

use std::process::Command;
use std::time::Duration;

use kit::testing::TestEnv;
use tokio::net::{TcpListener, TcpStream};

fn shoplab(env: &TestEnv, url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shoplab"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("SHOPLAB_REDIS_PREFIX", env.config().redis_prefix)
        .output()
        .expect("run shoplab")
}

/// A port on which nothing listens yet.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_waits_for_a_postgres_that_comes_up_late() {
    let env = TestEnv::new().await;
    let port = free_port();
    // Postgres "starts" on `port` two seconds from now: a proxy to the real one
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = TcpStream::connect("127.0.0.1:5432").await.unwrap();
            tokio::spawn(async move {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/{}", env.db_name);
    let out = tokio::task::block_in_place(|| shoplab(&env, &url, &["migrate", "--wait", "30s"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "migrate gave up: {stderr}");
    assert!(stderr.matches("waiting for Postgres").count() >= 1, "it retried: {stderr}");
}

#[tokio::test]
async fn migrate_without_wait_fails_at_once_and_with_wait_gives_up_in_time() {
    let env = TestEnv::new().await;
    let url = format!("postgres://postgres:s3cret@127.0.0.1:{}/nowhere", free_port());
    let out = shoplab(&env, &url, &["migrate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.matches("waiting for Postgres").count(), 0, "{stderr}");
    let out = shoplab(&env, &url, &["migrate", "--wait", "2s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nothing ever listens there");
    assert!((1..=3).contains(&stderr.matches("waiting for Postgres").count()), "{stderr}");
    assert!(stderr.contains("Postgres is not reachable"), "one clear line at the end: {stderr}");
    assert!(!stderr.contains("s3cret"), "the password never reaches the output: {stderr}");
}

#[tokio::test]
async fn seed_if_empty_seeds_an_empty_database_and_then_changes_nothing() {
    let env = TestEnv::new().await;
    let url = env.config().database_url;
    let sized = |products: &'static str| {
        ["seed", "--if-empty", "--quiet", "--products", products, "--categories", "5", "--users", "3", "--events", "100"]
    };
    let first = shoplab(&env, &url, &sized("40"));
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let count =
        || async { sqlx::query_scalar::<_, i64>("select count(*) from product.products").fetch_one(&env.pool).await.unwrap() };
    assert_eq!(count().await, 40);
    // a second start-up with other sizes: an existing catalogue is left alone, nothing is reloaded
    let again = shoplab(&env, &url, &sized("70"));
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("left as is"));
    assert_eq!(count().await, 40);
}

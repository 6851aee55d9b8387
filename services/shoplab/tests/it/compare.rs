//! `shoplab case` refuses to run without its services, and the console's reset button applies a case's
//! starting state, proven by counting keys in the cache namespace. The runs under real k6 load (`case 1
//! --compare`, `reset`, `calibrate`, an invalid report) are a lab check: `.ci/lab/compare-smoke.sh`.

use std::process::Command;

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_shoplab");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A seeded test database with a product service (`shoplab product`, a process) in front of it.
struct Lab {
    env: kit::testing::TestEnv,
    product_url: String,
    _product: kit::testing::ServiceProcess,
}

impl Lab {
    async fn start() -> Self {
        let env = kit::testing::TestEnv::new().await;
        let seed = Command::new(EXE)
            .args(["seed", "--quiet", "--products", "4000", "--categories", "20", "--users", "10", "--events", "10"])
            .env("DATABASE_URL", env.config().database_url)
            .output()
            .unwrap();
        assert!(seed.status.success(), "{}", String::from_utf8_lossy(&seed.stderr));
        let product = kit::testing::ServiceProcess::start(&env, EXE, &["product"], "PRODUCT_ADDR").await;
        Self { env, product_url: product.url.clone(), _product: product }
    }

    /// Keys in the case 1 cache namespace right now.
    async fn cache_keys(&self) -> usize {
        let c = self.env.config();
        let pool = kit::redis::connect(&c.redis_url, 1).await.unwrap();
        let mut conn = pool.get().await.unwrap();
        let keys: Vec<String> =
            kit::redis::redis::cmd("KEYS").arg(format!("{}product:*", c.redis_prefix)).query_async(&mut conn).await.unwrap();
        keys.len()
    }
}

#[tokio::test]
async fn case_refuses_when_a_needed_service_is_down() {
    let out_dir = std::env::temp_dir().join(format!("shoplab-refused-{}", uuid::Uuid::new_v4().simple()));
    let run = Command::new(EXE)
        .current_dir(ROOT)
        .args(["case", "1", "--compare", "--product-url", "http://127.0.0.1:1", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("product at http://127.0.0.1:1 is not ready"), "{stderr}");
    assert!(stderr.contains("`shoplab product`") && stderr.contains("`shoplab up`"), "names the commands: {stderr}");
    assert!(!out_dir.exists(), "no report written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_reset_button_applies_the_starting_state() {
    let lab = Lab::start().await;
    let client = reqwest::Client::new();
    for id in 1..=10 {
        client.get(format!("{}/products/{id}", lab.product_url)).send().await.unwrap().error_for_status().unwrap();
    }
    assert!(lab.cache_keys().await >= 10);
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let c = lab.env.config();
    let mut console = Command::new(EXE)
        .args(["console", "--addr", &addr, "--product-url", &lab.product_url, "--port-offset", "20000"])
        .env("DATABASE_URL", &c.database_url)
        .env("SHOPLAB_REDIS_PREFIX", &c.redis_prefix)
        .env("SHOPLAB_AMQP_PREFIX", &c.amqp_prefix)
        .env("SHOPLAB_ADMIN_TOKEN", "reset-test-token")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://{addr}/api/reset/1");
    let up = kit::testing::eventually(std::time::Duration::from_secs(20), || async {
        client.get(format!("http://{addr}/api/state")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(up.is_some(), "console did not start");
    let refused = client.post(&url).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401, "the button needs the admin token");
    assert!(lab.cache_keys().await >= 10, "a refused reset changed nothing");
    let done = client.post(&url).bearer_auth("reset-test-token").json(&serde_json::json!({})).send().await.unwrap();
    let status = done.status().as_u16();
    let body: Value = done.json().await.unwrap();
    let _ = console.kill();
    let _ = console.wait();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["start"]["keys_at_start"], 0, "{body}");
    assert!(body["start"]["keys_left_over"].as_u64().unwrap() >= 10, "{body}");
    assert_eq!(lab.cache_keys().await, 0);
}

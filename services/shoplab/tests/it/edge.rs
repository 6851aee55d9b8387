//! The edge cache (`shoplab up --edge`, docs/levers/edge-cache.md): nginx with the generated
//! configuration in front of a product instance. Counted at the origin: repeated GETs all reach product
//! while it sends no `Cache-Control`; with `product.conditional_requests` on, one does and the rest are
//! edge hits. Requests with credentials and admin routes always reach the origin.

use std::time::Duration;

use kit::testing::{TestEnv, eventually};
use serde_json::json;

/// Requests product has answered on `route` (its latency histogram's count).
async fn origin_requests(product: &str, route: &str) -> f64 {
    let text = reqwest::get(format!("{product}/metrics")).await.unwrap().text().await.unwrap();
    let prefix = "http_server_request_duration_seconds_count{";
    text.lines()
        .filter(|l| l.starts_with(prefix) && l.contains(&format!("route=\"{route}\"")))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// Five GETs of `path` through the edge: the X-Cache-Status of each.
async fn five_gets(edge: &str, path: &str, auth: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..5 {
        let req = reqwest::Client::new().get(format!("{edge}{path}"));
        let req = if let Some(token) = auth { req.bearer_auth(token) } else { req };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        out.push(resp.headers().get("x-cache-status").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default());
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn the_edge_answers_repeated_gets_once_the_origin_allows_caching() {
    if !std::path::Path::new(shoplab::edge::NGINX).exists() {
        eprintln!("skipped: no nginx at {}", shoplab::edge::NGINX);
        return;
    }
    let env = TestEnv::new().await;
    let sizes =
        shoplab::seed::SeedArgs { products: 50, categories: 25, users: 0, events: 0, ..shoplab::seed::SeedArgs::defaults() };
    let seed = shoplab::seed::SeedArgs { quiet: true, ..sizes };
    shoplab::seed::run_with(&env.config().database_url, &env.config().redis_url, &env.config().redis_prefix, seed).await.unwrap();
    let app = product::startup::build(env.config(), "127.0.0.1:0").await.unwrap();
    let product = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped(futures_pending()));

    let dir = std::env::temp_dir().join(format!("shoplab-edge-test-{}", std::process::id()));
    let listen = format!("127.0.0.1:{}", free_port());
    let conf = shoplab::edge::prepare(&dir, &listen, &app_addr(&product)).unwrap();
    let nginx = Nginx(shoplab::edge::command(&conf).unwrap().spawn().unwrap());
    let edge = format!("http://{listen}");
    let up = eventually(Duration::from_secs(5), || async { reqwest::get(format!("{edge}/healthz")).await.is_ok() }).await;
    assert!(up.is_some(), "nginx did not start");

    // off: product sends no Cache-Control, so every GET reaches the origin
    let before = origin_requests(&product, "/products/{id}").await;
    assert_eq!(five_gets(&edge, "/products/3", None).await, vec!["MISS"; 5]);
    assert_eq!(origin_requests(&product, "/products/{id}").await - before, 5.0);

    kit::flags::set(&env.pool, "product.conditional_requests", &json!(true), "test").await.unwrap();
    let seen = eventually(Duration::from_secs(2), || async {
        let r = reqwest::get(format!("{product}/products/4")).await.unwrap();
        r.headers().contains_key("etag")
    })
    .await;
    assert!(seen.is_some(), "the flag did not reach product");

    // on: one GET reaches the origin, four are edge hits
    let before = origin_requests(&product, "/products/{id}").await;
    assert_eq!(five_gets(&edge, "/products/3", None).await, ["MISS", "HIT", "HIT", "HIT", "HIT"]);
    assert_eq!(origin_requests(&product, "/products/{id}").await - before, 1.0);

    // credentials: never from or into the shared cache
    let before = origin_requests(&product, "/products/{id}").await;
    assert_eq!(five_gets(&edge, "/products/3", Some("someone")).await, vec!["BYPASS"; 5]);
    assert_eq!(origin_requests(&product, "/products/{id}").await - before, 5.0);

    // admin routes: not cached
    let before = origin_requests(&product, "/admin/flags").await;
    assert_eq!(five_gets(&edge, "/admin/flags", None).await, vec![""; 5]);
    assert_eq!(origin_requests(&product, "/admin/flags").await - before, 5.0);

    drop(nginx);
    let _ = std::fs::remove_dir_all(dir);
}

/// nginx stopped with SIGTERM when the test ends, pass or fail: the master then stops its workers (a
/// SIGKILL would leave them running).
struct Nginx(tokio::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        if let Some(pid) = self.0.id() {
            let _ = kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
}

fn app_addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

fn futures_pending() -> std::future::Pending<()> {
    std::future::pending()
}

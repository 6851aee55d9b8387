//! `shoplab up` starts every service and worker, all readiness probes pass, and Ctrl-C (SIGINT) stops
//! them all: no child process is left behind, not even when `shoplab up` itself is killed. It needs no
//! database to exist beforehand, and it hands its children a random admin token of its own (stored with
//! mode 0600, never printed) unless one is given; an empty one disables admin writes.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Pids whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // the field after the parenthesised command name is the state, then the parent pid
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent)
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
}

/// A fresh `$SHOPLAB_HOME` for one test (removed by the test).
fn scratch_home() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("shoplab-up-{}", uuid::Uuid::new_v4().simple()))
}

/// `shoplab up` on its own ports, database, key prefix, queue names and `$SHOPLAB_HOME`, once it reports
/// readiness; `token` is SHOPLAB_ADMIN_TOKEN (`None`: unset). Returns what it printed until then.
async fn start_up(
    env: &kit::testing::TestEnv,
    analytics_instances: u16,
    slot: u32,
    home: &std::path::Path,
    token: Option<&str>,
) -> (tokio::process::Child, u16, Vec<String>) {
    let cfg = env.config();
    // every process is this same binary (`shoplab product`, `shoplab auth serve`, ...)
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_shoplab"));
    // stay below the ephemeral range (32768+), where a client connection may hold a port
    let offset = 10_000 + ((std::process::id() + slot) % 1_000) as u16 * 10;
    // The services run in child processes, so their queue and exchange names are declared there; hand
    // them to the TestEnv too, so it deletes them when the test ends (and no empty queues pile up).
    let email = auth::settings::Settings::default().email;
    env.delete_amqp_on_drop(auth::email::topology::Topology::new(&cfg.amqp_prefix, &email).names());
    env.delete_amqp_on_drop(analytics::topology::Names::new(&cfg.amqp_prefix).names());
    let mut cmd = Command::new(&exe);
    cmd.env_remove("SHOPLAB_ADMIN_TOKEN").env_remove("AUTH_JWT_SECRET").env_remove("AUTH_JWT_SECRET_FILE");
    if let Some(t) = token {
        cmd.env("SHOPLAB_ADMIN_TOKEN", t);
    }
    let mut child = cmd
        .args([
            "up",
            "--no-seed",
            "--analytics-instances",
            &analytics_instances.to_string(),
            "--port-offset",
            &offset.to_string(),
        ])
        .env("DATABASE_URL", &cfg.database_url)
        .env("SHOPLAB_REDIS_PREFIX", &cfg.redis_prefix)
        .env("SHOPLAB_AMQP_PREFIX", &cfg.amqp_prefix)
        .env("GRAFANA_URL", "http://127.0.0.1:1")
        .env("SHOPLAB_HOME", home)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let up = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let ready = line.contains("shoplab is up");
            printed.push(line);
            if ready {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(up, Ok(true), "shoplab up did not report readiness:\n{}", printed.join("\n"));
    // the URL lines and the admin token line follow the readiness line
    let tail = tokio::time::timeout(Duration::from_secs(5), async {
        let mut tail = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let last = line.contains("admin token");
            tail.push(line);
            if last {
                break;
            }
        }
        tail
    })
    .await
    .unwrap_or_default();
    printed.extend(tail);
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, offset, printed)
}

/// Status of `PUT /admin/flags/product.eager_loading` on the product service with `token`.
async fn admin_put(product: &str, token: &str) -> u16 {
    let url = format!("{product}/admin/flags/product.eager_loading");
    let resp = reqwest::Client::new().put(url).bearer_auth(token).json(&serde_json::json!({ "value": true })).send().await;
    resp.unwrap().status().as_u16()
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// Drops the test's database, as on a Postgres server that never had one.
async fn drop_database(env: &kit::testing::TestEnv) {
    use sqlx::Connection;
    let server = env.config().database_url.rsplit_once('/').unwrap().0.to_owned();
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    let sql = format!("drop database {} with (force)", env.db_name);
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
}

/// Waits up to `within` for every pid to be gone; returns those still alive.
async fn left_after(pids: Vec<i32>, within: Duration) -> Vec<i32> {
    let until = std::time::Instant::now() + within;
    loop {
        let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || std::time::Instant::now() > until {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_creates_the_database_starts_everything_and_sigint_leaves_nothing_behind() {
    let env = kit::testing::TestEnv::new().await;
    drop_database(&env).await;
    let home = scratch_home();
    let (mut child, offset, printed) = start_up(&env, 2, 0, &home, None).await;
    let printed = printed.join("\n");
    assert!(printed.contains(&format!("created database {}", env.db_name)), "{printed}");

    // the database was created and fully migrated by `up` itself
    let migrated: i64 =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success").fetch_one(&env.pool).await.unwrap();
    assert_eq!(migrated, kit::migrate::MIGRATOR.iter().count() as i64);

    // its own admin token, private and never printed; the published one of old opens nothing
    let token_file = home.join("admin-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!((mode(&home), mode(&token_file), mode(&home.join("jwt-secret"))), (0o700, 0o600, 0o600));
    assert!(token.len() >= 32, "{token}");
    assert!(!printed.contains(&token), "the token itself is never printed:\n{printed}");
    assert!(printed.contains(&token_file.display().to_string()), "says where the token is:\n{printed}");
    let product = shoplab::stack::processes_at(2, offset).into_iter().find(|p| p.name == "product").unwrap().url();
    assert_eq!(admin_put(&product, "workshop-admin").await, 401);
    assert_eq!(admin_put(&product, &token).await, 200);

    let procs = shoplab::stack::processes_at(2, offset);
    assert_eq!(procs.len(), 9, "5 case-3 and case-1 processes, 2 analytics instances, relay, aggregator");
    for p in &procs {
        let r = reqwest::get(format!("{}/readyz", p.url())).await.unwrap();
        assert_eq!(r.status(), 200, "{} not ready", p.name);
    }
    let pids = children_of(child.id().unwrap());
    assert_eq!(pids.len(), procs.len(), "one child per process");

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("stops within 30 s").unwrap();
    assert!(status.success(), "{status}");
    let left = left_after(pids, Duration::from_millis(200)).await;
    assert!(left.is_empty(), "processes left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&home);
}

/// SIGKILL gives `shoplab up` no chance to stop anything; its children still go (they follow their
/// supervisor, see `kit::supervise`), so a killed terminal never leaves the lab's ports taken. This lab
/// is started with an explicitly empty token: admin writes are disabled, whatever is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_stop_even_when_up_is_killed() {
    let env = kit::testing::TestEnv::new().await;
    let home = scratch_home();
    let stored = shoplab::lab_secrets::ensure(&home).unwrap().admin_token;
    let (mut child, offset, printed) = start_up(&env, 1, 500, &home, Some("")).await;
    assert!(printed.iter().any(|l| l.contains("admin writes are disabled")), "{printed:?}");
    let product = shoplab::stack::processes_at(1, offset).into_iter().find(|p| p.name == "product").unwrap().url();
    assert_eq!(admin_put(&product, &stored).await, 403, "an empty token wins over the stored one");
    let pids = children_of(child.id().unwrap());
    assert_eq!(pids.len(), 8, "one child per process");

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    child.wait().await.unwrap();
    let left = left_after(pids, Duration::from_secs(15)).await;
    assert!(left.is_empty(), "processes left behind after SIGKILL: {left:?}");
    let _ = std::fs::remove_dir_all(&home);
}

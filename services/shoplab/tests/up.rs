//! `shoplab up` starts every service and worker, all readiness probes pass, and Ctrl-C (SIGINT) stops
//! them all: no child process is left behind, not even when `shoplab up` itself is killed.

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

/// `shoplab up` on its own ports, database, key prefix and queue names, once it reports readiness.
async fn start_up(env: &kit::testing::TestEnv, analytics_instances: u16, slot: u32) -> (tokio::process::Child, u16) {
    let cfg = env.config();
    // every process is this same binary (`shoplab product`, `shoplab auth serve`, ...)
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_shoplab"));
    // stay below the ephemeral range (32768+), where a client connection may hold a port
    let offset = 10_000 + ((std::process::id() + slot) % 1_000) as u16 * 10;
    // The services run in child processes, so their queue and exchange names are declared there; name
    // them here too, so the TestEnv deletes them when the test ends (and no empty queues pile up).
    let _ = auth::email::topology::Topology::new(&cfg.amqp_prefix, &auth::settings::Settings::from_env().unwrap().email);
    let _ = analytics::message::Names::new(&cfg.amqp_prefix);
    let mut child = Command::new(&exe)
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
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let up = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("shoplab is up") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(up, Ok(true), "shoplab up did not report readiness");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, offset)
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
async fn up_starts_everything_and_sigint_leaves_nothing_behind() {
    let env = kit::testing::TestEnv::new().await;
    let (mut child, offset) = start_up(&env, 2, 0).await;

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
}

/// SIGKILL gives `shoplab up` no chance to stop anything; its children still go (they follow their
/// supervisor, see `kit::supervise`), so a killed terminal never leaves the lab's ports taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_stop_even_when_up_is_killed() {
    let env = kit::testing::TestEnv::new().await;
    let (mut child, _) = start_up(&env, 1, 500).await;
    let pids = children_of(child.id().unwrap());
    assert_eq!(pids.len(), 8, "one child per process");

    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGKILL).unwrap();
    child.wait().await.unwrap();
    let left = left_after(pids, Duration::from_secs(15)).await;
    assert!(left.is_empty(), "processes left behind after SIGKILL: {left:?}");
}

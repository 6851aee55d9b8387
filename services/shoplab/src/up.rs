//! `shoplab up`: the whole lab natively, without Docker. Creates and migrates the database (a fresh
//! Postgres server needs nothing else), seeds if empty, starts every service and worker
//! as a child running this same executable (`shoplab product`, `shoplab auth serve`, ...), waits until
//! each is ready, prints the URLs, prefixes and colours each process's log lines, and on Ctrl-C (or SIGTERM) stops them all.
//!
//! The children run in lab mode (`SHOPLAB_LAB=1`) with this lab's own random admin token and JWT secret
//! (`crate::lab_secrets`): nothing that grants writes is a published default.

use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::lab_secrets::{self, ADMIN_TOKEN_VAR, LabSecrets};
use crate::stack::{Proc, processes_at};

#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// Number of `analytics serve` instances (ports 8083, 8084, ...) for the scale-out exercise.
    #[arg(long, default_value_t = 1)]
    pub analytics_instances: u16,
    /// Shift every port by this much (run a second lab beside the first).
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// Skip seeding even when the database is empty.
    #[arg(long)]
    pub no_seed: bool,
    /// Admin token for the services' admin routes (default: a random token generated once per lab and
    /// stored in $SHOPLAB_HOME/admin-token, ~/.shoplab by default; empty disables admin writes).
    #[arg(long, env = "SHOPLAB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Also start the edge cache: nginx on port 8080 (+ offset) in front of product, caching what product's
    /// `Cache-Control` allows (docs/levers/edge-cache.md). Needs the Debian nginx at /usr/sbin/nginx.
    #[arg(long)]
    pub edge: bool,
    /// Grafana URL to print if it answers.
    #[arg(long, env = "GRAFANA_URL", default_value = "http://127.0.0.1:3000")]
    pub grafana_url: String,
}

const COLOURS: [&str; 6] = ["\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[34m", "\x1b[31m"];
const RESET: &str = "\x1b[0m";

/// Runs the lab until Ctrl-C.
pub async fn run(database_url: &str, redis_url: &str, amqp_url: &str, args: UpArgs) -> anyhow::Result<()> {
    // migrate first: it creates the database, so a server without one is not "missing a dependency"
    crate::database::migrate(database_url).await?;
    crate::doctor::require_dependencies(database_url, redis_url, amqp_url).await?;
    let secrets = lab_secrets::ensure(&lab_secrets::home())?;
    let env = child_env(&args, &secrets);
    if !args.no_seed && crate::seed::is_empty(database_url).await? {
        crate::seed::run(database_url, crate::seed::SeedArgs::defaults()).await?;
    }
    let mut procs = processes_at(args.analytics_instances, args.port_offset);
    if args.edge {
        procs.push(edge_proc(&procs, args.port_offset));
    }
    let provider_url = procs.iter().find(|p| p.bin == "email-provider").map(Proc::url).unwrap_or_default();
    let mut children = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        match spawn(p, &env, &provider_url, COLOURS[i % COLOURS.len()]) {
            Ok(c) => children.push((p.clone(), c)),
            Err(e) => {
                stop_all(&mut children).await;
                return Err(e);
            }
        }
    }
    let outcome = supervise(&procs, &mut children, &args, &token_line(&args, &secrets)).await;
    stop_all(&mut children).await;
    outcome
}

/// What every child gets besides its address: lab mode, the admin token (an explicit one, even empty,
/// wins over the stored one) and the stored JWT secret unless one is configured.
fn child_env(args: &UpArgs, secrets: &LabSecrets) -> Vec<(&'static str, String)> {
    let given = args.admin_token.as_deref().map(|t| t.trim().to_owned());
    let token = given.unwrap_or_else(|| secrets.admin_token.clone());
    let mut env = vec![("SHOPLAB_LAB", "1".to_owned()), (ADMIN_TOKEN_VAR, token)];
    let configured = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if !configured("AUTH_JWT_SECRET") && !configured("AUTH_JWT_SECRET_FILE") {
        env.push(("AUTH_JWT_SECRET", secrets.jwt_secret.clone()));
    }
    env
}

/// How to get the admin token; never the token itself, since this output often goes to a log file.
fn token_line(args: &UpArgs, secrets: &LabSecrets) -> String {
    let file = secrets.dir.join(lab_secrets::ADMIN_TOKEN_FILE);
    match args.admin_token.as_deref().map(str::trim) {
        Some("") => format!("none: admin writes are disabled ({ADMIN_TOKEN_VAR} is empty)"),
        Some(_) => format!("the one given in {ADMIN_TOKEN_VAR} (or --admin-token)"),
        None => format!(
            "in {0} (mode 0600; shoplab console and shoplab case read it there)\n{1:<19}for curl and k6: export {ADMIN_TOKEN_VAR}=$(cat {0})",
            file.display(),
            ""
        ),
    }
}

/// The edge cache's process: nginx on 8080 (+ offset), in front of the lab's product instance. Not a
/// `shoplab` subcommand: [`spawn`] starts it from its own configuration.
fn edge_proc(procs: &[Proc], offset: u16) -> Proc {
    let product = procs.iter().find(|p| p.bin == "product").map(|p| p.addr.clone()).unwrap_or_default();
    let addr = format!("127.0.0.1:{}", crate::edge::PORT + offset);
    Proc { name: "edge".to_owned(), bin: "edge", args: vec![product], addr_var: "EDGE_ADDR", addr }
}

fn spawn(p: &Proc, env: &[(&'static str, String)], provider_url: &str, colour: &'static str) -> anyhow::Result<Child> {
    let mut cmd = if p.bin == "edge" {
        // the upstream (product's address) is the edge's one argument
        // under the temp dir, not $SHOPLAB_HOME (0700): nginx's workers run as another user when started as root
        let dir = std::env::temp_dir().join(format!("shoplab-edge-{}", p.addr.rsplit(':').next().unwrap_or_default()));
        crate::edge::command(&crate::edge::prepare(&dir, &p.addr, &p.args[0])?)?
    } else {
        // the same executable, so a lab always runs the services of the build that started it
        let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("cannot find the shoplab executable: {e}"))?;
        let mut cmd = Command::new(&exe);
        cmd.args(p.argv())
            .env(p.addr_var, &p.addr)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("EMAIL_PROVIDER_URL", provider_url)
            .env(kit::supervise::SUPERVISOR_PID, std::process::id().to_string());
        cmd
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {} (`{}`): {e}", p.name, p.argv().join(" ")))?;
    let prefix = format!("{colour}{:>16}{RESET} |", p.name);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(prefix.clone(), BufReader::new(out).lines()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(prefix, BufReader::new(err).lines()));
    }
    Ok(child)
}

async fn forward<R: tokio::io::AsyncBufRead + Unpin>(prefix: String, mut lines: tokio::io::Lines<R>) {
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{prefix} {line}");
    }
}

/// Waits for readiness, prints the URLs, then waits for Ctrl-C or a process dying.
async fn supervise(procs: &[Proc], children: &mut [(Proc, Child)], args: &UpArgs, token: &str) -> anyhow::Result<()> {
    wait_ready(procs, children).await?;
    print_urls(procs, args, token).await;
    let stop = crate::signals::stop_requested();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                for (p, c) in children.iter_mut() {
                    if let Ok(Some(status)) = c.try_wait() {
                        anyhow::bail!("{} exited ({status}); stopping the lab", p.name);
                    }
                }
            }
        }
    }
}

async fn wait_ready(procs: &[Proc], children: &mut [(Proc, Child)]) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let started = Instant::now();
    for p in procs {
        loop {
            let ok = client.get(format!("{}/readyz", p.url())).send().await.is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if let Some((_, c)) = children.iter_mut().find(|(q, _)| q.name == p.name)
                && let Ok(Some(status)) = c.try_wait()
            {
                anyhow::bail!("{} exited during start-up ({status}); see its log lines above", p.name);
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(90), "{} not ready after 90 s ({}/readyz)", p.name, p.url());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

async fn print_urls(procs: &[Proc], args: &UpArgs, token: &str) {
    println!("\nshoplab is up ({} processes). Ctrl-C stops everything.", procs.len());
    for p in procs {
        let docs = if p.args.first().is_none_or(|a| a == "serve") { format!("  docs {}/docs", p.url()) } else { String::new() };
        println!("  {:<16} {}{docs}", p.name, p.url());
    }
    let grafana =
        reqwest::Client::new().get(format!("{}/api/health", args.grafana_url)).timeout(Duration::from_secs(1)).send().await;
    match grafana {
        Ok(r) if r.status().is_success() => println!("  {:<16} {}", "grafana", args.grafana_url),
        _ => println!("  grafana          not running (docker compose up -d grafana tempo prometheus)"),
    }
    println!("  admin token      {token}\n");
}

/// SIGTERM to every child, then SIGKILL what is still running after 10 s.
async fn stop_all(children: &mut [(Proc, Child)]) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    for (_, c) in children.iter() {
        if let Some(pid) = c.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (p, c) in children.iter_mut() {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, c.wait()).await.is_err() {
            eprintln!("{} did not stop in time; killing it", p.name);
            let _ = c.kill().await;
        }
    }
}

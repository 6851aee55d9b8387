//! `shoplab case N [--compare|--steps]`: the book's methodology as one command. Measures the case's k6
//! scenario in the before state, then in the after state (or one lever at a time with `--steps`:
//! "change one thing at a time"), with the services' own metrics and Postgres time diffed around each
//! run, and prints a table shaped like the book's Results. Flags are restored afterwards.

mod k6;
mod measure;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kit::flags::{self, V};
use sqlx::PgPool;

pub use k6::parse_duration;
use measure::Measures;

#[derive(Args, Debug, Clone)]
pub struct CaseArgs {
    /// Case study: 1 product, 2 analytics, 3 auth.
    #[arg(value_parser = clap::value_parser!(u8).range(1..=3))]
    pub case: u8,
    /// Run before, then after, and print the Results table.
    #[arg(long)]
    pub compare: bool,
    /// Like --compare, but add one lever at a time in the book's order.
    #[arg(long)]
    pub steps: bool,
    /// Load duration of each phase (e.g. 60s, 2m).
    #[arg(long, default_value = "60s", value_parser = k6::parse_duration)]
    pub duration: Duration,
    /// Warm-up load before each measured phase (0s to skip).
    #[arg(long, default_value = "10s", value_parser = k6::parse_duration)]
    pub warmup: Duration,
    /// Requests (iterations) per second; default: the case's own k6 default.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Maximum virtual users k6 may use.
    #[arg(long)]
    pub vus: Option<u32>,
    /// Directory of the k6 scripts.
    #[arg(long, default_value = "k6")]
    pub k6_dir: PathBuf,
    /// Where reports are written.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    #[arg(long, env = "PRODUCT_URL", default_value = "http://127.0.0.1:8081")]
    pub product_url: String,
    #[arg(long, env = "AUTH_URL", default_value = "http://127.0.0.1:8082")]
    pub auth_url: String,
    /// One or more analytics instances, comma-separated.
    #[arg(long, env = "ANALYTICS_URL", default_value = "http://127.0.0.1:8083")]
    pub analytics_url: String,
    #[arg(long, env = "EMAIL_PROVIDER_URL", default_value = "http://127.0.0.1:8090")]
    pub email_provider_url: String,
    /// Metrics endpoints of the workers (auth relay, email worker, analytics relay, aggregator).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:9101,http://127.0.0.1:9102,http://127.0.0.1:9103,http://127.0.0.1:9104"
    )]
    pub worker_urls: Vec<String>,
    /// Extra environment for the k6 script, e.g. `--k6-env PRODUCTS=4000` for a smaller seed (repeatable).
    #[arg(long = "k6-env", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub k6_env: Vec<(String, String)>,
    /// Admin token passed to k6 scenarios that switch the provider mid-run (default: the one `shoplab up`
    /// stored in $SHOPLAB_HOME/admin-token).
    #[arg(long, env = "SHOPLAB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// One phase: a label and the flag values to apply before it.
struct Phase {
    label: String,
    flags: Vec<(&'static str, V)>,
}

/// Runs the case and prints/writes the report.
pub async fn run(database_url: &str, args: CaseArgs) -> anyhow::Result<()> {
    k6::require_k6()?;
    let pool = crate::database::connect(database_url, 2).await?;
    let saved = flags::load(&pool).await?;
    let result = run_phases(&pool, &args).await;
    restore(&pool, saved).await?;
    let (heading, phases) = result?;
    let table = report::table(&phases);
    println!("\n{heading}\n\n{table}");
    let path = report::write(&args.out, args.case, &heading, &phases)?;
    println!("report written to {} (and .json)", path.display());
    Ok(())
}

fn plan(args: &CaseArgs) -> Vec<Phase> {
    let case = args.case;
    let before = flags::preset(&format!("case{case}-before")).unwrap_or_default();
    let mut phases = vec![Phase { label: "before".into(), flags: before }];
    if args.steps {
        for (name, v) in flags::steps(case) {
            phases.push(Phase { label: format!("+{}", name.split('.').nth(1).unwrap_or(name)), flags: vec![(name, v)] });
        }
    } else if args.compare {
        phases.push(Phase { label: "after".into(), flags: flags::preset(&format!("case{case}-after")).unwrap_or_default() });
    } else {
        phases[0] = Phase { label: "current".into(), flags: vec![] };
    }
    phases
}

async fn run_phases(pool: &PgPool, args: &CaseArgs) -> anyhow::Result<(String, Vec<Measures>)> {
    if args.case == 3 {
        // the book's incident: the email provider is slow and flaky in every phase
        flags::apply(pool, flags::DEGRADED_PROVIDER, "compare").await?;
    }
    let phases = plan(args);
    let mut results = Vec::new();
    for (i, phase) in phases.iter().enumerate() {
        flags::apply(pool, &phase.flags, "compare").await?;
        wait_for_flags(pool, args).await;
        let bar = progress(&format!("[{}/{}] {}", i + 1, phases.len(), phase.label), args.warmup + args.duration);
        results.push(run_phase(pool, args, &phase.label, &bar).await?);
        bar.finish_and_clear();
    }
    let rate = args.rate.map(|r| format!(", {r} req/s")).unwrap_or_default();
    let heading = format!(
        "Case {} results ({} per phase{rate}, {})",
        args.case,
        humantime(args.duration),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    Ok((heading, results))
}

async fn run_phase(pool: &PgPool, args: &CaseArgs, label: &str, bar: &ProgressBar) -> anyhow::Result<Measures> {
    let ticker = tick(bar.clone());
    let client = reqwest::Client::new();
    let dir = tempdir()?;
    if !args.warmup.is_zero() {
        k6::run(&args.k6_dir, k6::script(args.case), &env(args, args.warmup), &dir.join("warmup.json")).await?;
    }
    let urls = metrics_urls(args);
    let (before, _) = crate::scrape::fetch_all(&client, &urls).await;
    let db_before = db_time_ms(pool).await?;
    let summary = k6::run(&args.k6_dir, k6::script(args.case), &env(args, args.duration), &dir.join("summary.json")).await?;
    // Postgres publishes backend statistics about once a second
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (after, down) = crate::scrape::fetch_all(&client, &urls).await;
    let db_after = db_time_ms(pool).await?;
    ticker.abort();
    if !down.is_empty() {
        bar.println(format!("warning: no metrics from {}", down.join(", ")));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(measure::measure(label, service(args.case), &summary, &before, &after, db_after - db_before))
}

fn service(case: u8) -> &'static str {
    ["product", "analytics", "auth"][usize::from(case - 1)]
}

fn env(args: &CaseArgs, duration: Duration) -> Vec<(String, String)> {
    let mut env = vec![
        ("PRODUCT_URL".to_owned(), args.product_url.clone()),
        ("AUTH_URL".to_owned(), args.auth_url.clone()),
        ("ANALYTICS_URL".to_owned(), args.analytics_url.clone()),
        ("EMAIL_PROVIDER_URL".to_owned(), args.email_provider_url.clone()),
        ("DURATION".to_owned(), format!("{}s", duration.as_secs())),
        ("ADMIN_TOKEN".to_owned(), crate::lab_secrets::admin_token(args.admin_token.clone()).unwrap_or_default()),
    ];
    if let Some(r) = args.rate {
        env.push(("RATE".into(), r.to_string()));
    }
    if let Some(v) = args.vus {
        env.push(("VUS".into(), v.to_string()));
    }
    env.extend(args.k6_env.iter().cloned());
    env
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

fn metrics_urls(args: &CaseArgs) -> Vec<String> {
    let apis: Vec<String> = match args.case {
        1 => vec![args.product_url.clone()],
        2 => args.analytics_url.split(',').map(|u| u.trim().to_owned()).collect(),
        _ => vec![args.auth_url.clone(), args.email_provider_url.clone()],
    };
    apis.into_iter().chain(args.worker_urls.iter().cloned()).map(|u| format!("{}/metrics", u.trim_end_matches('/'))).collect()
}

/// Cumulative time Postgres spent executing statements in this database (ms).
async fn db_time_ms(pool: &PgPool) -> anyhow::Result<f64> {
    let t: Option<f64> =
        sqlx::query_scalar("select active_time from pg_stat_database where datname = current_database()").fetch_one(pool).await?;
    Ok(t.unwrap_or(0.0))
}

/// Waits (up to 5 s) until the case's API reports the flags just written; a down service is not waited for.
async fn wait_for_flags(pool: &PgPool, args: &CaseArgs) {
    let Ok(want) = flags::load(pool).await else { return };
    let url = format!("{}/admin/flags", metrics_urls(args)[0].trim_end_matches("/metrics"));
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let Ok(resp) = client.get(&url).timeout(Duration::from_secs(1)).send().await else { return };
        let Ok(view) = resp.json::<serde_json::Value>().await else { return };
        let seen = view["flags"].as_array().is_some_and(|fl| {
            fl.iter().all(|f| f["name"].as_str().and_then(|n| want.get(n)).is_none_or(|s| s.value == f["value"]))
        });
        if seen {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Puts every flag back as it was before the run.
async fn restore(pool: &PgPool, saved: std::collections::HashMap<String, flags::Stored>) -> anyhow::Result<()> {
    let now = flags::load(pool).await?;
    let value = |m: &std::collections::HashMap<String, flags::Stored>, f: &flags::FlagDef| {
        m.get(f.name).map(|s| s.value.clone()).unwrap_or_else(|| f.default.to_json())
    };
    for f in flags::FLAGS {
        let want = value(&saved, f);
        if value(&now, f) != want {
            flags::set(pool, f.name, &want, "compare").await?;
        }
    }
    Ok(())
}

fn progress(label: &str, total: Duration) -> ProgressBar {
    let style =
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} s").expect("valid template").progress_chars("=> ");
    ProgressBar::new(total.as_secs()).with_style(style).with_prefix(label.to_owned())
}

fn tick(bar: ProgressBar) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            bar.inc(1);
        }
    })
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("shoplab-k6-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn humantime(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

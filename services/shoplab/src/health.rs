//! `shoplab health URL`: a health check for containers that ship no curl.
//!
//! Exits 0 when the URL answers with a 2xx status; otherwise prints one line saying what it got (a
//! status, a refused connection, a timeout) and exits 1, which is what Docker's and Kubernetes'
//! exec probes read.

use std::time::Duration;

use clap::Args;

/// Options of `shoplab health`.
#[derive(Args, Debug, Clone)]
pub struct HealthArgs {
    /// URL to GET, e.g. http://127.0.0.1:8081/readyz.
    pub url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

/// GETs the URL once; `Ok` on a 2xx answer.
pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(args.timeout)).build()?;
    let resp = client.get(&args.url).send().await.map_err(|e| anyhow::anyhow!("{}: {}", args.url, cause(&e)))?;
    let status = resp.status();
    anyhow::ensure!(status.is_success(), "{} answered {status}", args.url);
    println!("{} answered {status}", args.url);
    Ok(())
}

/// The innermost cause of a request error (`Connection refused`, `operation timed out`), on one line.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string().replace('\n', " ")
}

//! The check before any load: every process the case needs answers `/readyz` with 2xx.
//!
//! Without it, a compare against a lab that is not running measured nothing and printed a table of zeros
//! with 100 % errors that looked like a result. Now the command refuses before touching a flag, naming
//! each missing process and the command that starts it; no report is written.

use std::time::Duration;

use super::lab::Process;

/// Fails with one line per process that is not ready, and how to start it.
pub async fn require(processes: &[Process]) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
    let mut missing = Vec::new();
    for p in processes {
        if let Err(why) = probe(&client, &p.url).await {
            missing.push(format!("  {} at {} is not ready ({why}): start it with `{}`", p.name, p.url, p.start));
        }
    }
    anyhow::ensure!(
        missing.is_empty(),
        "the lab is not ready, nothing was measured:\n{}\nstart the whole lab with `shoplab up` (add --port-offset N for a shifted lab)",
        missing.join("\n")
    );
    Ok(())
}

/// `GET <url>/readyz`: Ok on 2xx, else a short reason.
async fn probe(client: &reqwest::Client, url: &str) -> Result<(), String> {
    match client.get(format!("{url}/readyz")).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("/readyz answered {}", r.status().as_u16())),
        Err(e) if e.is_connect() => Err("connection refused".into()),
        Err(e) if e.is_timeout() => Err("no answer in 3 s".into()),
        Err(_) => Err("request failed".into()),
    }
}

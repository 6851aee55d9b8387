//! Processes started by a supervisor (`shoplab up`) stop with it, even when the supervisor is killed
//! with SIGKILL and has no chance to stop them itself: the supervisor puts its pid in
//! `SHOPLAB_SUPERVISOR_PID`, and the child asks Linux to send it SIGTERM when its parent goes away
//! (`PR_SET_PDEATHSIG`), which then runs the normal graceful shutdown.
//!
//! Linux sends the signal when the *thread* that spawned the child ends, so a supervisor must spawn
//! from a thread that lives as long as it does (a runtime worker or the main thread, never
//! `spawn_blocking`).
//!
//! [`run_process`] wraps every service and worker process the `shoplab` binary starts: it follows the
//! supervisor, then runs the process between telemetry set-up and flush.

/// The variable a supervisor sets to its own pid for its children.
pub const SUPERVISOR_PID: &str = "SHOPLAB_SUPERVISOR_PID";

/// Call first thing in `main`: without `SHOPLAB_SUPERVISOR_PID` it does nothing. With it, the process
/// gets SIGTERM when its parent dies, and exits at once if the parent is already gone (it died before
/// the request was made).
pub fn follow_supervisor() {
    let Some(supervisor) = std::env::var(SUPERVISOR_PID).ok().and_then(|v| v.parse::<i32>().ok()) else { return };
    #[cfg(target_os = "linux")]
    {
        if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM) {
            eprintln!("cannot follow the supervisor (pid {supervisor}): {e}");
            return;
        }
        if nix::unistd::getppid().as_raw() != supervisor {
            eprintln!("the supervisor (pid {supervisor}) is gone; exiting");
            std::process::exit(1);
        }
    }
}

/// Runs one long-lived process of the lab (an API or a worker) named `service` in traces and metrics:
/// follows the supervisor, installs telemetry, runs `work`, then flushes the spans still buffered.
///
/// The future is boxed so this runs as one non-generic function compiled once, here, for every process
/// the `shoplab` binary can start, instead of once per service.
pub async fn run_process(service: &'static str, work: futures::future::BoxFuture<'_, anyhow::Result<()>>) -> anyhow::Result<()> {
    follow_supervisor();
    let telemetry = crate::telemetry::init(service);
    let res = work.await;
    telemetry.shutdown().await;
    res
}

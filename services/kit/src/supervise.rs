//! Processes started by a supervisor (`shoplab up`) stop with it, even when the supervisor is killed
//! with SIGKILL and has no chance to stop them itself: the supervisor puts its pid in
//! `SHOPLAB_SUPERVISOR_PID`, and the child asks Linux to send it SIGTERM when its parent goes away
//! (`PR_SET_PDEATHSIG`), which then runs the normal graceful shutdown.
//!
//! Linux sends the signal when the *thread* that spawned the child ends, so a supervisor must spawn
//! from a thread that lives as long as it does (a runtime worker or the main thread, never
//! `spawn_blocking`).

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

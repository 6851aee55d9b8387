//! `GET /debug/pprof/profile?seconds=N`: a CPU flame graph (SVG) of this process, sampled while the
//! caller waits. Served by every service and every worker's metrics server (Observability: profiling
//! finds where the time goes once the repeated work is gone; docs/levers/profiling.md walks through it).
//!
//! The profiler samples the whole process with `SIGPROF` at 99 Hz (an odd rate, so it does not beat in
//! step with 10 ms timers) and costs a few percent of one core while it runs, nothing otherwise. Guarded
//! like the other admin routes: the admin token first (401/403), then `seconds` (1..=60, else 400), and
//! one profile at a time per process (409 while another runs: the signal handler is process-wide).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::BaseState;
use super::admin::authorize_token;
use crate::error::{ApiError, ApiResult};

/// Longest profile one request may ask for.
const MAX_SECONDS: u64 = 60;
/// Samples per second.
const FREQUENCY: i32 = 99;
/// Whether a profile is running in this process.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Query of the profile route.
#[derive(Deserialize)]
pub(crate) struct ProfileQuery {
    /// How long to sample, 1..=60 seconds (default 10).
    seconds: Option<u64>,
}

/// Releases [`BUSY`] when the profile ends, even if it failed.
struct Slot;

impl Slot {
    fn take() -> Option<Self> {
        BUSY.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        BUSY.store(false, Ordering::Release);
    }
}

/// Samples this process for `seconds` and answers the flame graph as `image/svg+xml`.
pub(crate) async fn profile(
    State(base): State<BaseState>,
    headers: HeaderMap,
    query: Result<Query<ProfileQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    authorize_token(base.admin_token.as_deref(), &headers)?;
    let seconds = match query {
        Ok(Query(q)) => q.seconds.unwrap_or(10),
        Err(_) => 0,
    };
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(ApiError::bad_request("invalid_seconds", format!("seconds must be 1..={MAX_SECONDS}")));
    }
    let slot = Slot::take().ok_or_else(|| ApiError::Conflict("a profile is already running in this process".into()))?;
    // the sampling runs on a blocking thread that owns the slot: a caller who hangs up does not leave the
    // profiler running or the slot taken
    let svg = tokio::task::spawn_blocking(move || sample(Duration::from_secs(seconds), slot))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

fn sample(duration: Duration, _slot: Slot) -> anyhow::Result<Vec<u8>> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()?;
    std::thread::sleep(duration);
    let report = guard.report().build()?;
    let mut svg = Vec::new();
    report.flamegraph(&mut svg)?;
    Ok(svg)
}

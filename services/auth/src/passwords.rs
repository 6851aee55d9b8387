//! Password hashes (argon2id), with the work bounded: a login flood becomes a flood of cheap refusals.
//!
//! Argon2 is deliberately expensive — tens of milliseconds of CPU and ~19 MiB per hash at the default
//! cost — so it never runs on an async worker thread (it would stall every other request scheduled
//! there). It used to run on Tokio's blocking pool, which is no bound: it grows to 512 threads, and 600
//! concurrent logins took this service to 9.5 GB of memory. So every hash and every verification first
//! takes a permit from a semaphore sized to the cores ([`Passwords::admit`]; more hashes at once only
//! queue for the same CPUs, holding their memory while they wait), and runs on one of as many threads of
//! its own:
//!
//! - a request that gets no permit within a short wait (`AUTH_PASSWORD_WAIT_MS`, 100 ms by default) is
//!   refused with 503 + `Retry-After` ([`Busy`]) before any memory is committed — login takes its permit
//!   before it even looks the account up, so a flood of logins never queues for database connections;
//! - the permit and the work belong to the request's future. A request dropped while it waits for a
//!   permit (its client went away: axum drops the handler) never starts a hash; one dropped after it got
//!   a permit but before a hashing thread picked its hash up is skipped there (counted as `abandoned`).
//!   A hash already running cannot be interrupted: it finishes, still holding its permit, so the bound
//!   holds whatever the clients do.
//!
//! [`Stats`] counts what happened, shown under `status.password_work` in `GET /admin/flags`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use argon2::Params;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::argon::{self, Memory};
use crate::domain::Password;
use crate::error::AuthResult;
use crate::settings::{Argon2Cost, PasswordWork};

/// No permit came free within the wait: the caller answers 503 with `Retry-After`.
#[derive(Debug, thiserror::Error)]
#[error("password checks are at capacity: retry in {retry_after_secs} s")]
pub struct Busy {
    /// Seconds the client should wait before trying again.
    pub retry_after_secs: u64,
}

/// Counters of the password work since start.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// Hashes and verifications that ran.
    pub hashed: AtomicU64,
    /// Requests refused because no permit came free in time.
    pub refused: AtomicU64,
    /// Work skipped because its request was dropped before a thread picked it up.
    pub abandoned: AtomicU64,
    /// Most hashes seen running at once (never above the permits).
    pub peak_running: AtomicU64,
    /// Hashes running now.
    pub running: AtomicU64,
}

/// A unit of password work for the hashing threads (given the thread's argon2 memory).
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Hashes and verifies passwords on a few threads of its own, at most `permits` at a time.
#[derive(Clone)]
pub struct Passwords {
    /// Parameters of new hashes.
    params: Params,
    /// A hash to verify against when the account does not exist, so unknown and known addresses cost
    /// the same time (no account enumeration by timing).
    decoy: String,
    /// One permit per hash allowed to run at once.
    gate: Arc<Semaphore>,
    /// Permits in total (for the status page).
    permits: usize,
    /// How long a request waits for a permit before it is refused.
    wait: Duration,
    /// The hashing threads' queue; they stop when the last clone of this is dropped.
    jobs: mpsc::Sender<Job>,
    /// What happened so far.
    stats: Arc<Stats>,
}

/// A permit to do one piece of password work, taken before anything else a login or signup does
/// (a refused request never even queries the database). Dropping it frees the slot.
pub struct Admitted<'a> {
    passwords: &'a Passwords,
    permit: OwnedSemaphorePermit,
}

impl Passwords {
    /// Prepares hashing at `cost`, bounded by `work`: starts the hashing threads, computes the decoy.
    pub async fn new(cost: Argon2Cost, work: PasswordWork) -> anyhow::Result<Self> {
        let params = Params::new(cost.m_kib, cost.t, cost.p, None).map_err(|e| anyhow::anyhow!("AUTH_ARGON2_*: {e}"))?;
        let permits = work.permits.max(1);
        let gate = Arc::new(Semaphore::new(permits));
        let jobs = start_threads(permits)?;
        let mut me = Self { params, decoy: String::new(), gate, permits, wait: work.wait, jobs, stats: Arc::default() };
        let decoy = Password::parse("decoy-password".into()).map_err(|_| anyhow::anyhow!("decoy"))?;
        me.decoy = me.hash(decoy).await.map_err(|e| anyhow::anyhow!("computing the decoy hash: {e:?}"))?;
        Ok(me)
    }

    /// Waits (briefly) for a permit; [`Busy`] when none came free in time.
    pub async fn admit(&self) -> Result<Admitted<'_>, Busy> {
        match tokio::time::timeout(self.wait, self.gate.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Admitted { passwords: self, permit }),
            _ => Err(self.refuse()),
        }
    }

    /// A PHC string (`$argon2id$v=19$m=...`) for `password` (admission included).
    pub async fn hash(&self, password: Password) -> AuthResult<String> {
        self.admit().await?.hash(password).await
    }

    /// Whether `password` matches `hash` (admission included; see [`Admitted::verify`]).
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        self.admit().await?.verify(password, hash).await
    }

    fn refuse(&self) -> Busy {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        Busy { retry_after_secs: 1 }
    }

    /// Counters and sizes, for `GET /admin/flags`.
    pub fn status(&self) -> serde_json::Value {
        let running = self.permits - self.gate.available_permits();
        serde_json::json!({ "permits": self.permits, "permits_in_use": running, "wait_ms": self.wait.as_millis() as u64,
            "stats": &*self.stats })
    }

    /// The counters (tests read them).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl Admitted<'_> {
    /// A PHC string (`$argon2id$v=19$m=...`) for `password`.
    pub async fn hash(self, password: Password) -> AuthResult<String> {
        let params = self.passwords.params.clone();
        let hashed = self.run(move |memory| argon::hash(memory, &params, password.expose().as_bytes()));
        Ok(hashed.await??)
    }

    /// Whether `password` matches `hash` (`None`: no such account; the decoy is checked instead).
    pub async fn verify(self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.passwords.decoy.clone());
        let ok = self.run(move |memory| argon::verify(memory, password.as_bytes(), &hash)).await?;
        Ok(exists && ok)
    }

    /// Runs `work` on a hashing thread under this permit; see the module doc for what a drop does.
    async fn run<T: Send + 'static>(self, work: impl FnOnce(&mut Memory) -> T + Send + 'static) -> Result<T, Busy> {
        let Admitted { passwords, permit } = self;
        // the request's future owns `alive`: once it is dropped, the job sees no owner left and skips
        let alive = Arc::new(());
        let owner = Arc::downgrade(&alive);
        let stats = passwords.stats.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            if owner.strong_count() == 0 {
                stats.abandoned.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let running = Running::start(&stats);
            let out = work(memory);
            // free the slot before the answer: whoever awaits it may want the next permit at once
            drop((running, permit));
            let _ = tx.send(out);
        });
        if passwords.jobs.send(job).is_err() {
            return Err(passwords.refuse());
        }
        let out = rx.await;
        drop(alive);
        // an error only when the job was skipped, which cannot be while this future still runs
        out.map_err(|_| passwords.refuse())
    }
}

/// Starts `n` hashing threads fed by one queue, each with its own argon2 memory ([`argon`]): `n`
/// buffers of the cost's size, allocated once, whatever the traffic.
fn start_threads(n: usize) -> anyhow::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        let next = move || rx.lock().map_err(|_| ()).and_then(|r| r.recv().map_err(|_| ()));
        std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
            let mut memory = Memory::new();
            while let Ok(job) = next() {
                job(&mut memory);
            }
        })?;
    }
    Ok(tx)
}

/// Counts a hash as running for as long as it lives, and keeps the peak.
struct Running<'a>(&'a Stats);

impl<'a> Running<'a> {
    fn start(stats: &'a Stats) -> Self {
        stats.hashed.fetch_add(1, Ordering::Relaxed);
        let now = stats.running.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak_running.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn work(permits: usize, wait_ms: u64) -> PasswordWork {
        PasswordWork { permits, wait: Duration::from_millis(wait_ms) }
    }

    #[tokio::test]
    async fn hashes_verify_and_the_decoy_never_matches() {
        let p = Passwords::new(Argon2Cost::LIGHT, work(2, 1000)).await.unwrap();
        let hash = p.hash(Password::parse("shoplab-pass".into()).unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(p.verify("shoplab-pass".into(), Some(hash.clone())).await.unwrap());
        assert!(!p.verify("wrong-pass".into(), Some(hash)).await.unwrap());
        assert!(!p.verify("decoy-password".into(), None).await.unwrap());
    }

    /// Holds the only permit until `release` is sent.
    fn occupy(p: &Passwords) -> (mpsc::Sender<()>, tokio::task::JoinHandle<Result<(), Busy>>) {
        let (release, held) = mpsc::channel::<()>();
        let p2 = p.clone();
        let task = tokio::spawn(async move {
            p2.admit()
                .await?
                .run(move |_| {
                    let _ = held.recv();
                })
                .await
        });
        (release, task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_permit_within_the_wait_is_a_quick_refusal() {
        let p = Passwords::new(Argon2Cost::LIGHT, work(1, 20)).await.unwrap();
        let base = p.stats().hashed.load(Ordering::SeqCst);
        let (release, holder) = occupy(&p);
        while p.stats().running.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = p.verify("x".repeat(10), None).await.expect_err("the only permit is taken");
        assert_eq!(refused.retry_after_secs, 1);
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert_eq!(p.stats().hashed.load(Ordering::SeqCst) - base, 1, "only the holder's work ran");
        assert_eq!(p.stats().refused.load(Ordering::SeqCst), 1);
        assert_eq!(p.stats().peak_running.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_while_waiting_never_hashes() {
        let p = Passwords::new(Argon2Cost::LIGHT, work(1, 10_000)).await.unwrap();
        let base = p.stats().hashed.load(Ordering::SeqCst);
        let (release, holder) = occupy(&p);
        while p.stats().running.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(AtomicU64::new(0));
        for _ in 0..5 {
            let ran = ran.clone();
            let mut waiting = Box::pin(async { p.admit().await?.run(move |_| ran.fetch_add(1, Ordering::SeqCst)).await });
            assert!(futures::poll!(waiting.as_mut()).is_pending(), "queued for the permit");
            drop(waiting); // the client went away
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        // the permit is free again and nothing queued behind it runs
        assert!(p.verify("y".repeat(10), None).await.is_ok());
        assert_eq!(ran.load(Ordering::SeqCst), 0, "no dropped request's work ran");
        assert_eq!(p.stats().hashed.load(Ordering::SeqCst) - base, 2, "the holder and the last verification");
    }
}

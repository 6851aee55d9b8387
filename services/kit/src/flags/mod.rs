//! Feature flags: the levers a trainer flips live (docs/architecture.md, "Flags").
//!
//! The database (`lab.flags`) is the source of truth. Each process keeps an in-memory [`Snapshot`] that
//! is swapped atomically when `NOTIFY shoplab_flags` arrives (and re-read every 5 s in case a
//! notification was missed), so reading a flag on the hot path costs no I/O and a flip reaches every
//! instance in well under a second.

mod chapter;
mod presets;
mod registry;
mod store;
mod value;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::metrics::{FlagLabels, Metrics};
pub use registry::{Chapter, DEGRADED_PROVIDER, FLAGS, FlagDef, Kind, PRESETS, SCALE_OUT_CHAPTER, V, find, names, preset, steps};
pub use store::{CHANNEL, Stored, apply, apply_preset, load, reset, set};
pub use value::{FlagError, describe_kind, gauge_value, parse_text, validate};

/// How often the snapshot is re-read even without a notification.
const FALLBACK_RELOAD: Duration = Duration::from_secs(5);

/// One consistent view of every flag (defaults filled in).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Current value of every registered flag.
    pub values: HashMap<&'static str, Value>,
    /// Who last wrote each stored flag, and when.
    pub stored: HashMap<String, Stored>,
}

impl Snapshot {
    fn from_rows(stored: HashMap<String, Stored>) -> Self {
        let values = FLAGS
            .iter()
            .map(|f| {
                let v = stored.get(f.name).map(|s| s.value.clone()).filter(|v| validate(f.name, v).is_ok());
                (f.name, v.unwrap_or_else(|| f.default.to_json()))
            })
            .collect();
        Self { values, stored }
    }
}

/// A process's handle on the flags; cheap to clone, reads never block.
#[derive(Clone)]
pub struct Flags {
    /// The current snapshot, replaced whole on every reload.
    current: Arc<ArcSwap<Snapshot>>,
    /// Wakes subscribers (e.g. a service building indexes when a lever turns on).
    changes: watch::Receiver<Arc<Snapshot>>,
    /// Stops the listener task when the last handle is dropped.
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Flags {
    /// Loads the flags once (failing if the table is unreachable) and starts following changes.
    pub async fn start(pool: PgPool, metrics: Metrics) -> anyhow::Result<Self> {
        let snap = Arc::new(Snapshot::from_rows(load(&pool).await?));
        export(&metrics, &snap);
        let current = Arc::new(ArcSwap::new(snap.clone()));
        let (tx, changes) = watch::channel(snap);
        let follower = Follower { pool, metrics, current: current.clone(), tx };
        let task = tokio::spawn(follower.run());
        Ok(Self { current, changes, _task: Arc::new(AbortOnDrop(task)) })
    }

    /// The whole current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A receiver that changes whenever the snapshot is reloaded with different values.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.changes.clone()
    }

    fn get(&self, name: &str) -> Value {
        debug_assert!(find(name).is_some(), "unregistered flag {name}");
        self.current.load().values.get(name).cloned().unwrap_or(Value::Null)
    }

    /// A boolean flag's value.
    pub fn bool(&self, name: &str) -> bool {
        self.get(name).as_bool().unwrap_or(false)
    }

    /// An integer flag's value.
    pub fn int(&self, name: &str) -> i64 {
        self.get(name).as_i64().unwrap_or(0)
    }

    /// A float flag's value.
    pub fn float(&self, name: &str) -> f64 {
        self.get(name).as_f64().unwrap_or(0.0)
    }

    /// An enum flag's value.
    pub fn string(&self, name: &str) -> String {
        self.get(name).as_str().unwrap_or_default().to_owned()
    }
}

/// The background task that keeps a snapshot current.
struct Follower {
    pool: PgPool,
    metrics: Metrics,
    current: Arc<ArcSwap<Snapshot>>,
    tx: watch::Sender<Arc<Snapshot>>,
}

impl Follower {
    async fn run(self) {
        loop {
            if let Err(e) = self.listen().await {
                tracing::warn!(event = "flags_listen_failed", error = %e, "flag listener lost; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.reload().await;
        }
    }

    /// LISTENs and reloads on every notification or every [`FALLBACK_RELOAD`].
    async fn listen(&self) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        // a flip between the initial load and LISTEN would otherwise wait for the fallback
        self.reload().await;
        loop {
            match tokio::time::timeout(FALLBACK_RELOAD, listener.recv()).await {
                Ok(Ok(_)) | Err(_) => self.reload().await,
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    async fn reload(&self) {
        let rows = match load(&self.pool).await {
            Ok(rows) => rows,
            Err(e) => return tracing::warn!(event = "flags_reload_failed", error = %e),
        };
        let snap = Arc::new(Snapshot::from_rows(rows));
        let changed = self.current.load().values != snap.values;
        self.current.store(snap.clone());
        export(&self.metrics, &snap);
        if changed {
            tracing::info!(event = "flags_changed", "flag snapshot reloaded");
            let _ = self.tx.send(snap);
        }
    }
}

/// Publishes every flag as `shoplab_flag_value{flag}` (and the sampling ratio to the tracer).
fn export(metrics: &Metrics, snap: &Snapshot) {
    crate::telemetry::trace_sampling::follow(&snap.values);
    for f in FLAGS {
        let v = snap.values.get(f.name).map(|v| gauge_value(f, v)).unwrap_or(0.0);
        metrics.flag_value.get_or_create(&FlagLabels { flag: f.name.to_owned() }).set(v);
    }
}

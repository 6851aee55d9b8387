//! The one state of the API, built once at start and shared by every handler.

use kit::db::Db;
use kit::metrics::Metrics;

use crate::levers::Dashboards;
use crate::topology::Names;

/// What handlers need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Events are written here (and read by the naive dashboards).
    pub db: Db,
    pub metrics: Metrics,
    /// The exchange outbox rows are addressed to.
    pub names: Names,
    /// The dashboards with both levers in front of them.
    pub dashboards: Dashboards,
}

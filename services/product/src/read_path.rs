//! How a read is served: the cache tiers in order, and the database loaders behind them.
//!
//! `local` (`levers::local_cache`, in this process) -> `Redis` (`levers::refresh_ahead`, shared by every
//! instance) -> the database (a [`Loader`] built on `levers::eager_loading`). This is the one module that
//! chains levers, so that no lever module has to import another.

use crate::cache::Slot;
use crate::levers::refresh_ahead::{self, LoadResult, Loader};
use crate::levers::{eager_loading, local_cache};
use crate::model::ProductDetail;
use crate::state::AppState;

/// Serves `slot` from the first tier that has it, loading it with `loader` when none does.
pub async fn get(state: &AppState, slot: Slot, loader: Loader) -> LoadResult {
    let key = slot.key.clone();
    let redis_tier = refresh_ahead::get(state, slot, loader);
    local_cache::get(&state.local, &state.flags, &state.metrics, &key, redis_tier).await
}

/// The detail pages of `ids` from the database (missing ids left out), the way the eager-loading lever
/// says; used by cache warming.
pub async fn details(state: &AppState, ids: &[i64]) -> Result<Vec<ProductDetail>, sqlx::Error> {
    eager_loading::details(&state.db, &state.flags, ids).await
}

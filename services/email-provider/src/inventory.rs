//! `GET /sim/inventory/{id}`: a simulated dependency read with a heavy latency tail, for the hedged
//! requests lever of the product service (`product.hedged_requests`, chapter Advanced Techniques).
//!
//! The provider crate is the lab's one simulated downstream, so this is where injected latency may live:
//! most reads answer at once, a share (`emailprovider.tail_share`, default 5 %) waits
//! `emailprovider.tail_ms` (default 400 ms) first — the shape of a replica that is sometimes busy, a GC
//! pause, a lost packet. The answer is deterministic per id, so a hedged read and a plain one agree.

use axum::extract::State;
use kit::error::ApiResult;
use kit::extract::{Json, Path};
use kit::flags::Flags;
use rand::Rng;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Units in stock the simulated warehouse reports for `id` (same id, same answer).
pub fn units(id: i64) -> i64 {
    (id.wrapping_mul(7919)).rem_euclid(500)
}

/// Answer of `GET /sim/inventory/{id}`.
#[derive(Serialize, ToSchema)]
pub struct Inventory {
    pub product_id: i64,
    /// Units available across warehouses (simulated).
    pub available: i64,
}

/// The simulated inventory route; reads its tail knobs from the flags.
pub fn router(flags: Flags) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(inventory)).with_state(flags)
}

/// Simulated stock read with a slow tail (`emailprovider.tail_ms` for a `tail_share` of reads).
#[utoipa::path(get, path = "/sim/inventory/{id}", tag = "simulation",
    params(("id" = i64, Path, minimum = 1, description = "product id")),
    responses((status = 200, body = Inventory), (status = 400, description = "id is not a positive integer")))]
#[tracing::instrument(skip_all, fields(product.id = id))]
async fn inventory(State(flags): State<Flags>, Path(id): Path<i64>) -> ApiResult<Json<Inventory>> {
    if id < 1 {
        return Err(kit::ApiError::bad_request("invalid_id", format!("product id must be a positive integer, got {id}")));
    }
    let share = flags.float("emailprovider.tail_share");
    if rand::rng().random::<f64>() < share {
        let ms = flags.int("emailprovider.tail_ms").max(0) as u64;
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    Ok(Json(Inventory { product_id: id, available: units(id) }))
}

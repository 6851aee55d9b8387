//! Analytics events over the last 7 days: mostly views, some add-to-cart, few orders, products drawn
//! with the same Zipf-like skew as the catalogue's popularity.

use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::PgPool;

use super::copy::copy_rows;
use super::{Bars, RNG_SEED, SeedArgs, count};

/// Seconds in the 7-day window the events cover.
const WINDOW_SECS: i64 = 7 * 24 * 3600;

/// Seeds events unless the table already holds the requested number; true when the events were replaced.
pub(crate) async fn seed(pool: &PgPool, a: &SeedArgs, bars: &Bars) -> anyhow::Result<bool> {
    let have = count(pool, "analytics.events").await?;
    if have == a.events {
        bars.skip("events", have);
        return Ok(false);
    }
    sqlx::query("truncate analytics.events").execute(pool).await?;
    let mut rng = ChaCha8Rng::seed_from_u64(RNG_SEED + 2);
    let now = chrono::Utc::now();
    let (products, users) = (a.products as f64, a.users.max(1));
    copy_rows(
        pool,
        "analytics.events (id, occurred_at, type, product_id, user_id, session_id, amount_cents)",
        a.events,
        &bars.bar("analytics.events", a.events as u64),
        |i, b| {
            let at = now - chrono::Duration::seconds(rng.random_range(0..WINDOW_SECS));
            let roll = rng.random_range(0..100);
            let kind = if roll < 85 {
                "view"
            } else if roll < 95 {
                "add_to_cart"
            } else {
                "order"
            };
            // inverse-CDF draw of a Zipf-like rank: small ids are far more frequent
            let product = ((products.powf(rng.random::<f64>())).floor() as i64).clamp(1, a.products);
            let amount = if kind == "order" { rng.random_range(499..=49_999) } else { 0 };
            let id = uuid::Uuid::from_u64_pair(RNG_SEED + 2, i as u64);
            let user = rng.random_range(1..=users);
            let _ = writeln!(b, "{id}\t{}\t{kind}\t{product}\t{user}\ts{}\t{amount}", at.to_rfc3339(), user * 7 + i % 5);
        },
    )
    .await?;
    Ok(true)
}

//! The catalogue: categories (20 top-level, the rest below them), products with Zipf-like popularity
//! (id 1 most popular), ~10 price rows each (the newest is current) and stock in 3 warehouses. Each
//! product's description and attributes weigh a few KB ([`super::documents`]).

use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::PgPool;

use super::copy::copy_rows;
use super::documents;
use super::{Bars, RNG_SEED, SeedArgs, count};

const ADJECTIVES: [&str; 16] = [
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Essential",
    "Pro",
    "Ultra",
    "Smart",
    "Vintage",
    "Urban",
    "Outdoor",
    "Travel",
    "Premium",
    "Everyday",
    "Studio",
    "Mini",
];
const NOUNS: [&str; 16] = [
    "Backpack",
    "Kettle",
    "Headphones",
    "Lamp",
    "Jacket",
    "Mug",
    "Keyboard",
    "Sneakers",
    "Blender",
    "Notebook",
    "Tent",
    "Watch",
    "Speaker",
    "Chair",
    "Bottle",
    "Camera",
];
const BRANDS: [&str; 10] =
    ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent"];
const PRICES_PER_PRODUCT: i64 = 10;
/// Bytes of description per product (the first sentence names the product, the rest is generated).
const DESCRIPTION_BYTES: usize = 2500;
/// Rows of each product's specification table (~70 bytes of JSON each): attributes of ~2.5 KB.
const SPEC_ROWS: usize = 30;
pub(crate) const WAREHOUSES: i64 = 3;

/// Seeds the catalogue unless it already has the requested size.
pub(crate) async fn seed(pool: &PgPool, a: &SeedArgs, bars: &Bars) -> anyhow::Result<()> {
    let (have_p, have_c) = (count(pool, "product.products").await?, count(pool, "product.categories").await?);
    if have_p == a.products && have_c == a.categories && has_documents(pool).await? {
        bars.skip("catalogue", have_p);
        return Ok(());
    }
    sqlx::query("truncate product.inventory, product.prices, product.products, product.categories").execute(pool).await?;
    let cats = a.categories;
    copy_rows(
        pool,
        "product.categories (id, parent_id, name, slug)",
        cats,
        &bars.bar("product.categories", cats as u64),
        |i, b| {
            let id = i + 1;
            let parent = if id <= 20 { "\\N".to_owned() } else { ((id - 21) % 20 + 1).to_string() };
            let _ = writeln!(b, "{id}\t{parent}\tCategory {id}\tcategory-{id}");
        },
    )
    .await?;
    let mut rng = ChaCha8Rng::seed_from_u64(RNG_SEED);
    // the documents draw from their own generator, so the other columns are what they always were
    let mut docs = ChaCha8Rng::seed_from_u64(RNG_SEED + 2);
    let n = a.products;
    let cols = "product.products (id, sku, name, description, category_id, brand, popularity, attributes)";
    copy_rows(pool, cols, n, &bars.bar("product.products", n as u64), |i, b| {
        let id = i + 1;
        let (adj, noun) = (ADJECTIVES[rng.random_range(0..16)], NOUNS[rng.random_range(0..16)]);
        let brand = BRANDS[rng.random_range(0..10)];
        let cat = rng.random_range(1..=cats);
        // Zipf-like (s = 1.1): popularity falls with the id, so id 1 is the most viewed product.
        let popularity = (1_000_000.0 / (id as f64).powf(1.1)).round() as i64;
        let lead = format!("The {adj} {noun} by {brand}, a lab product for catalogue {id}.");
        let description = documents::description(&mut docs, &lead, DESCRIPTION_BYTES);
        let attributes = documents::attributes(&mut docs, id, SPEC_ROWS);
        let _ = writeln!(
            b,
            "{id}\tSKU-{id:06}\t{brand} {adj} {noun} {id}\t{description}\t{cat}\t{brand}\t{popularity}\t{attributes}"
        );
    })
    .await?;
    prices_and_stock(pool, n, bars).await
}

/// True when the catalogue carries its documents (a catalogue seeded before they existed is reloaded).
async fn has_documents(pool: &PgPool) -> anyhow::Result<bool> {
    let sql = "select attributes <> '{}'::jsonb from product.products where id = 1";
    Ok(sqlx::query_scalar(sql).fetch_optional(pool).await?.unwrap_or(false))
}

async fn prices_and_stock(pool: &PgPool, n: i64, bars: &Bars) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(RNG_SEED + 1);
    let rows = n * PRICES_PER_PRODUCT;
    copy_rows(
        pool,
        "product.prices (product_id, currency, amount_cents, valid_from)",
        rows,
        &bars.bar("product.prices", rows as u64),
        |i, b| {
            let product = i / PRICES_PER_PRODUCT + 1;
            let age_days = (PRICES_PER_PRODUCT - i % PRICES_PER_PRODUCT) * 30 - rng.random_range(0..20);
            let cents = rng.random_range(499..=49_999);
            let _ =
                writeln!(b, "{product}\tEUR\t{cents}\t{}", (chrono::Utc::now() - chrono::Duration::days(age_days)).to_rfc3339());
        },
    )
    .await?;
    let rows = n * WAREHOUSES;
    copy_rows(
        pool,
        "product.inventory (product_id, warehouse_id, quantity)",
        rows,
        &bars.bar("product.inventory", rows as u64),
        |i, b| {
            let _ = writeln!(b, "{}\t{}\t{}", i / WAREHOUSES + 1, i % WAREHOUSES + 1, rng.random_range(0..500));
        },
    )
    .await
}

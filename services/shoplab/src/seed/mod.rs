//! `shoplab seed`: the deterministic lab data set (docs/architecture.md, "Seed conventions"), loaded with
//! COPY.
//!
//! Idempotent: each data set (catalogue, users, events) is left alone when it already has the requested
//! size, and truncated and reloaded otherwise; `--if-empty` leaves a database holding any catalogue alone
//! (what `shoplab up` and the compose start-up job do, so a restart never reloads anything). Reloading the
//! events also resets what is derived from them — the aggregator's pre-aggregates in Redis — so the
//! aggregator rebuilds them and pre-aggregated dashboards never count events that no longer exist. A fixed RNG seed gives every attendee the same catalogue
//! and the same numbers. Product ids are 1..N in decreasing popularity (Zipf-like), which the k6 scripts
//! and cache warming rely on.

mod analytics;
mod auth;
mod copy;
mod documents;
mod product;

use std::time::Instant;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sqlx::PgPool;

/// Sizes of the data set.
#[derive(Args, Debug, Clone)]
pub struct SeedArgs {
    /// Products (ids 1..N, most popular first).
    #[arg(long, default_value_t = 20_000)]
    pub products: i64,
    /// Categories (ids 1..C; the first 20 are top-level).
    #[arg(long, default_value_t = 200)]
    pub categories: i64,
    /// Users `user<n>@shoplab.test`, password `shoplab-pass`.
    #[arg(long, default_value_t = 10_000)]
    pub users: i64,
    /// Analytics events spread over the last 7 days.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: i64,
    /// Hide progress bars (CI logs).
    #[arg(long)]
    pub quiet: bool,
    /// Seed only when the database has no products yet (as `shoplab up` does); otherwise change nothing.
    #[arg(long)]
    pub if_empty: bool,
}

impl SeedArgs {
    /// The default sizes (docs/architecture.md, "Seed conventions").
    pub fn defaults() -> Self {
        Self { products: 20_000, categories: 200, users: 10_000, events: 2_000_000, quiet: false, if_empty: false }
    }
}

/// True when the catalogue has no products yet (`shoplab up` seeds then).
pub async fn is_empty(url: &str) -> anyhow::Result<bool> {
    let pool = crate::database::connect(url, 1).await?;
    Ok(count(&pool, "product.products").await? == 0)
}

/// The fixed seed of every generator.
pub(crate) const RNG_SEED: u64 = 20_26;

/// Seeds every data set and prints the time it took; Redis (for the pre-aggregates' reset) is found
/// through `REDIS_URL` and `SHOPLAB_REDIS_PREFIX`, like the services find it.
pub async fn run(url: &str, args: SeedArgs) -> anyhow::Result<()> {
    let config = kit::Config::from_env();
    run_with(url, &config.redis_url, &config.redis_prefix, args).await
}

/// [`run`] with an explicit Redis URL (`shoplab --redis-url`) and key prefix.
pub async fn run_with(url: &str, redis_url: &str, redis_prefix: &str, args: SeedArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.products >= 1 && args.categories >= 1, "--products and --categories must be at least 1");
    anyhow::ensure!(args.users >= 0 && args.events >= 0, "--users and --events cannot be negative");
    if args.if_empty && !is_empty(url).await? {
        println!("the database already holds a catalogue: left as is (--if-empty)");
        return Ok(());
    }
    let started = Instant::now();
    let pool = crate::database::connect(url, 4).await?;
    let bars = Bars::new(args.quiet);
    product::seed(&pool, &args, &bars).await?;
    auth::seed(&pool, &args, &bars).await?;
    if analytics::seed(&pool, &args, &bars).await? {
        reset_preaggregates(redis_url, redis_prefix).await?;
    }
    sqlx::query("analyze").execute(&pool).await?;
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The events were replaced: forget the pre-aggregates built from the old ones (the aggregator rebuilds).
async fn reset_preaggregates(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
    let keys = ::analytics::buckets::Keys::new(prefix);
    let redis = ::analytics::redis_conn::RedisConn::connect(redis_url).await.map_err(|e| {
        anyhow::anyhow!("{e:#}\nthe events were reloaded but their pre-aggregates could not be reset: once Redis is up, run `shoplab analytics aggregator --rebuild`")
    })?;
    ::analytics::backfill::reset(&redis, &keys).await?;
    println!("pre-aggregates under {prefix}analytics: reset; the aggregator rebuilds them from the new events");
    Ok(())
}

/// Progress bars, one per table.
pub(crate) struct Bars {
    multi: MultiProgress,
    quiet: bool,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        Self { multi: MultiProgress::new(), quiet }
    }

    /// A bar of `len` rows for `table`.
    pub(crate) fn bar(&self, table: &str, len: u64) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} rows {elapsed}").expect("valid template");
        self.multi.add(ProgressBar::new(len).with_style(style.progress_chars("=> ")).with_prefix(table.to_owned()))
    }

    /// Reports a data set that is already complete.
    pub(crate) fn skip(&self, what: &str, rows: i64) {
        println!("{what}: already seeded ({rows} rows), left as is");
    }
}

/// Row count of a table.
pub(crate) async fn count(pool: &PgPool, table: &'static str) -> anyhow::Result<i64> {
    let sql = format!("select count(*) from {table}");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?)
}

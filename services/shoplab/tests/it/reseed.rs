//! Re-seeding keeps what is derived from the events consistent: after `shoplab seed` replaced the events
//! under a running aggregator, every pre-aggregated window equals the SQL over the new events again
//! (before the reset existed, the old `ready` marker survived and the buckets kept counting removed events).

use std::time::Duration;

use analytics::buckets::Keys;
use analytics::levers::Sources;
use analytics::levers::preaggregation::{from_buckets, from_raw_events};
use analytics::redis_conn::RedisConn;
use analytics::window::{Range, Window};
use chrono::Utc;
use kit::db::Db;
use kit::metrics::Metrics;
use kit::testing::TestEnv;
use serde_json::json;
use shoplab::seed::{SeedArgs, run_with};
use tokio_util::sync::CancellationToken;

fn sizes(events: i64) -> SeedArgs {
    SeedArgs { products: 60, categories: 6, users: 5, events, quiet: true, if_empty: false }
}

async fn sources(env: &TestEnv) -> Sources {
    let config = env.config();
    let metrics = Metrics::new("test");
    Sources {
        db: Db::from_pool(env.pool.clone(), "test", &metrics),
        redis: RedisConn::connect(&config.redis_url).await.expect("redis"),
        keys: Keys::new(&config.redis_prefix),
        flags: kit::flags::Flags::start(env.pool.clone(), metrics).await.expect("flags"),
    }
}

/// Windows whose pre-aggregates differ from SQL over the same buckets (empty = consistent); `None` while
/// the pre-aggregates are not ready.
async fn mismatches(s: &Sources) -> Option<Vec<&'static str>> {
    let mut wrong = Vec::new();
    for window in Window::ALL {
        let fast = from_buckets(s, window.range_at(Utc::now())).await.unwrap()?;
        let range: Range = window.range_ending(window.grain().bucket(fast.to) - 1);
        if fast != from_raw_events(&s.db, range).await.unwrap() {
            wrong.push(window.as_str());
        }
    }
    Some(wrong)
}

/// Waits (30 s at most) until every window agrees with SQL; returns the last disagreement otherwise.
async fn settle(s: &Sources) -> Result<(), Option<Vec<&'static str>>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seen = mismatches(s).await;
        if seen.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(seen);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reseeding_the_events_rebuilds_every_window_from_the_new_ones() {
    let env = TestEnv::new().await;
    let config = env.config();
    env.delete_amqp_on_drop(analytics::topology::Names::new(&config.amqp_prefix).names());
    let seed = |events| run_with(&config.database_url, &config.redis_url, &config.redis_prefix, sizes(events));
    seed(3_000).await.expect("first seed");

    let api = analytics::startup::build(config.clone(), "127.0.0.1:0").await.expect("api");
    let url = kit::testing::serve(api);
    let stop = CancellationToken::new();
    let relay = analytics::relay::RelayWorker::build(config.clone()).await.expect("relay");
    tokio::spawn(relay.run(stop.clone()));
    let aggregator = analytics::aggregator::Aggregator::build(config.clone()).await.expect("aggregator");
    tokio::spawn(aggregator.run(stop.clone()));
    let s = sources(&env).await;
    settle(&s).await.expect("the first backfill matches SQL");

    // ingest through the pipeline, as a k6 run would
    let now = Utc::now();
    let batch: Vec<_> = (0..200)
        .map(|i| {
            let at = now - chrono::Duration::seconds(i * 17);
            json!({ "id": uuid::Uuid::new_v4(), "type": if i % 9 == 0 { "order" } else { "view" }, "product_id": 1 + i % 7,
                    "amount_cents": if i % 9 == 0 { 1_000 + i } else { 0 }, "occurred_at": at, "session_id": "s", "user_id": 1 })
        })
        .collect();
    let resp = reqwest::Client::new().post(format!("{url}/events")).json(&json!({ "events": batch })).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let count = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>("select count(*) from analytics.events").fetch_one(&pool).await.unwrap()
    };
    assert_eq!(count(env.pool.clone()).await, 3_200);
    settle(&s).await.expect("the ingested batch is applied");

    // the count differs from the requested size, so the events are replaced: the buckets must follow
    seed(2_000).await.expect("reseed");
    assert_eq!(count(env.pool.clone()).await, 2_000);
    if let Err(last) = settle(&s).await {
        panic!("after the reseed these windows still disagree with SQL: {last:?}");
    }
    stop.cancel();
}

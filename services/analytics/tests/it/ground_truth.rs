//! For a fixed event set, the pre-aggregated dashboards equal the SQL ground truth for every window —
//! including events counted by the backfill, batches that were both in the backfill's snapshot and in the
//! queue, retried batches, and events right at the window edges.

use crate::support::{Lab, PREAGGREGATION, event, events, insert_direct};
use analytics::dashboard::Overview;
use analytics::levers::preaggregation::{from_buckets, from_raw_events};
use analytics::window::Window;
use chrono::{Duration, Utc};

#[tokio::test]
async fn preaggregated_answers_equal_sql_for_every_window() {
    let lab = Lab::start().await;
    lab.set_flag(PREAGGREGATION, true).await;
    let sources = lab.sources().await;
    let now = Utc::now();

    // history the backfill must count: written straight to Postgres, like the seed (no outbox rows)
    insert_direct(&lab.env.pool, &events(1, 1500, now, Duration::days(7) + Duration::hours(2))).await;
    // ingested before any aggregator exists: in the backfill's snapshot *and* queued as messages
    for chunk in events(2, 600, now, Duration::days(6)).chunks(200) {
        assert_eq!(lab.post_events(chunk).await.status(), 202);
    }
    let relay = lab.spawn_relay().await;
    let aggregator = lab.spawn_aggregator().await;
    lab.wait_ready(&sources).await;

    // the live stream: recent events, a retried batch, ties in the top list, edges of the windows
    let recent = events(3, 400, now, Duration::minutes(20));
    for chunk in recent.chunks(100) {
        assert_eq!(lab.post_events(chunk).await.status(), 202);
    }
    let retry = lab.post_events(&recent[..100]).await.json::<serde_json::Value>().await.unwrap();
    assert_eq!((retry["accepted"].as_i64(), retry["duplicates"].as_i64()), (Some(0), Some(100)));
    let ties: Vec<_> = (500..515).flat_map(|p| (0..3).map(move |_| event("view", p, now - Duration::seconds(30)))).collect();
    assert_eq!(lab.post_events(&ties).await.status(), 202);
    let edges = vec![
        event("order", 7, now + Duration::minutes(2)), // slightly ahead of the clock: outside until its minute comes
        event("view", 9, now - Duration::minutes(14)), // near the start of 15m
        event("view", 9, now - Duration::hours(23)),   // near the start of 24h
        event("add_to_cart", 9, now - Duration::hours(167)), // near the start of 7d
    ];
    assert_eq!(lab.post_events(&edges).await.status(), 202);
    lab.wait_all_applied(&sources).await;
    assert!(aggregator.aggregated() > 0, "the stream part was applied by the consumer");

    for window in Window::ALL {
        let fast = from_buckets(&sources, window.range_at(Utc::now())).await.unwrap().expect("backfill done");
        // the read may have been rolled a bucket ahead by the aggregator's ticker: compare the same range
        let truth = from_raw_events(&sources.db, range_of(&fast)).await.unwrap();
        assert_eq!(fast, truth, "window {}", window.as_str());
        assert!(fast.totals.views > 0 && !fast.top_products.is_empty(), "window {} has data", window.as_str());
    }

    // and the HTTP answer (flag on) is the same document
    let http: Overview = lab.dashboard("7d").await.json().await.unwrap();
    assert_eq!(http, from_raw_events(&sources.db, range_of(&http)).await.unwrap());
    relay.stop.cancel();
    aggregator.stop.cancel();
}

/// The bucket range a document covers.
fn range_of(doc: &Overview) -> analytics::window::Range {
    let window = Window::parse(&doc.window).unwrap();
    window.range_ending(window.grain().bucket(doc.to) - 1)
}

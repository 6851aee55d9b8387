//! Killing the aggregator mid-stream and starting another keeps the totals exact: no batch lost (the
//! broker redelivers what was not acknowledged) and none counted twice (a batch applied but not yet
//! acknowledged is recognised by its message id).

use std::time::Duration;

use crate::support::{Lab, events};
use analytics::buckets::{self, Applied, Deltas};
use analytics::levers::preaggregation::{from_buckets, from_raw_events};
use analytics::topology::EventBatch;
use analytics::window::Window;
use chrono::Utc;
use kit::testing::eventually;

#[tokio::test]
async fn killing_the_aggregator_mid_stream_loses_and_doubles_nothing() {
    let lab = Lab::start().await;
    let sources = lab.sources().await;
    let relay = lab.spawn_relay().await;
    let first = lab.spawn_aggregator().await;
    lab.wait_ready(&sources).await;
    let stream = events(11, 2000, Utc::now(), chrono::Duration::minutes(50));
    let batches: Vec<_> = stream.chunks(50).collect();

    for batch in &batches[..15] {
        assert_eq!(lab.post_events(batch).await.status(), 202);
    }
    let started = eventually(Duration::from_secs(20), || async { first.aggregated() > 0 }).await;
    let pending: (i64, i64) =
        sqlx::query_as("select count(*) filter (where published_at is null), count(*) from analytics.outbox")
            .fetch_one(&lab.env.pool)
            .await
            .unwrap();
    assert!(
        started.is_some(),
        "the first aggregator never applied anything (outbox unpublished/total: {pending:?}, relay done: {})",
        relay.task.is_finished()
    );
    // kill it: no cancellation, no chance to finish the batch in hand or to close cleanly
    first.task.abort();
    let _ = first.task.await;
    for batch in &batches[15..] {
        assert_eq!(lab.post_events(batch).await.status(), 202);
    }

    // a batch the dead aggregator applied but never acknowledged: still in the queue, already in Redis
    let (id, payload) = last_published_message(&lab).await;
    let batch: EventBatch = serde_json::from_value(payload).unwrap();
    let applied = buckets::apply(&sources.redis, &sources.keys, Some(&id), &Deltas::from_events(&batch.events)).await.unwrap();
    assert_eq!(applied, Applied::Yes);

    let second = lab.spawn_aggregator().await;
    lab.wait_all_applied(&sources).await;
    assert!(second.aggregated() > 0, "the second aggregator picked up the rest");

    for window in [Window::M15, Window::H1] {
        let fast = from_buckets(&sources, window.range_at(Utc::now())).await.unwrap().expect("ready");
        let last = window.grain().bucket(fast.to) - 1;
        let truth = from_raw_events(&sources.db, window.range_ending(last)).await.unwrap();
        assert_eq!(fast, truth, "window {}", window.as_str());
    }
    let hour = from_buckets(&sources, Window::H24.range_at(Utc::now())).await.unwrap().expect("ready");
    let total = hour.totals.views + hour.totals.add_to_cart + hour.totals.orders;
    assert_eq!(total, 2000, "every event counted exactly once");
    relay.stop.cancel();
    second.stop.cancel();
}

/// The newest outbox message once the relay has published it: (message id, payload).
async fn last_published_message(lab: &Lab) -> (String, serde_json::Value) {
    let published = eventually(Duration::from_secs(20), || async {
        let n: i64 = sqlx::query_scalar("select count(*) from analytics.outbox where published_at is null")
            .fetch_one(&lab.env.pool)
            .await
            .unwrap();
        n == 0
    })
    .await;
    assert!(published.is_some(), "relay did not publish");
    sqlx::query_as("select message_id::text, payload from analytics.outbox order by id desc limit 1")
        .fetch_one(&lab.env.pool)
        .await
        .unwrap()
}

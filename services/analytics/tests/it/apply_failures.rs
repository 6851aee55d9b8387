//! A batch the apply script cannot apply must neither half-apply nor vanish: the script writes nothing
//! unless every bucket validates and sets the batch's applied marker last, and a batch refused again and
//! again ends in the dead-letter queue, counted, without holding up the batches behind it.

use std::time::Duration;

use crate::support::{Lab, event};
use analytics::buckets::{self, Deltas};
use analytics::metrics::{AnalyticsMetrics, StageLabels};
use analytics::topology::{EventRecord, Kind, Names};
use analytics::window::Grain;
use chrono::{DateTime, Utc};
use kit::redis::redis;
use kit::testing::eventually;
use lapin::options::QueueDeclareOptions;

/// The counter key of `at`'s minute bucket.
fn minute_key(keys: &buckets::Keys, at: DateTime<Utc>) -> String {
    format!("{}m:{}", keys.base, Grain::Minute.bucket(at))
}

fn view(at: DateTime<Utc>, product_id: i64) -> EventRecord {
    EventRecord { id: uuid::Uuid::now_v7(), occurred_at: at, kind: Kind::View, product_id, amount_cents: 0 }
}

#[tokio::test]
async fn a_refused_batch_writes_nothing_and_leaves_no_marker() {
    let lab = Lab::start().await;
    let s = lab.sources().await;
    let mut c = s.redis.get().await.unwrap();
    let _: () = redis::cmd("SET").arg(s.keys.ready()).arg("{}").query_async(&mut c).await.unwrap();
    let (early, late) = (Utc::now() - chrono::Duration::minutes(5), Utc::now() - chrono::Duration::minutes(1));
    // the later bucket holds something that is not a counter: the batch cannot be applied as a whole
    let _: () = redis::cmd("SET").arg(minute_key(&s.keys, late)).arg("garbage").query_async(&mut c).await.unwrap();

    let deltas = Deltas::from_events(&[view(early, 3), view(late, 4)]);
    let err = buckets::apply(&s.redis, &s.keys, Some("batch-1"), &deltas).await.expect_err("the batch is refused");
    assert_eq!(err.code(), Some("INVALID"), "{err}");

    let early_written: bool = redis::cmd("EXISTS").arg(minute_key(&s.keys, early)).query_async(&mut c).await.unwrap();
    let marked: bool = redis::cmd("EXISTS").arg(s.keys.applied("batch-1")).query_async(&mut c).await.unwrap();
    assert!(!early_written, "a bucket before the bad one was written: the refused batch half-applied");
    assert!(!marked, "the refused batch is marked applied: its redelivery would be skipped as a duplicate");

    // repaired, the same batch applies in full, once
    let _: () = redis::cmd("DEL").arg(minute_key(&s.keys, late)).query_async(&mut c).await.unwrap();
    assert_eq!(buckets::apply(&s.redis, &s.keys, Some("batch-1"), &deltas).await.unwrap(), buckets::Applied::Yes);
    assert_eq!(buckets::apply(&s.redis, &s.keys, Some("batch-1"), &deltas).await.unwrap(), buckets::Applied::Duplicate);
    let counter: String = redis::cmd("GET").arg(minute_key(&s.keys, late)).query_async(&mut c).await.unwrap();
    assert_eq!(counter, "1 0 0 0");
}

#[tokio::test]
async fn a_batch_refused_three_times_is_dead_lettered_counted_and_blocks_nothing() {
    let lab = Lab::start().await;
    let s = lab.sources().await;
    let relay = lab.spawn_relay().await;
    let aggregator = lab.spawn_aggregator().await;
    lab.wait_ready(&s).await;
    let poisoned = Utc::now() - chrono::Duration::minutes(3);
    let mut c = s.redis.get().await.unwrap();
    let _: () = redis::cmd("SET").arg(minute_key(&s.keys, poisoned)).arg("not a counter").query_async(&mut c).await.unwrap();

    let bad = [event("view", 1, poisoned), event("view", 2, poisoned)];
    assert_eq!(lab.post_events(&bad).await.status(), 202);
    let good_at = Utc::now() - chrono::Duration::minutes(10);
    assert_eq!(lab.post_events(&[event("view", 5, good_at)]).await.status(), 202);

    let dead = StageLabels { stage: "dead_lettered" };
    let metrics = aggregator.metrics.clone().unwrap();
    let counted =
        eventually(Duration::from_secs(30), || async { AnalyticsMetrics::of(&metrics).events.get_or_create(&dead).get() == 2 })
            .await;
    assert!(counted.is_some(), "the refused batch's 2 events were never counted as dead-lettered");

    let conn = kit::amqp::connect(&lab.env.config().amqp_url).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let names = Names::new(&lab.env.config().amqp_prefix);
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let queue = ch.queue_declare(names.dead_queue.as_str().into(), passive, Default::default()).await.unwrap();
    assert_eq!(queue.message_count(), 1, "the batch waits in the dead-letter queue, once");

    // the relay may publish the good batch only after the refused one used up its attempts: wait for it
    let good_key = minute_key(&s.keys, good_at);
    let applied = eventually(Duration::from_secs(10), || async {
        let mut c = s.redis.get().await.unwrap();
        let good: Option<String> = redis::cmd("GET").arg(&good_key).query_async(&mut c).await.unwrap();
        good.as_deref() == Some("1 0 0 0")
    })
    .await;
    assert!(applied.is_some(), "the batch behind the refused one was applied");
    let _ = conn.close(200, "test done".into()).await;
    relay.stop.cancel();
    aggregator.stop.cancel();
}

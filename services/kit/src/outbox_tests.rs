//! The outbox works for any table a service names, and counts what the service asks it to: a table created
//! here, unknown to the kit, goes through enqueue -> relay -> broker.

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use prometheus_client::metrics::counter::Counter;
use serde_json::json;

use super::*;
use crate::testing::TestEnv;

const TABLE: &str = "create table public.orders_outbox (id bigserial primary key, message_id uuid not null unique, \
     exchange text not null, routing_key text not null, payload jsonb not null, traceparent text, \
     published_at timestamptz, claimed_until timestamptz, attempts int not null default 0, last_error text, \
     parked_at timestamptz)";

/// What the test service counts when its rows are published: the items its payloads carry.
struct Shipped {
    items: Counter,
}

impl Families for Shipped {
    fn register(r: &mut Registry) -> Self {
        let items = Counter::default();
        r.register("test_items_shipped", "Items in published orders", items.clone());
        Self { items }
    }
}

fn count_items(metrics: &Metrics, payloads: &[&Value]) {
    let n: usize = payloads.iter().map(|p| p["items"].as_array().map_or(0, Vec::len)).sum();
    metrics.families::<Shipped>().items.inc_by(n as u64);
}

const OUTBOX: Outbox = crate::outbox!("public.orders_outbox").on_published(count_items);

#[tokio::test]
async fn a_service_table_is_relayed_and_counted_the_services_way() {
    let env = TestEnv::new().await;
    sqlx::query(TABLE).execute(&env.pool).await.unwrap();
    let prefix = env.config().amqp_prefix;
    let (exchange, queue) = (crate::amqp::name(&prefix, "orders"), crate::amqp::name(&prefix, "orders.shipping"));
    env.delete_amqp_on_drop([exchange.clone(), queue.clone()]);
    let conn = crate::amqp::connect(&env.config().amqp_url).await.unwrap();
    let channel = crate::amqp::confirm_channel(&conn).await.unwrap();
    let durable = lapin::options::ExchangeDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(exchange.as_str().into(), lapin::ExchangeKind::Direct, durable, FieldTable::default())
        .await
        .unwrap();
    channel.queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), FieldTable::default()).await.unwrap();
    let bind = QueueBindOptions::default();
    channel
        .queue_bind(queue.as_str().into(), exchange.as_str().into(), "placed".into(), bind, FieldTable::default())
        .await
        .unwrap();

    let mut tx = env.pool.begin().await.unwrap();
    for items in [json!([1, 2]), json!([3]), json!([])] {
        enqueue(&mut tx, &OUTBOX, &exchange, "placed", &json!({ "items": items })).await.unwrap();
    }
    tx.commit().await.unwrap();

    let metrics = Metrics::new("orders-relay");
    let db = Db::from_pool(env.pool.clone(), "test", &metrics);
    let relay = Relay { db, outbox: OUTBOX, channel: channel.clone(), metrics: metrics.clone(), batch: 10 };
    assert_eq!(relay.relay_batch().await.unwrap(), 3, "every row published");
    assert_eq!(relay.relay_batch().await.unwrap(), 0, "and marked: none is published twice");
    assert_eq!(metrics.families::<Shipped>().items.get(), 3, "the service's own count of its payloads");
    assert_eq!(metrics.families::<OutboxMetrics>().pending.get(), 0);
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let depth = channel.queue_declare(queue.as_str().into(), passive, FieldTable::default()).await.unwrap().message_count();
    assert_eq!(depth, 3, "the broker holds the three messages");
    assert!(metrics.render().contains("test_items_shipped_total{service=\"orders-relay\"} 3"));
    let _ = conn.close(200, "test done".into()).await;
}

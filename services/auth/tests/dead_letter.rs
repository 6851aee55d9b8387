//! Messages that cannot be delivered end in the dead-letter queue instead of looping forever: an
//! unreadable payload at once, a message the provider keeps failing after the last attempt.

mod common;

use std::time::Duration;

use auth::email::topology::{ROUTING_KEY, Topology};
use common::{Lab, eventually, metric, settings};
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::json;

/// Messages waiting in the DLQ (passive declare: never creates it).
async fn dlq_depth(ch: &lapin::Channel, topology: &Topology) -> u32 {
    let opts = QueueDeclareOptions { passive: true, ..Default::default() };
    ch.queue_declare(topology.dlq.as_str().into(), opts, FieldTable::default()).await.map(|q| q.message_count()).unwrap_or(0)
}

#[tokio::test]
async fn an_unreadable_message_is_dead_lettered_at_once() {
    let lab = Lab::start(settings()).await;
    let (_worker, core) = lab.spawn_worker().await;
    let topology = Topology::new(&lab.config.amqp_prefix, &lab.settings.email);
    let conn = kit::amqp::connect(&lab.config.amqp_url).await.unwrap();
    let ch = kit::amqp::confirm_channel(&conn).await.unwrap();
    topology.declare(&ch).await.unwrap();
    let poison = kit::amqp::Outgoing {
        exchange: &topology.exchange,
        routing_key: ROUTING_KEY,
        message_id: &uuid::Uuid::now_v7().to_string(),
        payload: b"{\"not\": \"an email\"}",
        headers: FieldTable::default(),
    };
    kit::amqp::publish(&ch, poison).await.unwrap();

    eventually("the poison message reached the DLQ", Duration::from_secs(20), || async { dlq_depth(&ch, &topology).await == 1 })
        .await;
    let m = core.metrics.render();
    assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", "dead_lettered")]), 1.0);
    assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", "retried")]), 0.0, "never retried");
    let _ = conn.close(200, "done".into()).await;
}

#[tokio::test]
async fn a_message_the_provider_keeps_failing_is_dead_lettered_after_the_last_attempt() {
    let mut s = settings();
    s.email.max_attempts = 3;
    let lab = Lab::start(s).await;
    lab.flag("auth.async_email", json!(true)).await;
    lab.flag("emailprovider.latency_ms", json!(0)).await;
    lab.flag("emailprovider.error_rate", json!(1.0)).await;
    lab.flag("emailprovider.mode", json!("flaky")).await;
    lab.signed_up("doomed@shoplab.test").await;
    let (_relay, _) = lab.spawn_relay().await;
    let (_worker, core) = lab.spawn_worker().await;

    let topology = Topology::new(&lab.config.amqp_prefix, &lab.settings.email);
    let conn = kit::amqp::connect(&lab.config.amqp_url).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    eventually("the message reached the DLQ", Duration::from_secs(30), || async { dlq_depth(&ch, &topology).await == 1 }).await;
    let m = core.metrics.render();
    for (result, n) in [("failed", 3.0), ("retried", 2.0), ("dead_lettered", 1.0), ("sent", 0.0)] {
        assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", result)]), n, "{result}");
    }
    let dead = ch.basic_get(topology.dlq.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap().expect("in the DLQ");
    assert_eq!(kit::amqp::death_count(&dead.delivery), 3, "two trips through wait queues, then the final rejection");
    assert_eq!(lab.messages("doomed@shoplab.test").await["total"], 0);
    let _ = conn.close(200, "done".into()).await;
}

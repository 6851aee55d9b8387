//! Messages that cannot be delivered end in the dead-letter queue instead of looping forever: an
//! unreadable payload at once, a message the provider keeps failing after the last attempt — counted in
//! shoplab's own `shoplab-attempts` header, whatever the broker does with `x-death`.

use std::time::Duration;

use crate::common::{Lab, eventually, metric, settings};
use auth::email::topology::{ROUTING_KEY, Topology};
use auth::worker::retry::attempt_of;
use kit::amqp::ATTEMPTS_HEADER;
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldArray, FieldTable, ShortString};
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
    // declared here too (idempotent): a passive declare of a DLQ the worker has not declared yet would
    // close the channel, and every later look would read 0
    topology.declare(&ch).await.unwrap();
    eventually("the message reached the DLQ", Duration::from_secs(30), || async { dlq_depth(&ch, &topology).await == 1 }).await;
    let m = core.metrics.render();
    for (result, n) in [("failed", 3.0), ("retried", 2.0), ("dead_lettered", 1.0), ("sent", 0.0)] {
        assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", result)]), n, "{result}");
    }
    let dead = ch.basic_get(topology.dlq.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap().expect("in the DLQ");
    assert_eq!(attempt_of(&dead.delivery), 3, "dead-lettered at its third attempt, counted in {ATTEMPTS_HEADER}");
    assert_eq!(lab.messages("doomed@shoplab.test").await["total"], 0);
    let _ = conn.close(200, "done".into()).await;
}

/// A broker that ignores (or a client that forges) `x-death` changes nothing: a message arriving with an
/// `x-death` count of 10 still gets its 3 attempts, because the count is read from shoplab's own header.
#[tokio::test]
async fn attempts_are_counted_in_our_own_header_not_in_x_death() {
    let mut s = settings();
    s.email.max_attempts = 3;
    let lab = Lab::start(s).await;
    lab.flag("emailprovider.latency_ms", json!(0)).await;
    lab.flag("emailprovider.error_rate", json!(1.0)).await;
    lab.flag("emailprovider.mode", json!("flaky")).await;
    let (_worker, core) = lab.spawn_worker().await;
    let topology = Topology::new(&lab.config.amqp_prefix, &lab.settings.email);
    let conn = kit::amqp::connect(&lab.config.amqp_url).await.unwrap();
    let ch = kit::amqp::confirm_channel(&conn).await.unwrap();
    topology.declare(&ch).await.unwrap();
    let email = auth::email::VerificationEmail::new(uuid::Uuid::now_v7(), "forged@shoplab.test", "t".repeat(64));
    let payload = serde_json::to_vec(&email).unwrap();
    let mut death = FieldTable::default();
    death.insert(ShortString::from("count"), AMQPValue::LongLongInt(10));
    let mut headers = FieldTable::default();
    headers.insert(ShortString::from("x-death"), AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])));
    let id = uuid::Uuid::now_v7().to_string();
    let msg = kit::amqp::Outgoing {
        exchange: &topology.exchange,
        routing_key: ROUTING_KEY,
        message_id: &id,
        payload: &payload,
        headers,
    };
    kit::amqp::publish(&ch, msg).await.unwrap();

    eventually("the message reached the DLQ", Duration::from_secs(30), || async { dlq_depth(&ch, &topology).await == 1 }).await;
    let m = core.metrics.render();
    for (result, n) in [("failed", 3.0), ("retried", 2.0), ("dead_lettered", 1.0)] {
        assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", result)]), n, "{result}");
    }
    let _ = conn.close(200, "done".into()).await;
}

/// An open breaker refuses calls for longer than the whole retry schedule; the worker holds its messages
/// instead of spending their attempts on refused calls, so none is dead-lettered and every email goes
/// out once the provider heals.
#[tokio::test]
async fn an_open_breaker_holds_messages_instead_of_dead_lettering_them() {
    let mut s = settings();
    s.email.max_attempts = 2;
    s.breaker = auth::levers::email_circuit_breaker::BreakerConfig {
        failure_rate: 0.5,
        window: Duration::from_secs(60),
        min_calls: 1,
        open_for: Duration::from_secs(3),
        half_open_probes: 1,
    };
    let lab = Lab::start(s).await;
    lab.flag("auth.async_email", json!(true)).await;
    lab.flag("auth.email_circuit_breaker", json!(true)).await;
    lab.flag("emailprovider.latency_ms", json!(0)).await;
    lab.flag("emailprovider.error_rate", json!(1.0)).await;
    lab.flag("emailprovider.mode", json!("flaky")).await;
    let users: Vec<String> = (0..5).map(|i| format!("held{i}@shoplab.test")).collect();
    for u in &users {
        lab.signed_up(u).await;
    }
    let (_relay, _) = lab.spawn_relay().await;
    let (_worker, core) = lab.spawn_worker().await;

    let state = |core: &kit::app::Core| {
        metric(&core.metrics.render(), "shoplab_circuit_breaker_state", &[("dependency", "email-provider")])
    };
    eventually("the first failure opened the worker's breaker", Duration::from_secs(10), || async { state(&core) == 2.0 }).await;
    // the provider heals while the breaker is still open (3 s, far longer than 2 attempts x 50-100 ms)
    lab.flag("emailprovider.mode", json!("healthy")).await;

    eventually("every email was delivered", Duration::from_secs(30), || async {
        let mut all = true;
        for u in &users {
            all &= lab.messages(u).await["total"] == 1;
        }
        all
    })
    .await;
    // the worker counts a send once its processed-message row committed, just after the provider's answer
    let sent = || metric(&core.metrics.render(), "shoplab_email_send_total", &[("result", "sent")]);
    eventually("the worker recorded 5 sends", Duration::from_secs(5), || async { sent() == 5.0 }).await;
    let conn = kit::amqp::connect(&lab.config.amqp_url).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let topology = Topology::new(&lab.config.amqp_prefix, &lab.settings.email);
    assert_eq!(dlq_depth(&ch, &topology).await, 0, "nothing dead-lettered");
    let m = core.metrics.render();
    assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", "dead_lettered")]), 0.0);
    assert!(metric(&m, "shoplab_email_send_total", &[("result", "short_circuited")]) >= 1.0, "the breaker held messages back");
    assert_eq!(state(&core), 0.0, "closed again after the probe succeeded");
    let _ = conn.close(200, "done".into()).await;
}

//! The outbox relay (`kit::outbox::Relay`, shared with auth) under the two faults that used to stop it
//! silently: a row the broker refuses at the head of the queue, and a broker that stops confirming.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use analytics::topology::{self, Names};
use kit::db::Db;
use kit::metrics::Metrics;
use kit::outbox::{MAX_ATTEMPTS, OutboxMetrics, Relay};
use kit::testing::TestEnv;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn relay(env: &TestEnv, amqp_url: &str) -> (Relay, lapin::Connection) {
    let conn = kit::amqp::connect(amqp_url).await.expect("amqp");
    let channel = kit::amqp::confirm_channel(&conn).await.unwrap();
    let names = Names::new(&env.config().amqp_prefix);
    env.delete_amqp_on_drop(names.names());
    topology::declare(&channel, &names).await.unwrap();
    let metrics = Metrics::new("relay-test");
    let db = Db::from_pool(env.pool.clone(), "test", &metrics);
    (Relay { db, outbox: analytics::relay::OUTBOX, channel, metrics, batch: 10 }, conn)
}

async fn enqueue(env: &TestEnv, routing_key: &str) -> uuid::Uuid {
    let exchange = Names::new(&env.config().amqp_prefix).exchange;
    let mut tx = env.pool.begin().await.unwrap();
    let payload = json!({ "ingested_at": chrono::Utc::now(), "events": [] });
    let id = kit::outbox::enqueue(&mut tx, &analytics::relay::OUTBOX, &exchange, routing_key, &payload).await.unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn a_refused_row_is_parked_with_its_error_and_blocks_nothing() {
    let env = TestEnv::new().await;
    let (relay, _conn) = relay(&env, &env.config().amqp_url).await;
    let poison = enqueue(&env, "routed.nowhere").await;
    let fine = enqueue(&env, topology::ROUTING_KEY).await;

    let mut published = 0;
    for _ in 0..MAX_ATTEMPTS {
        published += relay.relay_batch().await.expect("a refused row is not a relay failure");
        // stand-in for the lease running out (the back-off between attempts)
        sqlx::query("update analytics.outbox set claimed_until = null").execute(&env.pool).await.unwrap();
    }
    assert_eq!(published, 1, "the row behind the refused one was published, once");
    let row = |id: uuid::Uuid| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_as::<_, (bool, bool, i32, Option<String>)>(
                "select published_at is not null, parked_at is not null, attempts, last_error from analytics.outbox where message_id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert!(row(fine).await.0, "the row behind the refused one is marked published");
    let (poison_published, parked, attempts, error) = row(poison).await;
    assert!(!poison_published && parked, "the refused row is parked, not published");
    assert_eq!(attempts, MAX_ATTEMPTS);
    assert!(error.unwrap_or_default().contains("unroutable"), "the row keeps its error");
    let gauges = relay.metrics.families::<OutboxMetrics>();
    assert_eq!(gauges.parked.get(), 1, "parked rows are counted");
    assert_eq!(gauges.pending.get(), 0, "a parked row is no longer pending");
    assert_eq!(relay.relay_batch().await.unwrap(), 0, "a parked row is never claimed again");
}

#[tokio::test]
async fn a_broker_that_stops_confirming_costs_one_timeout_and_no_open_transaction() {
    let env = TestEnv::new().await;
    let proxy = Proxy::start(&env.config().amqp_url).await;
    let (relay, _conn) = relay(&env, &proxy.url).await;
    let id = enqueue(&env, topology::ROUTING_KEY).await;
    proxy.frozen.store(true, Ordering::SeqCst);

    let batch = tokio::spawn(async move { relay.relay_batch().await.map(|_| ()) });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle: i64 =
        sqlx::query_scalar("select count(*) from pg_stat_activity where datname = $1 and state like 'idle in transaction%'")
            .bind(&env.db_name)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(idle, 0, "the relay holds a transaction open while it waits for the broker");

    let outcome = tokio::time::timeout(Duration::from_secs(20), batch).await.expect("the publish wait is bounded");
    assert!(outcome.unwrap().is_err(), "a publish without confirm is a failure the relay reconnects after");
    let (published, leased): (bool, bool) =
        sqlx::query_as("select published_at is not null, claimed_until is not null from analytics.outbox where message_id = $1")
            .bind(id)
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(!published && !leased, "the row is unpublished and free for the next relay at once");
}

/// A TCP proxy in front of RabbitMQ that can stop forwarding (a broker under a memory alarm, or a
/// network that silently drops packets), without touching the shared broker.
struct Proxy {
    url: String,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(amqp_url: &str) -> Self {
        let target = url::Url::parse(amqp_url).unwrap();
        let upstream = format!("{}:{}", target.host_str().unwrap(), target.port().unwrap_or(5672));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut url = target.clone();
        url.set_port(Some(listener.local_addr().unwrap().port())).unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, flag.clone()));
                tokio::spawn(pipe(sr, cw, flag.clone()));
            }
        });
        Self { url: url.to_string(), frozen }
    }
}

async fn pipe(mut from: impl AsyncReadExt + Unpin, mut to: impl AsyncWriteExt + Unpin, frozen: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

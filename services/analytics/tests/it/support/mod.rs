//! Shared helpers of the analytics tests: an API on port 0 in its own `TestEnv`, flag flips, in-process
//! relay and aggregator tasks, deterministic event sets and the "everything applied" probe.
#![allow(dead_code)]

use std::time::Duration;

use analytics::buckets::Keys;
use analytics::levers::Sources;
use analytics::redis_conn::RedisConn;
use chrono::{DateTime, Utc};
use kit::db::Db;
use kit::metrics::Metrics;
use kit::redis::redis;
use kit::testing::{TestEnv, eventually};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const PREAGGREGATION: &str = "analytics.preaggregation";
pub const COALESCING: &str = "analytics.request_coalescing";

/// A running API in its own environment.
pub struct Lab {
    pub url: String,
    pub api_metrics: Metrics,
    pub dashboards: analytics::levers::Dashboards,
    pub client: reqwest::Client,
    /// Last field: dropped (cleaned up) after everything above.
    pub env: TestEnv,
}

impl Lab {
    /// A fresh environment with the API serving on a free port.
    pub async fn start() -> Self {
        let env = TestEnv::new().await;
        env.delete_amqp_on_drop(analytics::topology::Names::new(&env.config().amqp_prefix).names());
        let api = analytics::startup::build_api(env.config(), "127.0.0.1:0").await.expect("build analytics API");
        let (api_metrics, dashboards) = (api.metrics.clone(), api.dashboards.clone());
        let url = kit::testing::serve(api.app);
        Self { url, api_metrics, dashboards, client: reqwest::Client::new(), env }
    }

    /// Sets a flag through the admin API and waits until this API's snapshot shows it.
    pub async fn set_flag(&self, name: &str, value: bool) {
        let resp = self
            .client
            .put(format!("{}/admin/flags/{name}", self.url))
            .bearer_auth(self.env.admin_token())
            .json(&json!({ "value": value }))
            .send()
            .await
            .expect("PUT flag");
        assert!(resp.status().is_success(), "flag write refused: {}", resp.text().await.unwrap_or_default());
        kit::testing::wait_for_flag(&self.url, name, &json!(value)).await;
    }

    /// `POST /events` with `{"events": events}`.
    pub async fn post_events(&self, events: &[Value]) -> reqwest::Response {
        self.client.post(format!("{}/events", self.url)).json(&json!({ "events": events })).send().await.expect("POST /events")
    }

    /// `GET /dashboards/overview?window=`.
    pub async fn dashboard(&self, window: &str) -> reqwest::Response {
        self.client.get(format!("{}/dashboards/overview?window={window}", self.url)).send().await.expect("GET dashboard")
    }

    /// Direct access to both dashboard sources (the naive SQL and the Redis buckets).
    pub async fn sources(&self) -> Sources {
        let config = self.env.config();
        let metrics = Metrics::new("test");
        let flags = kit::flags::Flags::start(self.env.pool.clone(), metrics.clone()).await.expect("flags");
        Sources {
            db: Db::from_pool(self.env.pool.clone(), "test", &metrics),
            redis: RedisConn::connect(&config.redis_url).await.expect("redis"),
            keys: Keys::new(&config.redis_prefix),
            flags,
        }
    }

    /// Starts the outbox relay in the background.
    pub async fn spawn_relay(&self) -> Worker {
        let relay = analytics::relay::RelayWorker::build(self.env.config()).await.expect("build relay");
        let stop = CancellationToken::new();
        Worker { task: tokio::spawn(relay.run(stop.clone())), stop, metrics: None }
    }

    /// Starts an aggregator in the background (it backfills first if needed).
    pub async fn spawn_aggregator(&self) -> Worker {
        let aggregator = analytics::aggregator::Aggregator::build(self.env.config()).await.expect("build aggregator");
        let metrics = aggregator.metrics().clone();
        let stop = CancellationToken::new();
        Worker { task: tokio::spawn(aggregator.run(stop.clone())), stop, metrics: Some(metrics) }
    }

    /// Waits until an aggregator has finished its backfill (so new batches go through the consumer).
    pub async fn wait_ready(&self, sources: &Sources) {
        let ready = eventually(Duration::from_secs(30), || async {
            analytics::backfill::is_ready(&sources.redis, &sources.keys).await.unwrap_or(false)
        })
        .await;
        assert!(ready.is_some(), "the aggregator never finished its backfill");
    }

    /// True when every outbox message is published and applied (or counted by the backfill).
    pub async fn all_applied(&self, redis: &RedisConn, keys: &Keys) -> bool {
        let rows: Vec<(String, bool)> = sqlx::query_as("select message_id::text, published_at is not null from analytics.outbox")
            .fetch_all(&self.env.pool)
            .await
            .unwrap();
        if rows.iter().any(|(_, published)| !published) {
            return false;
        }
        let mut c = redis.get().await.unwrap();
        for (id, _) in &rows {
            let applied: bool = redis::cmd("EXISTS").arg(keys.applied(id)).query_async(&mut c).await.unwrap();
            if !applied {
                return false;
            }
        }
        true
    }

    /// Waits until [`Lab::all_applied`] (30 s at most).
    pub async fn wait_all_applied(&self, sources: &Sources) {
        let done = eventually(Duration::from_secs(30), || self.all_applied(&sources.redis, &sources.keys)).await;
        assert!(done.is_some(), "the pipeline did not drain: some batches were never applied");
    }
}

/// A background worker task.
pub struct Worker {
    pub task: JoinHandle<anyhow::Result<()>>,
    pub stop: CancellationToken,
    /// The aggregator's metrics (None for the relay).
    pub metrics: Option<Metrics>,
}

impl Worker {
    /// Events this aggregator applied (`shoplab_analytics_events_total{stage="aggregated"}`).
    pub fn aggregated(&self) -> u64 {
        let m = self.metrics.as_ref().expect("aggregator metrics");
        let stage = analytics::metrics::StageLabels { stage: "aggregated" };
        analytics::metrics::AnalyticsMetrics::of(m).events.get_or_create(&stage).get()
    }
}

/// A small deterministic generator (tests must not depend on chance).
pub struct Lcg(pub u64);

impl Lcg {
    /// Next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// An event as JSON: `kind` at `at` on `product`, orders worth `product * 100` cents.
pub fn event(kind: &str, product: i64, at: DateTime<Utc>) -> Value {
    let amount = if kind == "order" { product * 100 } else { 0 };
    json!({ "id": uuid::Uuid::new_v4(), "type": kind, "product_id": product, "amount_cents": amount,
            "occurred_at": at, "session_id": "s-test", "user_id": product % 7 })
}

/// `n` events spread over the last `span` before `now` (skewed to low product ids, so the top list has
/// clear winners and some ties), deterministic for a given seed.
pub fn events(seed: u64, n: usize, now: DateTime<Utc>, span: chrono::Duration) -> Vec<Value> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|_| {
            let back = rng.below(span.num_seconds().max(1) as u64) as i64;
            let kind = match rng.below(100) {
                0..80 => "view",
                80..93 => "add_to_cart",
                _ => "order",
            };
            let spread = 1 + rng.below(40);
            let product = 1 + rng.below(spread) as i64;
            event(kind, product, now - chrono::Duration::seconds(back))
        })
        .collect()
}

/// Inserts events straight into `analytics.events`, bypassing the API (like the seed does).
pub async fn insert_direct(pool: &sqlx::PgPool, events: &[Value]) {
    for e in events {
        sqlx::query(
            "insert into analytics.events (id, occurred_at, type, product_id, user_id, session_id, amount_cents) \
             values ($1::text::uuid, $2::text::timestamptz, $3, $4, $5, $6, $7)",
        )
        .bind(e["id"].as_str())
        .bind(e["occurred_at"].as_str())
        .bind(e["type"].as_str())
        .bind(e["product_id"].as_i64())
        .bind(e["user_id"].as_i64())
        .bind(e["session_id"].as_str())
        .bind(e["amount_cents"].as_i64())
        .execute(pool)
        .await
        .expect("insert event");
    }
}

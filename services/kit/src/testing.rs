//! Test support (feature `test-support`): every test gets its own database, Redis key prefix and RabbitMQ
//! names, so tests run in parallel against the real services and never see each other's data.
//!
//! ```ignore
//! let env = kit::testing::TestEnv::new().await;
//! let app = my_service::Application::build(env.config(), "127.0.0.1:0").await?;
//! ```
//! The database is dropped, the Redis keys deleted and the queues/exchanges handed to
//! [`TestEnv::delete_amqp_on_drop`] removed when the `TestEnv` is dropped.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::config::Config;

/// Where the test databases are created (`TEST_DATABASE_URL`, default local Postgres).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into())
}

/// The admin token every [`TestEnv`] config accepts.
const TEST_ADMIN_TOKEN: &str = "test-admin-token";

/// An isolated environment for one test.
pub struct TestEnv {
    /// Name of this test's own database.
    pub db_name: String,
    /// A pool on it (migrated).
    pub pool: PgPool,
    /// Config pointing every service at the isolated names.
    config: Config,
    /// Queue and exchange names to delete on drop (AMQP cannot list them by prefix).
    amqp_names: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestEnv {
    /// Creates and migrates a fresh database and picks unique Redis/RabbitMQ prefixes.
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let db_name = format!("shoplab_test_{}", &id[..16]);
        let mut admin = PgConnection::connect(&format!("{}/postgres", server_url())).await.expect("connect to test Postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {db_name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = format!("{}/{db_name}", server_url());
        let pool = PgPoolOptions::new().max_connections(10).connect(&url).await.expect("connect test database");
        crate::migrate::run(&pool).await.expect("migrate test database");
        let mut config = Config::from_env();
        config.database_url = url;
        config.redis_prefix = format!("t:{}:", &id[..16]);
        config.amqp_prefix = format!("t.{}", &id[..16]);
        config.admin_token = Some(TEST_ADMIN_TOKEN.into());
        Self { db_name, pool, config, amqp_names: Default::default() }
    }

    /// The config services under test are built from.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// Bearer token the test config accepts for admin writes.
    pub fn admin_token(&self) -> &str {
        TEST_ADMIN_TOKEN
    }

    /// Deletes these queues/exchanges (the names a service's topology declares) when the env is dropped.
    pub fn delete_amqp_on_drop(&self, names: impl IntoIterator<Item = String>) {
        let mut kept = self.amqp_names.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for n in names {
            if !kept.contains(&n) {
                kept.push(n);
            }
        }
    }

    async fn cleanup(db_name: String, config: Config, amqp_names: Vec<String>) {
        if let Ok(pool) = crate::redis::connect(&config.redis_url, 1).await {
            let _ = crate::redis::delete_prefix(&pool, &config.redis_prefix).await;
        }
        Self::delete_amqp_names(&config, amqp_names).await;
        if let Ok(mut admin) = PgConnection::connect(&format!("{}/postgres", server_url())).await {
            let sql = format!("drop database if exists {db_name} with (force)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await;
        }
    }
}

impl TestEnv {
    /// Deletes the queues and exchanges handed to [`TestEnv::delete_amqp_on_drop`].
    async fn delete_amqp_names(config: &Config, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let Ok(conn) = crate::amqp::connect(&config.amqp_url).await else { return };
        if let Ok(ch) = conn.create_channel().await {
            for n in names {
                let _ = ch.queue_delete(n.as_str().into(), Default::default()).await;
                let _ = ch.exchange_delete(n.as_str().into(), Default::default()).await;
            }
        }
        let _ = conn.close(200, "test done".into()).await;
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let (db, config) = (self.db_name.clone(), self.config.clone());
        let names = std::mem::take(&mut *self.amqp_names.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        // Drop cannot be async and the test's runtime may be shutting down: clean up on a fresh one.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(Self::cleanup(db, config, names));
            }
        })
        .join();
    }
}

/// Runs a bound application in the background for the rest of the test; returns its base URL.
pub fn serve(app: crate::app::Application) -> String {
    let url = format!("http://{}", app.addr());
    tokio::spawn(app.run_until_stopped(futures::future::pending()));
    url
}

/// Polls `probe` every 20 ms until it returns true or `within` elapses; returns the time it took.
pub async fn eventually<F, Fut>(within: std::time::Duration, mut probe: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() <= within {
        if probe().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    None
}

/// An OTLP/HTTP trace receiver on a free port, standing in for Tempo: it decodes every protobuf export
/// and keeps the spans, so a test checks what a trace really contains.
///
/// ```ignore
/// let receiver = kit::testing::OtlpReceiver::start().await;
/// let guard = kit::telemetry::init_with("my-service", receiver.otlp());
/// // ... requests ...
/// guard.shutdown().await;
/// let spans = receiver.spans();
/// ```
pub struct OtlpReceiver {
    url: String,
    spans: std::sync::Arc<std::sync::Mutex<Vec<Span>>>,
}

pub use opentelemetry_proto::tonic::trace::v1::Span;

impl OtlpReceiver {
    /// Binds 127.0.0.1:0 and serves `POST /v1/traces` in the background.
    pub async fn start() -> Self {
        use prost::Message;
        let spans: std::sync::Arc<std::sync::Mutex<Vec<Span>>> = Default::default();
        let sink = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: bytes::Bytes| async move {
                use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
                let req = ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf");
                let got = req.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
                sink.lock().expect("receiver poisoned").extend(got);
                ""
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind OTLP receiver");
        let url = format!("http://{}", listener.local_addr().expect("receiver address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, spans }
    }

    /// Telemetry settings that export to this receiver over OTLP/HTTP.
    pub fn otlp(&self) -> crate::telemetry::Otlp {
        crate::telemetry::Otlp { endpoint: Some(self.url.clone()), protocol: "http/protobuf".into() }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().expect("receiver poisoned").clone()
    }
}

/// The value of attribute `key` of `span`, if it has one.
pub fn span_attr<'a>(span: &'a Span, key: &str) -> Option<&'a opentelemetry_proto::tonic::common::v1::any_value::Value> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.as_ref())
}

/// Longest a test waits for a process to report a flag written to the database (the processes poll the
/// flags every second; this leaves room for a loaded CI machine).
pub const FLAG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes flag `name` = `value` to the lab database (as `shoplab flags set` does) and waits until every
/// process at `bases` reports it (see [`wait_for_flag`]).
pub async fn set_flag(pool: &sqlx::PgPool, bases: &[&str], name: &str, value: serde_json::Value) {
    crate::flags::set(pool, name, &value, "test").await.unwrap_or_else(|e| panic!("set flag {name}: {e}"));
    for base in bases {
        wait_for_flag(base, name, &value).await;
    }
}

/// Waits until the process at `base` reports `name` = `value`: in `GET /admin/flags` where it serves it,
/// else (the workers) in the `shoplab_flag_value` gauge of its `/metrics`. Panics after [`FLAG_TIMEOUT`].
pub async fn wait_for_flag(base: &str, name: &str, value: &serde_json::Value) {
    let http = reqwest::Client::new();
    let seen = eventually(FLAG_TIMEOUT, || reports_flag(&http, base, name, value)).await;
    assert!(seen.is_some(), "{base} did not report {name}={value} within {FLAG_TIMEOUT:?}");
}

/// Whether the process at `base` reports `name` = `value` now.
async fn reports_flag(http: &reqwest::Client, base: &str, name: &str, value: &serde_json::Value) -> bool {
    let Ok(resp) = http.get(format!("{base}/admin/flags")).send().await else { return false };
    if resp.status().is_success() {
        let view: serde_json::Value = resp.json().await.unwrap_or_default();
        let flags = view["flags"].as_array().cloned().unwrap_or_default();
        return flags.iter().any(|f| f["name"] == name && &f["value"] == value);
    }
    let Ok(resp) = http.get(format!("{base}/metrics")).send().await else { return false };
    let text = resp.text().await.unwrap_or_default();
    let gauge = crate::openmetrics::parse(&text).sum("shoplab_flag_value", |s| s.label("flag") == Some(name));
    // the gauge holds booleans as 0/1 and numbers as themselves
    let wanted = value.as_bool().map(|b| if b { 1.0 } else { 0.0 }).or_else(|| value.as_f64());
    gauge.is_some() && gauge == wanted
}

/// Sum of the samples of `name` whose labels include every `labels` pair, 0 when there is none (read
/// with the same OpenMetrics parser as the CLI's scrapes: exemplars and timestamps are not values).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    crate::openmetrics::parse(text).total(name, labels)
}

/// A service started as its own process (a `shoplab` subcommand) on this test's database, names and admin
/// token; killed when dropped. Tests of the CLI use it instead of linking the service's internals.
pub struct ServiceProcess {
    /// Base URL (`http://127.0.0.1:<port>`).
    pub url: String,
    child: std::process::Child,
}

impl ServiceProcess {
    /// Runs `exe args` with the listen address in `addr_var` on a free port; waits (30 s at most) until
    /// its `/readyz` answers.
    pub async fn start(env: &TestEnv, exe: &str, args: &[&str], addr_var: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let c = &env.config;
        let child = std::process::Command::new(exe)
            .args(args)
            .env(addr_var, format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &c.database_url)
            .env("SHOPLAB_REDIS_PREFIX", &c.redis_prefix)
            .env("SHOPLAB_AMQP_PREFIX", &c.amqp_prefix)
            .env("SHOPLAB_ADMIN_TOKEN", TEST_ADMIN_TOKEN)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the service process");
        let url = format!("http://127.0.0.1:{port}");
        let ready = eventually(std::time::Duration::from_secs(30), || async {
            reqwest::get(format!("{url}/readyz")).await.is_ok_and(|r| r.status().is_success())
        })
        .await;
        let process = Self { url, child };
        assert!(ready.is_some(), "`{exe} {}` did not become ready", args.join(" "));
        process
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

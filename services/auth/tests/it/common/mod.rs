//! A lab per test: its own database, queues and key prefix (TestEnv), an email provider and an auth
//! service in-process on port 0, and relay/worker tasks that can be aborted and started again.

#![allow(dead_code)] // each test file uses a different part of this helper

use std::time::Duration;

pub use auth::Settings;
use auth::settings::Argon2Cost;
use kit::app::Core;
use kit::testing::TestEnv;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct-horse";

/// One test's lab.
pub struct Lab {
    pub env: TestEnv,
    pub config: kit::Config,
    pub settings: Settings,
    /// Base URL of auth serve.
    pub auth: String,
    /// Base URL of the email provider.
    pub provider: String,
    pub http: reqwest::Client,
    /// Stops the provider (auth serve stops with the test's runtime).
    stop: CancellationToken,
}

/// Settings for tests: lab mode (a random JWT secret per app), cheap hashing, short retry delays.
pub fn settings() -> Settings {
    let mut s = Settings { argon2: Argon2Cost::LIGHT, lab_mode: true, ..Settings::default() };
    s.email.retry_base = Duration::from_millis(50);
    s.email.retry_max = Duration::from_millis(200);
    s
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Lab {
    /// Starts the provider and auth serve with `settings`.
    pub async fn start(settings: Settings) -> Self {
        let env = TestEnv::new().await;
        env.delete_amqp_on_drop(auth::email::topology::Topology::new(&env.config().amqp_prefix, &settings.email).names());
        let provider = email_provider::build(env.config(), "127.0.0.1:0").await.expect("build provider");
        let provider_url = format!("http://127.0.0.1:{}", provider.port());
        let stop = CancellationToken::new();
        tokio::spawn(provider.run(stop.clone()));
        let config = env.config();
        let settings = Settings { email_provider_url: provider_url.clone(), ..settings };
        let app = auth::build(config.clone(), settings.clone(), "127.0.0.1:0").await.expect("build auth");
        let auth = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
        Self { env, config, settings, auth, provider: provider_url, http: reqwest::Client::new(), stop }
    }

    /// Sets a flag through auth's admin API and waits until auth and the provider both see it.
    pub async fn flag(&self, name: &str, value: Value) {
        let resp = self
            .http
            .put(format!("{}/admin/flags/{name}", self.auth))
            .bearer_auth(self.env.admin_token())
            .json(&json!({ "value": value }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "setting {name}");
        for base in [&self.auth, &self.provider] {
            kit::testing::wait_for_flag(base, name, &value).await;
        }
    }

    pub async fn signup(&self, email: &str) -> reqwest::Response {
        self.signup_request(email).send().await.unwrap()
    }

    /// A signup request, to send later (or from another task).
    pub fn signup_request(&self, email: &str) -> reqwest::RequestBuilder {
        let body = json!({ "email": email, "password": PASSWORD });
        self.http.post(format!("{}/signup", self.auth)).json(&body)
    }

    /// Signs `email` up, asserting 201; returns the body.
    pub async fn signed_up(&self, email: &str) -> Value {
        let resp = self.signup(email).await;
        assert_eq!(resp.status(), 201, "signup {email}");
        resp.json().await.unwrap()
    }

    /// Logs in, asserting 200; returns the token response.
    pub async fn login(&self, email: &str) -> Value {
        let body = json!({ "email": email, "password": PASSWORD });
        let resp = self.http.post(format!("{}/login", self.auth)).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "login {email}");
        resp.json().await.unwrap()
    }

    pub async fn validate(&self, access_token: &str) -> reqwest::Response {
        self.http.get(format!("{}/validate", self.auth)).bearer_auth(access_token).send().await.unwrap()
    }

    /// The provider's `GET /messages?to=` (with the admin token it requires).
    pub async fn messages(&self, to: &str) -> Value {
        let url = format!("{}/messages", self.provider);
        let req = self.http.get(url).bearer_auth(self.env.admin_token()).query(&[("to", to)]);
        req.send().await.unwrap().json().await.unwrap()
    }

    /// Messages the provider accepted in total.
    pub async fn accepted(&self) -> u64 {
        let url = format!("{}/messages?limit=0", self.provider);
        let v: Value = self.http.get(url).bearer_auth(self.env.admin_token()).send().await.unwrap().json().await.unwrap();
        v["totals"]["accepted"].as_u64().unwrap()
    }

    /// A login attempt with `password`, from this test's client.
    pub async fn try_login(&self, email: &str, password: &str) -> reqwest::Response {
        let body = json!({ "email": email, "password": password });
        self.http.post(format!("{}/login", self.auth)).json(&body).send().await.unwrap()
    }

    /// auth serve's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http.get(format!("{}/metrics", self.auth)).send().await.unwrap().text().await.unwrap()
    }

    /// The email provider's `/metrics` text.
    pub async fn provider_metrics(&self) -> String {
        self.http.get(format!("{}/metrics", self.provider)).send().await.unwrap().text().await.unwrap()
    }

    /// auth serve's `GET /admin/flags` status block.
    pub async fn status(&self) -> Value {
        let v: Value = self.http.get(format!("{}/admin/flags", self.auth)).send().await.unwrap().json().await.unwrap();
        v["status"].clone()
    }

    /// A worker process's core (its own metrics registry, flags and pool).
    pub async fn core(&self, service: &'static str) -> Core {
        Core::connect(service, self.config.clone(), 4).await.expect("worker core")
    }

    /// Starts a relay task; abort the handle to kill it.
    pub async fn spawn_relay(&self) -> (JoinHandle<anyhow::Result<()>>, Core) {
        let core = self.core(auth::relay::SERVICE).await;
        let handle = tokio::spawn(auth::relay::run(core.clone(), self.settings.clone(), CancellationToken::new()));
        (handle, core)
    }

    /// Starts an email worker task; abort the handle to kill it.
    pub async fn spawn_worker(&self) -> (JoinHandle<anyhow::Result<()>>, Core) {
        let core = self.core(auth::worker::SERVICE).await;
        let handle = tokio::spawn(auth::worker::run(core.clone(), self.settings.clone(), CancellationToken::new()));
        (handle, core)
    }

    /// One number from the auth database.
    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.env.pool).await.unwrap()
    }
}

/// Sum of the samples of `name` whose labels include every `labels` pair (OpenMetrics text).
#[allow(unused_imports)]
pub use kit::testing::metric;

/// Polls `check` every 20 ms until it returns true; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    assert!(kit::testing::eventually(limit, check).await.is_some(), "timed out waiting for: {what}");
}

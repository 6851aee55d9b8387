//! The simulated provider: accepting, deduplicating, listing, and failing the way real outages fail.

use std::time::Duration;

use kit::testing::TestEnv;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A provider running in-process on port 0.
struct Provider {
    base: String,
    http: reqwest::Client,
    admin_token: String,
    stop: CancellationToken,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn spawn(env: &TestEnv) -> Provider {
    let app = email_provider::build(env.config(), "127.0.0.1:0").await.expect("build provider");
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));
    Provider { base, http: reqwest::Client::new(), admin_token: env.admin_token().to_owned(), stop }
}

impl Provider {
    /// Sets a flag through the admin API and waits until this process sees it.
    async fn flag(&self, name: &str, value: Value) {
        let url = format!("{}/admin/flags/{name}", self.base);
        let resp = self.http.put(url).bearer_auth(&self.admin_token).json(&json!({ "value": value })).send().await.unwrap();
        assert_eq!(resp.status(), 200, "setting {name}");
        kit::testing::wait_for_flag(&self.base, name, &value).await;
    }

    fn send(&self, to: &str, key: Option<&str>) -> reqwest::RequestBuilder {
        let body = json!({ "to": to, "subject": "Verify your address", "body": "token", "idempotency_key": key });
        self.http.post(format!("{}/send", self.base)).json(&body)
    }

    async fn messages(&self, to: &str) -> Value {
        let url = format!("{}/messages", self.base);
        let req = self.http.get(url).bearer_auth(&self.admin_token).query(&[("to", to)]);
        req.send().await.unwrap().json().await.unwrap()
    }
}

#[tokio::test]
async fn accepts_lists_and_deduplicates_by_idempotency_key() {
    let env = TestEnv::new().await;
    let p = spawn(&env).await;
    let first = p.send("Ada@shoplab.test", Some("m-1")).send().await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again: Value = p.send("ada@shoplab.test", Some("m-1")).send().await.unwrap().json().await.unwrap();
    assert_eq!((again["id"].clone(), again["status"].as_str()), (first["id"].clone(), Some("duplicate")));
    p.send("ada@shoplab.test", None).send().await.unwrap();

    let list = p.messages("ADA@shoplab.test").await;
    assert_eq!(list["total"], 2, "the keyed message once, the unkeyed one once: {list}");
    assert_eq!(list["items"][0]["attempts"], 2);
    assert_eq!(list["totals"]["duplicates"], 1);
    assert_eq!(p.messages("nobody@shoplab.test").await["total"], 0);
}

#[tokio::test]
async fn bad_input_is_a_json_4xx() {
    let env = TestEnv::new().await;
    let p = spawn(&env).await;
    let url = format!("{}/send", p.base);
    let malformed = p.http.post(&url).header("content-type", "application/json").body("{\"to\":").send().await.unwrap();
    assert_eq!(malformed.status(), 400);
    let missing = p.http.post(&url).json(&json!({ "to": "a@b.test" })).send().await.unwrap();
    assert_eq!(missing.status(), 422);
    let bad_to = p.send("not-an-address", None).send().await.unwrap();
    assert_eq!(bad_to.status(), 422);
    let body: Value = bad_to.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_recipient");
}

#[tokio::test]
async fn flaky_mode_fails_with_the_configured_error_rate() {
    let env = TestEnv::new().await;
    let p = spawn(&env).await;
    p.flag("emailprovider.latency_ms", json!(0)).await;
    p.flag("emailprovider.error_rate", json!(1.0)).await;
    p.flag("emailprovider.mode", json!("flaky")).await;
    let resp = p.send("a@shoplab.test", Some("k")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(p.messages("a@shoplab.test").await["total"], 0, "a failed send stores nothing");
    p.flag("emailprovider.error_rate", json!(0.0)).await;
    assert_eq!(p.send("a@shoplab.test", Some("k")).send().await.unwrap().status(), 202);
}

#[tokio::test]
async fn down_refuse_closes_the_connection_without_an_answer() {
    let env = TestEnv::new().await;
    let p = spawn(&env).await;
    p.flag("emailprovider.down_style", json!("refuse")).await;
    p.flag("emailprovider.mode", json!("down")).await;
    let err = p.send("a@shoplab.test", None).send().await.expect_err("no HTTP answer while down");
    assert!(err.status().is_none(), "not a polite 5xx: {err}");
    let list = p.messages("a@shoplab.test").await;
    assert_eq!(list["total"], 0, "other routes keep answering");
    p.flag("emailprovider.mode", json!("healthy")).await;
    assert_eq!(p.send("a@shoplab.test", None).send().await.unwrap().status(), 202);
}

#[tokio::test]
async fn down_hang_never_answers_until_the_provider_is_back() {
    let env = TestEnv::new().await;
    let p = spawn(&env).await;
    p.flag("emailprovider.mode", json!("down")).await;
    let err = p.send("a@shoplab.test", None).timeout(Duration::from_millis(300)).send().await.expect_err("hung");
    assert!(err.is_timeout(), "the caller only gets out through its own timeout: {err}");

    // a caller without a timeout stays stuck until the provider comes back and drops the connection
    let stuck = tokio::spawn(p.send("b@shoplab.test", None).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stuck.is_finished(), "no answer while down");
    p.flag("emailprovider.mode", json!("healthy")).await;
    let res = tokio::time::timeout(Duration::from_secs(10), stuck).await.expect("released when healthy").unwrap();
    assert!(res.is_err(), "the hung connection is closed, not answered");
    assert_eq!(p.messages("b@shoplab.test").await["total"], 0);
}

#[tokio::test]
async fn listing_messages_needs_the_admin_token() {
    let env = TestEnv::new().await;
    let p = spawn(&env).await;
    p.send("secret@shoplab.test", None).send().await.unwrap();
    let url = format!("{}/messages", p.base);
    let anonymous = p.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "messages hold verification tokens");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(p.http.get(&url).bearer_auth("wrong").send().await.unwrap().status(), 401);
    let bad_query = p.http.get(format!("{url}?limit=-1")).send().await.unwrap();
    assert_eq!(bad_query.status(), 401, "authentication before the query is parsed");
    assert_eq!(p.messages("secret@shoplab.test").await["total"], 1);

    // with no admin token configured, listing is disabled rather than open
    let mut config = env.config();
    config.admin_token = None;
    let app = email_provider::build(config, "127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/messages", app.port());
    let stop = CancellationToken::new();
    tokio::spawn(app.run(stop.clone()));
    assert_eq!(p.http.get(url).bearer_auth(&p.admin_token).send().await.unwrap().status(), 403);
    stop.cancel();
}

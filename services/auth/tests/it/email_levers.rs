//! The email levers one at a time, proved by counting: the breaker through a scheduled provider outage,
//! naive retries against a retry budget, the timeout without the breaker, the fallback only with async
//! email. Counts come from the provider's own `shoplab_provider_requests_total{result}` and auth's
//! `shoplab_email_send_total{result}`; waits have deadlines, nothing is timed.

use crate::common;

use std::time::Duration;

use crate::common::{Lab, eventually, metric, settings};
use auth::levers::email_circuit_breaker::BreakerConfig;
use serde_json::{Value, json};

/// Provider requests with `result` (all of them for `None`).
async fn provider_requests(lab: &Lab, result: Option<&str>) -> f64 {
    let labels: Vec<(&str, &str)> = result.map(|r| vec![("result", r)]).unwrap_or_default();
    metric(&lab.provider_metrics().await, "shoplab_provider_requests_total", &labels)
}

async fn sends(lab: &Lab, result: &str) -> f64 {
    metric(&lab.metrics().await, "shoplab_email_send_total", &[("result", result)])
}

/// The breaker's transitions so far, as (from, to) pairs.
async fn transitions(lab: &Lab) -> Vec<(String, String)> {
    let status = lab.status().await;
    let list = status["email_breaker"]["transitions"].as_array().cloned().unwrap_or_default();
    list.iter().map(|t| (t["from"].as_str().unwrap().to_owned(), t["to"].as_str().unwrap().to_owned())).collect()
}

#[tokio::test]
async fn the_breaker_opens_short_circuits_and_closes_again_through_an_outage() {
    let breaker = BreakerConfig {
        failure_rate: 0.5,
        // short enough that the up period's many quick successes have left it when the hangs time out
        window: Duration::from_secs(1),
        min_calls: 3,
        open_for: Duration::from_secs(1),
        half_open_probes: 1,
    };
    let lab = Lab::start(common::Settings { breaker, ..settings() }).await;
    lab.flag("auth.email_timeout_ms", json!(300)).await;
    lab.flag("auth.email_circuit_breaker", json!(true)).await;
    lab.flag("auth.retry_policy", json!("backoff")).await;
    // outage mode, shrunk: up 2 s, then hung for 2 s, every 4 s
    lab.flag("emailprovider.latency_ms", json!(0)).await;
    lab.flag("emailprovider.outage_every_secs", json!(2 + 2)).await;
    lab.flag("emailprovider.outage_secs", json!(2)).await;
    lab.flag("emailprovider.mode", json!("outage")).await;

    let wanted = [("closed", "open"), ("open", "half_open"), ("half_open", "closed")];
    let mut i = 0;
    eventually("closed -> open -> half-open -> closed", Duration::from_secs(60), || {
        i += 1;
        let email = format!("o{i}@shoplab.test");
        let lab = &lab;
        async move {
            let _ = lab.signup(&email).await;
            let seen = transitions(lab).await;
            let seen: Vec<_> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            seen.windows(3).any(|w| w == wanted)
        }
    })
    .await;
    assert!(provider_requests(&lab, Some("hung")).await >= 3.0, "the outage hung calls until the timeout");
    assert!(sends(&lab, "timed_out").await >= 1.0, "the timeout turned hangs into failures the breaker counts");
    assert!(sends(&lab, "timed_out").await + sends(&lab, "failed").await >= 3.0, "the minimum volume of failures");
    assert!(sends(&lab, "short_circuited").await >= 1.0, "open, a signup was refused without calling");
    assert!(sends(&lab, "sent").await >= 1.0);
}

#[tokio::test]
async fn naive_retries_multiply_provider_requests_and_the_budget_caps_them() {
    let lab = Lab::start(settings()).await;
    lab.flag("emailprovider.down_style", json!("refuse")).await;
    lab.flag("emailprovider.mode", json!("down")).await;

    // naive (the default): every signup calls, then retries 3 times at once
    let n = 10;
    for i in 0..n {
        assert_eq!(lab.signup(&format!("n{i}@shoplab.test")).await.status(), 500);
    }
    let naive = provider_requests(&lab, None).await / n as f64;
    assert!(naive > 2.0, "naive retries: {naive} provider requests per signup");
    assert_eq!(naive, 4.0, "1 call + 3 immediate retries each");

    // backoff with a budget: retries at most 10 % of the calls
    lab.flag("auth.retry_policy", json!("backoff")).await;
    let n = 30;
    let before = provider_requests(&lab, None).await;
    for i in 0..n {
        assert_eq!(lab.signup(&format!("b{i}@shoplab.test")).await.status(), 500);
    }
    let budgeted = (provider_requests(&lab, None).await - before) / n as f64;
    assert!(budgeted <= 1.1, "retry budget: {budgeted} provider requests per signup");
    let m = lab.metrics().await;
    assert!(metric(&m, "shoplab_email_retries_total", &[("result", "budget_exhausted")]) >= 27.0, "the budget said no");
}

#[tokio::test]
async fn the_timeout_alone_bounds_a_hung_call() {
    let lab = Lab::start(settings()).await;
    lab.flag("auth.email_timeout_ms", json!(300)).await;
    lab.flag("auth.retry_policy", json!("backoff")).await;
    lab.flag("emailprovider.mode", json!("down")).await; // hang

    let resp = tokio::time::timeout(Duration::from_secs(10), lab.signup("t@shoplab.test")).await.expect("answered");
    assert_eq!(resp.status(), 503, "timed out, rolled back");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("300 ms"), "{body}");
    assert_eq!(sends(&lab, "timed_out").await, 1.0);
    assert_eq!(provider_requests(&lab, Some("hung")).await, 1.0);
    assert_eq!(lab.count("select count(*) from auth.users").await, 0);
    assert!(transitions(&lab).await.is_empty(), "no breaker involved");
    let state = metric(&lab.metrics().await, "shoplab_circuit_breaker_state", &[("dependency", "email-provider")]);
    assert_eq!(state, 0.0);
}

#[tokio::test]
async fn the_fallback_to_the_outbox_comes_only_with_async_email() {
    let lab = Lab::start(settings()).await;
    lab.flag("auth.email_timeout_ms", json!(300)).await;
    lab.flag("auth.email_circuit_breaker", json!(true)).await;
    lab.flag("emailprovider.down_style", json!("refuse")).await;
    lab.flag("emailprovider.mode", json!("down")).await;

    // timeout + breaker: a failed send fails the signup, nothing is kept for later
    assert!(lab.signup("a@shoplab.test").await.status().is_server_error());
    assert_eq!(lab.count("select count(*) from auth.outbox").await, 0);
    assert_eq!(lab.count("select count(*) from auth.users").await, 0);

    // async email: the account is kept and the email waits in the outbox; the provider is not called
    let calls = provider_requests(&lab, None).await;
    lab.flag("auth.async_email", json!(true)).await;
    assert_eq!(lab.signed_up("b@shoplab.test").await["verification_email"], "queued");
    assert_eq!(lab.count("select count(*) from auth.outbox").await, 1);
    assert_eq!(provider_requests(&lab, None).await, calls);

    // and it is delivered once the provider is back
    lab.flag("emailprovider.mode", json!("healthy")).await;
    let (_relay, _) = lab.spawn_relay().await;
    let (_worker, _) = lab.spawn_worker().await;
    eventually("the queued email arrived", Duration::from_secs(20), || async {
        lab.messages("b@shoplab.test").await["total"] == 1
    })
    .await;
}

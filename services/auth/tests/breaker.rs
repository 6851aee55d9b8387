//! The email circuit breaker: closed -> open -> half-open -> closed as the provider fails and heals,
//! with signups succeeding throughout (their emails deferred to the outbox and delivered later).

mod common;

use std::time::Duration;

use auth::email::breaker::BreakerConfig;
use common::{Lab, eventually, metric, settings};
use serde_json::{Value, json};

fn short_breaker() -> BreakerConfig {
    BreakerConfig {
        timeout: Duration::from_secs(2),
        failure_rate: 0.5,
        window: Duration::from_secs(60),
        min_calls: 3,
        open_for: Duration::from_millis(300),
        half_open_probes: 1,
    }
}

#[tokio::test]
async fn breaker_opens_on_failures_fails_fast_and_closes_after_recovery() {
    let lab = Lab::start(common::Settings { breaker: short_breaker(), ..settings() }).await;
    lab.flag("auth.email_circuit_breaker", json!(true)).await;
    lab.flag("emailprovider.latency_ms", json!(0)).await;
    lab.flag("emailprovider.error_rate", json!(1.0)).await;
    lab.flag("emailprovider.mode", json!("flaky")).await;

    // three failed calls (100 %, minimum volume 3): open; the signups still succeed
    for i in 0..3 {
        assert_eq!(lab.signed_up(&format!("f{i}@shoplab.test")).await["verification_email"], "deferred");
    }
    assert_eq!(lab.status().await["email_breaker"]["state"], "open");
    let m = lab.metrics().await;
    assert_eq!(metric(&m, "shoplab_circuit_breaker_state", &[("dependency", "email-provider")]), 2.0);
    assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", "failed")]), 3.0);

    // open: the next signup does not even try the provider
    lab.flag("emailprovider.mode", json!("healthy")).await;
    assert_eq!(lab.signed_up("f3@shoplab.test").await["verification_email"], "deferred");
    assert_eq!(metric(&lab.metrics().await, "shoplab_email_send_total", &[("result", "short_circuited")]), 1.0);
    assert_eq!(lab.accepted().await, 0, "nothing reached the healed provider while open");

    // after the recovery window the next call is a probe; it succeeds and closes the breaker
    tokio::time::sleep(short_breaker().open_for + Duration::from_millis(100)).await;
    assert_eq!(lab.signed_up("f4@shoplab.test").await["verification_email"], "sent");
    let transitions: Vec<(Value, Value)> = lab.status().await["email_breaker"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["from"].clone(), t["to"].clone()))
        .collect();
    let expected = [("closed", "open"), ("open", "half_open"), ("half_open", "closed")].map(|(a, b)| (json!(a), json!(b)));
    assert_eq!(transitions, expected);
    assert_eq!(metric(&lab.metrics().await, "shoplab_circuit_breaker_state", &[("dependency", "email-provider")]), 0.0);

    // the deferred emails wait in the outbox; relay + worker deliver each exactly once
    assert_eq!(lab.count("select count(*) from auth.outbox").await, 4);
    let (_relay, _) = lab.spawn_relay().await;
    let (_worker, _) = lab.spawn_worker().await;
    for i in 0..4 {
        let to = format!("f{i}@shoplab.test");
        eventually(&format!("deferred email to {to}"), Duration::from_secs(20), || async {
            lab.messages(&to).await["total"] == 1
        })
        .await;
    }
}

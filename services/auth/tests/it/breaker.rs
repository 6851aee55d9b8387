//! The email circuit breaker alone (no timeout, no async email): closed -> open -> half-open -> closed
//! as the provider fails and heals. Open, signups fail fast without reaching the provider; there is no
//! fallback to the outbox — keeping the account is `auth.async_email`'s job.

use crate::common;

use std::time::Duration;

use crate::common::{Lab, metric, settings};
use auth::levers::email_circuit_breaker::BreakerConfig;
use serde_json::{Value, json};

fn short_breaker() -> BreakerConfig {
    BreakerConfig {
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
    // one call per signup: the budget of a fresh process allows no retry yet
    lab.flag("auth.retry_policy", json!("backoff")).await;
    lab.flag("emailprovider.latency_ms", json!(0)).await;
    lab.flag("emailprovider.error_rate", json!(1.0)).await;
    lab.flag("emailprovider.mode", json!("flaky")).await;

    // three failed calls (100 %, minimum volume 3): open; each signup failed and rolled back
    for i in 0..3 {
        assert_eq!(lab.signup(&format!("f{i}@shoplab.test")).await.status(), 500);
    }
    assert_eq!(lab.status().await["email_breaker"]["state"], "open");
    let m = lab.metrics().await;
    assert_eq!(metric(&m, "shoplab_circuit_breaker_state", &[("dependency", "email-provider")]), 2.0);
    assert_eq!(metric(&m, "shoplab_email_send_total", &[("result", "failed")]), 3.0);

    // open: the next signup does not even try the provider, and says why
    lab.flag("emailprovider.mode", json!("healthy")).await;
    let refused = lab.signup("f3@shoplab.test").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "unavailable");
    assert_eq!(metric(&lab.metrics().await, "shoplab_email_send_total", &[("result", "short_circuited")]), 1.0);
    assert_eq!(lab.accepted().await, 0, "nothing reached the healed provider while open");
    let provider = lab.provider_metrics().await;
    assert_eq!(metric(&provider, "shoplab_provider_requests_total", &[]), 3.0, "the provider saw the 3 failed calls only");

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

    // no fallback without async email: the refused signups left no account and no outbox row
    assert_eq!(lab.count("select count(*) from auth.users where email like 'f%@shoplab.test'").await, 1);
    assert_eq!(lab.count("select count(*) from auth.outbox").await, 0);
}

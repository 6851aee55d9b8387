//! The cascade of case study 3 and its cure: a hung provider holds signups inside their transactions,
//! the shared pool empties, and token validation — which never touches the provider — fails with it.
//! Bulkheads give validation its own connections; async email takes the provider out of the request.

use std::time::Duration;

use crate::common::{Lab, eventually, metric, settings};
use serde_json::json;

#[tokio::test]
async fn a_hung_provider_starves_validate_until_bulkheads_and_async_email() {
    let mut s = settings();
    (s.shared_pool, s.critical_pool, s.noncritical_pool) = (2, 2, 2);
    s.acquire_timeout = Duration::from_millis(500);
    let lab = Lab::start(s).await;
    lab.signed_up("victim@shoplab.test").await;
    let access = lab.login("victim@shoplab.test").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(lab.validate(&access).await.status(), 200);

    // before: the provider hangs; two signups wait on it forever, each holding a shared connection
    lab.flag("emailprovider.mode", json!("down")).await;
    let stuck: Vec<_> = ["s1@shoplab.test", "s2@shoplab.test"].map(|e| tokio::spawn(lab.signup_request(e).send())).into();
    eventually("both shared connections held by hung signups", Duration::from_secs(10), || async {
        metric(&lab.metrics().await, "shoplab_db_pool_connections", &[("pool", "shared"), ("state", "in_use")]) == 2.0
    })
    .await;
    let starved = lab.validate(&access).await;
    assert_eq!(starved.status(), 503, "validate cannot get a connection: the cascade (pool acquire timeout)");
    assert!(stuck.iter().all(|h| !h.is_finished()), "the signups are still waiting on the provider");

    // bulkheads: validate takes from the critical pool while the shared pool is still exhausted
    lab.flag("auth.bulkheads", json!(true)).await;
    assert_eq!(lab.validate(&access).await.status(), 200);

    // async email: new signups only write rows, whatever the provider does
    lab.flag("auth.async_email", json!(true)).await;
    let queued = lab.signed_up("s3@shoplab.test").await;
    assert_eq!(queued["verification_email"], "queued");
    assert_eq!(lab.validate(&access).await.status(), 200);
    assert_eq!(lab.count("select count(*) from auth.outbox where published_at is null").await, 1);

    // the provider comes back and drops the hung connections: the naive retry policy tries again at once,
    // reaches the healed provider, and the stuck signups finally complete
    lab.flag("emailprovider.mode", json!("healthy")).await;
    for h in stuck {
        let resp = tokio::time::timeout(Duration::from_secs(10), h).await.expect("released").unwrap().unwrap();
        assert_eq!(resp.status(), 201, "the naive signup's immediate retry got through");
    }
    let created = lab.count("select count(*) from auth.users where email in ('s1@shoplab.test', 's2@shoplab.test')").await;
    assert_eq!(created, 2);
    let provider = lab.provider_metrics().await;
    assert_eq!(metric(&provider, "shoplab_provider_requests_total", &[("result", "hung")]), 2.0, "one hung call each");
    assert_eq!(metric(&provider, "shoplab_provider_requests_total", &[("result", "accepted")]), 3.0, "victim + 2 retries");
}

//! 100 concurrent identical dashboard requests run the computation once with coalescing on, and once
//! each with it off.

use std::time::Duration;

use crate::support::{COALESCING, Lab, events};
use chrono::Utc;
use futures::future::join_all;
use kit::metrics::RouteLabels;
use kit::testing::eventually;
use sqlx::Connection;

/// SQL statements of one naive dashboard computation (series + top products).
const STATEMENTS_PER_COMPUTATION: u64 = 2;

#[tokio::test]
async fn hundred_identical_requests_share_one_computation() {
    let lab = Lab::start().await;
    lab.set_flag(COALESCING, true).await;
    assert_eq!(lab.post_events(&events(7, 300, Utc::now(), chrono::Duration::minutes(50))).await.status(), 202);

    // hold the computation inside Postgres until every request has arrived, so all 100 are concurrent
    let mut blocker = sqlx::PgConnection::connect(&lab.env.config().database_url).await.unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("lock table analytics.events in access exclusive mode").execute(&mut *tx).await.unwrap();
    let requests = join_all((0..100).map(|_| lab.dashboard("1h")));
    let release = async {
        let all_in = eventually(Duration::from_secs(20), || async { lab.dashboards.stats.requests() == 100 }).await;
        assert!(all_in.is_some(), "not every request reached the dashboards");
        assert_eq!(lab.dashboards.stats.computations(), 1, "one computation while 99 requests wait");
        tx.rollback().await.unwrap();
    };
    let (responses, ()) = tokio::join!(requests, release);

    let mut bodies = Vec::new();
    for r in responses {
        assert_eq!(r.status(), 200);
        bodies.push(r.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every request got the same answer");
    let stats = &lab.dashboards.stats;
    assert_eq!(stats.computations(), 1);
    assert_eq!(stats.coalesced_statements(), STATEMENTS_PER_COMPUTATION, "the SQL of exactly one computation ran");
    let coalesced = analytics::metrics::AnalyticsMetrics::of(&lab.api_metrics)
        .coalesced
        .get_or_create(&RouteLabels { route: "/dashboards/{name}".into() })
        .get();
    assert_eq!(coalesced, 99);
    let scrape = lab.client.get(format!("{}/metrics", lab.url)).send().await.unwrap().text().await.unwrap();
    assert!(
        scrape.lines().any(|l| l.starts_with("shoplab_coalesced_requests_total{")
            && l.contains("/dashboards/{name}")
            && l.ends_with(" 99"))
    );
}

#[tokio::test]
async fn without_coalescing_every_request_computes() {
    let lab = Lab::start().await;
    assert_eq!(lab.post_events(&events(8, 100, Utc::now(), chrono::Duration::minutes(10))).await.status(), 202);
    let responses = join_all((0..20).map(|_| lab.dashboard("15m"))).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(lab.dashboards.stats.computations(), 20);
    let coalesced = analytics::metrics::AnalyticsMetrics::of(&lab.api_metrics)
        .coalesced
        .get_or_create(&RouteLabels { route: "/dashboards/{name}".into() })
        .get();
    assert_eq!(coalesced, 0);
}

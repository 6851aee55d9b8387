//! At-least-once delivery made exactly-once at the provider: killing the worker or the relay mid-batch
//! and starting a new one loses no email and sends none twice (counted at the provider, per address).

use std::time::Duration;

use crate::common::{Lab, eventually, settings};
use serde_json::json;

/// Signs up `n` users (async email on) and returns their addresses.
async fn signups(lab: &Lab, prefix: &str, n: usize) -> Vec<String> {
    let mut emails = Vec::with_capacity(n);
    for i in 0..n {
        let email = format!("{prefix}{i}@shoplab.test");
        assert_eq!(lab.signed_up(&email).await["verification_email"], "queued");
        emails.push(email);
    }
    emails
}

/// Every address has exactly one message at the provider, and the database agrees.
async fn assert_each_delivered_once(lab: &Lab, emails: &[String]) {
    for to in emails {
        let total = lab.messages(to).await["total"].as_u64().unwrap();
        assert_eq!(total, 1, "{to} received {total} emails");
    }
    assert_eq!(lab.accepted().await, emails.len() as u64);
    // the worker commits its processed-message row just after the provider's answer: give the last one a moment
    let n = emails.len() as i64;
    let processed = "select count(*) from auth.processed_messages";
    eventually("every send recorded", Duration::from_secs(5), || async { lab.count(processed).await >= n }).await;
    assert_eq!(lab.count(processed).await, n);
    assert_eq!(lab.count("select count(*) from auth.email_verifications where sent_at is not null").await, n);
}

#[tokio::test]
async fn killing_the_worker_mid_batch_loses_nothing_and_sends_nothing_twice() {
    let mut s = settings();
    s.email.concurrency = 4;
    let lab = Lab::start(s).await;
    lab.flag("auth.async_email", json!(true)).await;
    lab.flag("emailprovider.latency_ms", json!(100)).await;
    lab.flag("emailprovider.mode", json!("slow")).await;
    let emails = signups(&lab, "w", 40).await;
    let (_relay, _) = lab.spawn_relay().await;

    let (first, _) = lab.spawn_worker().await;
    eventually("the first worker delivered some", Duration::from_secs(20), || async { lab.accepted().await >= 5 }).await;
    first.abort();
    let _ = first.await;
    let at_kill = lab.accepted().await;
    assert!(at_kill < emails.len() as u64, "killed mid-batch ({at_kill} delivered)");

    let (_second, _) = lab.spawn_worker().await;
    eventually("every email delivered", Duration::from_secs(60), || async { lab.accepted().await >= emails.len() as u64 }).await;
    assert_each_delivered_once(&lab, &emails).await;
}

#[tokio::test]
async fn killing_the_relay_mid_batch_loses_nothing_and_sends_nothing_twice() {
    let mut s = settings();
    s.relay_batch = 5;
    let lab = Lab::start(s).await;
    lab.flag("auth.async_email", json!(true)).await;
    let emails = signups(&lab, "r", 150).await;
    let (_worker, _) = lab.spawn_worker().await;

    let (first, _) = lab.spawn_relay().await;
    let published = "select count(*) from auth.outbox where published_at is not null";
    eventually("the first relay published a batch", Duration::from_secs(20), || async { lab.count(published).await >= 1 }).await;
    first.abort();
    let _ = first.await;
    let at_kill = lab.count(published).await;
    assert!(at_kill < emails.len() as i64, "killed mid-run ({at_kill} published)");

    let (_second, _) = lab.spawn_relay().await;
    eventually("every email delivered", Duration::from_secs(60), || async { lab.accepted().await >= emails.len() as u64 }).await;
    // rows the killed relay had claimed are published by the second one once their lease runs out
    let drain = kit::outbox::LEASE + Duration::from_secs(10);
    eventually("the outbox drained", drain, || async { lab.count(published).await == emails.len() as i64 }).await;
    assert_each_delivered_once(&lab, &emails).await;
}

#[tokio::test]
async fn the_signup_trace_continues_to_the_provider() {
    let _telemetry = kit::telemetry::init("auth-test");
    let lab = Lab::start(settings()).await;
    lab.flag("auth.async_email", json!(true)).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = lab
        .signup_request("traced@shoplab.test")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let stored: String = sqlx::query_scalar("select traceparent from auth.outbox").fetch_one(&lab.env.pool).await.unwrap();
    assert!(stored.contains(trace_id), "the outbox row carries the signup's trace");

    let (_relay, _) = lab.spawn_relay().await;
    let (_worker, _) = lab.spawn_worker().await;
    let to = "traced@shoplab.test";
    eventually("the email arrived", Duration::from_secs(20), || async { lab.messages(to).await["total"] == 1 }).await;
    assert_eq!(lab.messages(to).await["items"][0]["trace_id"], trace_id, "relay, RabbitMQ and worker kept the trace");
}

//! A login flood is a flood of cheap refusals: password work runs a few at a time and the rest are
//! refused at once with 503 + Retry-After; failed logins are throttled per account and per client
//! (429 before any hash) while successful ones never are; a taken address costs a signup no hash.
//! Every figure here is a count (hashes run, peak running, refusals), never a time.

use crate::common::{Lab, PASSWORD, settings};
use auth::settings::{Argon2Cost, PasswordWork, ThrottleSettings};
use serde_json::{Value, json};
use std::time::Duration;

/// `status.password_work.stats.<name>` from `GET /admin/flags`.
async fn work(lab: &Lab, name: &str) -> u64 {
    lab.status().await["password_work"]["stats"][name].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_run_one_hash_at_a_time_and_the_rest_are_refused_at_once() {
    let mut s = settings();
    s.argon2 = Argon2Cost::DEFAULT; // 19 MiB per hash: what the flood is about
    s.password_work = PasswordWork { permits: 1, wait: Duration::ZERO };
    let lab = Lab::start(s).await;
    let before = work(&lab, "hashed").await;
    let logins = (0..20).map(|i| {
        let body = json!({ "email": format!("nobody{i}@shoplab.test"), "password": PASSWORD });
        tokio::spawn(lab.http.post(format!("{}/login", lab.auth)).json(&body).send())
    });
    let (mut unauthorized, mut busy) = (0, 0);
    for login in logins.collect::<Vec<_>>() {
        let resp = login.await.unwrap().unwrap();
        match resp.status().as_u16() {
            401 => unauthorized += 1,
            503 => {
                assert_eq!(resp.headers()["retry-after"], "1");
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["error"]["code"], "unavailable");
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let hashed = work(&lab, "hashed").await - before;
    assert!(busy >= 1, "with one permit and no wait, overlapping logins are refused ({unauthorized} answered 401)");
    assert_eq!(hashed, unauthorized, "one hash per answered login, none for the refused ones");
    assert_eq!(work(&lab, "refused").await, busy);
    assert_eq!(work(&lab, "peak_running").await, 1, "never more hashes at once than permits");
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_but_successful_ones_never_are() {
    let mut s = settings();
    s.throttle = ThrottleSettings { account_burst: 3, client_burst: 1000, ..s.throttle };
    let lab = Lab::start(s).await;
    lab.signed_up("target@shoplab.test").await;
    lab.signed_up("busy@shoplab.test").await;
    for _ in 0..3 {
        assert_eq!(lab.try_login("target@shoplab.test", "guess-guess").await.status(), 401);
    }
    let hashed = work(&lab, "hashed").await;
    let throttled = lab.try_login("TARGET@shoplab.test", PASSWORD).await;
    assert_eq!(throttled.status(), 429, "throttled even with the right password, until the wait is over");
    let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    assert_eq!(work(&lab, "hashed").await, hashed, "a throttled login costs no hash");
    for _ in 0..40 {
        lab.login("busy@shoplab.test").await; // asserts 200 each time
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_across_accounts() {
    let mut s = settings();
    s.throttle = ThrottleSettings { client_burst: 5, ..s.throttle };
    let lab = Lab::start(s).await;
    for i in 0..5 {
        assert_eq!(lab.try_login(&format!("spray{i}@shoplab.test"), "guess-guess").await.status(), 401);
    }
    assert_eq!(lab.try_login("spray99@shoplab.test", "guess-guess").await.status(), 429);
    assert_eq!(lab.status().await["login_throttle"]["clients_tracked"], 1);
}

#[tokio::test]
async fn a_taken_address_costs_a_signup_no_password_work() {
    let lab = Lab::start(settings()).await;
    let start = work(&lab, "hashed").await;
    lab.signed_up("dup@shoplab.test").await;
    assert_eq!(work(&lab, "hashed").await, start + 1);
    lab.signed_up("DUP@shoplab.test").await;
    assert_eq!(work(&lab, "hashed").await, start + 1, "the duplicate check came before the hash");
}

//! Bad event batches are 4xx naming the offending index; other malformed input is a JSON 4xx too, and
//! nothing of a rejected batch is stored.

use crate::support::{Lab, event};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

async fn error_of(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error body is JSON");
    let (code, message) =
        (body["error"]["code"].as_str().unwrap_or_default(), body["error"]["message"].as_str().unwrap_or_default());
    (status, code.to_owned(), message.to_owned())
}

#[tokio::test]
async fn bad_batches_name_the_offending_index() {
    let lab = Lab::start().await;
    let now = Utc::now();
    let good = || event("view", 1, now);
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut with = |i: usize, field: &str, value: Value, expect: &'static str| {
        let mut batch = vec![good(), good(), good(), good()];
        batch[i][field] = value;
        cases.push((json!(batch), expect));
    };
    with(2, "type", json!("click"), "events[2].type");
    with(1, "product_id", json!(0), "events[1].product_id");
    with(3, "amount_cents", json!(-5), "events[3].amount_cents");
    with(1, "amount_cents", json!(i64::MAX), "events[1].amount_cents");
    with(0, "occurred_at", json!(now + Duration::minutes(10)), "events[0].occurred_at");
    with(2, "occurred_at", json!(now - Duration::days(8)), "events[2].occurred_at");
    for (batch, expect) in cases {
        let resp = lab.client.post(format!("{}/events", lab.url)).json(&json!({ "events": batch })).send().await.unwrap();
        let (status, code, message) = error_of(resp).await;
        assert_eq!((status, code.as_str()), (422, "invalid_event"), "{expect}: {message}");
        assert!(message.starts_with(expect), "message '{message}' should start with '{expect}'");
    }

    // duplicate id inside one batch
    let mut dup = vec![good(), good(), good()];
    dup[2]["id"] = dup[0]["id"].clone();
    let (status, _, message) = error_of(lab.post_events(&dup).await).await;
    assert_eq!(status, 422);
    assert!(message.starts_with("events[2].id duplicates events[0]"), "{message}");

    // wrong JSON types are caught by the decoder, which names the index too
    let resp = lab
        .client
        .post(format!("{}/events", lab.url))
        .json(&json!({ "events": [good(), { "type": "view", "product_id": "x" }] }))
        .send()
        .await
        .unwrap();
    let (status, code, message) = error_of(resp).await;
    assert_eq!((status, code.as_str()), (422, "invalid_body"));
    assert!(message.contains("events[1]"), "{message}");

    let count: i64 = sqlx::query_scalar("select count(*) from analytics.events").fetch_one(&lab.env.pool).await.unwrap();
    assert_eq!(count, 0, "nothing of a rejected batch is stored");
}

#[tokio::test]
async fn batch_size_and_malformed_input_are_json_4xx() {
    let lab = Lab::start().await;
    let (status, code, _) = error_of(lab.post_events(&[]).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid_batch"));
    let big: Vec<Value> = (0..1001).map(|i| event("view", i + 1, Utc::now())).collect();
    let (status, _, message) = error_of(lab.post_events(&big).await).await;
    assert_eq!(status, 422);
    assert!(message.contains("1001"), "{message}");

    let post = |body: &'static str| {
        lab.client.post(format!("{}/events", lab.url)).header("content-type", "application/json").body(body).send()
    };
    let (status, code, _) = error_of(post("{\"events\": [").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "malformed_json"));
    let (status, _, _) = error_of(post("[1, 2]").await.unwrap()).await;
    assert_eq!(status, 422);

    let (status, code, message) = error_of(lab.dashboard("2h").await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_window"));
    assert!(message.contains("15m, 1h, 24h, 7d"), "{message}");
    let resp = lab.client.get(format!("{}/dashboards/nope?window=1h", lab.url)).send().await.unwrap();
    let (status, code, _) = error_of(resp).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));

    let ok = lab.post_events(&[event("view", 3, Utc::now())]).await;
    assert_eq!(ok.status(), 202);
    let body: Value = lab.dashboard("15m").await.json().await.unwrap();
    assert_eq!(body["totals"]["views"], 1);
    assert_eq!(body["series"].as_array().map(Vec::len), Some(15));
}

//! Bad input is a JSON 4xx naming the problem, never a panic or a 5xx; the happy paths of every route.

mod common;

use common::{Lab, PASSWORD, settings};
use serde_json::{Value, json};

async fn error_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON error body");
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn signup_rejects_bad_input_with_json_4xx() {
    let lab = Lab::start(settings()).await;
    let url = format!("{}/signup", lab.auth);
    let malformed = lab.http.post(&url).header("content-type", "application/json").body("{\"email\":").send().await.unwrap();
    assert_eq!(error_code(malformed).await, (400, "malformed_json".into()));
    let missing = lab.http.post(&url).json(&json!({ "email": "a@shoplab.test" })).send().await.unwrap();
    assert_eq!(error_code(missing).await.0, 422);
    let bad_email = lab.http.post(&url).json(&json!({ "email": "not-an-email", "password": PASSWORD })).send().await.unwrap();
    assert_eq!(error_code(bad_email).await, (422, "invalid_email".into()));
    let short = lab.http.post(&url).json(&json!({ "email": "a@shoplab.test", "password": "short" })).send().await.unwrap();
    assert_eq!(error_code(short).await, (422, "weak_password".into()));
    assert_eq!(lab.count("select count(*) from auth.users").await, 0, "nothing was created");
}

#[tokio::test]
async fn duplicate_email_is_a_409_whatever_its_case() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("Ada@Shoplab.test").await;
    assert_eq!(error_code(lab.signup("ada@shoplab.TEST").await).await, (409, "conflict".into()));
    assert_eq!(lab.count("select count(*) from auth.users").await, 1);
    // the address keeps the case it was typed with, and login is case-insensitive
    lab.login("ADA@shoplab.test").await;
}

#[tokio::test]
async fn credentials_and_tokens_are_checked() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("bob@shoplab.test").await;
    let wrong = json!({ "email": "bob@shoplab.test", "password": "not-the-password" });
    let resp = lab.http.post(format!("{}/login", lab.auth)).json(&wrong).send().await.unwrap();
    assert_eq!(error_code(resp).await, (401, "unauthorized".into()));
    let unknown = json!({ "email": "nobody@shoplab.test", "password": PASSWORD });
    let resp = lab.http.post(format!("{}/login", lab.auth)).json(&unknown).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = lab.http.get(format!("{}/validate", lab.auth)).send().await.unwrap();
    assert_eq!(error_code(resp).await, (401, "unauthorized".into()));
    assert_eq!(lab.validate("garbage").await.status(), 401);
}

#[tokio::test]
async fn signup_verify_login_refresh_validate_and_profile() {
    let lab = Lab::start(settings()).await;
    let created = lab.signed_up("cy@shoplab.test").await;
    assert_eq!(created["verification_email"], "sent", "before state: sent during the request");
    let token = verification_token(&lab, "cy@shoplab.test").await;
    let verify = |t: String| lab.http.post(format!("{}/verify-email", lab.auth)).json(&json!({ "token": t })).send();
    assert_eq!(verify(token.clone()).await.unwrap().status(), 200);
    assert_eq!(error_code(verify(token).await.unwrap()).await, (422, "invalid_token".into()), "a token works once");

    let tokens = lab.login("cy@shoplab.test").await;
    let access = tokens["access_token"].as_str().unwrap();
    let valid: Value = lab.validate(access).await.json().await.unwrap();
    assert_eq!(valid["user_id"], created["user_id"]);

    let refresh = |t: &str| lab.http.post(format!("{}/refresh", lab.auth)).json(&json!({ "refresh_token": t })).send();
    let old = tokens["refresh_token"].as_str().unwrap();
    let renewed: Value = refresh(old).await.unwrap().json().await.unwrap();
    assert!(renewed["access_token"].is_string());
    assert_eq!(refresh(old).await.unwrap().status(), 401, "a refresh token is rotated on use");

    let profile_url = format!("{}/me/profile", lab.auth);
    let p: Value = lab.http.get(&profile_url).bearer_auth(access).send().await.unwrap().json().await.unwrap();
    assert!(p["verified_at"].is_string());
    let put = |name: &str| lab.http.put(&profile_url).bearer_auth(access).json(&json!({ "display_name": name })).send();
    let updated: Value = put("Cy").await.unwrap().json().await.unwrap();
    assert_eq!(updated["display_name"], "Cy");
    assert_eq!(error_code(put("   ").await.unwrap()).await, (422, "invalid_display_name".into()));
}

/// The token from the verification email the provider received.
async fn verification_token(lab: &Lab, to: &str) -> String {
    let messages = lab.messages(to).await;
    let body = messages["items"][0]["body"].as_str().expect("one email").to_owned();
    let start = body.find("\"token\": \"").unwrap() + 10;
    body[start..start + 64].to_owned()
}

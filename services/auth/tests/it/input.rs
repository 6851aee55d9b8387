//! Bad input is a JSON 4xx naming the problem, never a panic or a 5xx; the happy paths of every route.

use crate::common::{Lab, PASSWORD, settings};
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
async fn signup_answers_the_same_for_a_taken_address_and_emails_its_owner() {
    let lab = Lab::start(settings()).await;
    let fresh = lab.signup("Ada@Shoplab.test").await;
    let (fresh_status, fresh): (u16, Value) = (fresh.status().as_u16(), fresh.json().await.unwrap());
    let taken = lab
        .http
        .post(format!("{}/signup", lab.auth))
        .json(&json!({ "email": "ada@shoplab.TEST", "password": "another-password" }));
    let taken = taken.send().await.unwrap();
    let (taken_status, taken): (u16, Value) = (taken.status().as_u16(), taken.json().await.unwrap());
    assert_eq!((fresh_status, taken_status), (201, 201), "no 409: the answer does not tell");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&fresh), keys(&taken));
    assert_eq!(fresh["verification_email"], taken["verification_email"]);
    assert_eq!(lab.count("select count(*) from auth.users").await, 1, "no second account");
    assert_eq!(lab.count("select count(*) from auth.email_verifications").await, 1, "no token for the notice");
    let mail = lab.messages("ada@shoplab.test").await;
    assert_eq!(mail["total"], 2, "the owner got the welcome email and a notice: {mail}");
    assert_eq!(mail["items"][1]["subject"], "You already have a shoplab account");
    // the address keeps the case it was typed with, the first password stands, login is case-insensitive
    lab.login("ADA@shoplab.test").await;
    assert_eq!(lab.try_login("ada@shoplab.test", "another-password").await.status(), 401);
}

#[tokio::test]
async fn verification_tokens_are_stored_hashed() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("hash@shoplab.test").await;
    let token = verification_token(&lab, "hash@shoplab.test").await;
    let stored: String =
        sqlx::query_scalar("select token_hash from auth.email_verifications").fetch_one(&lab.env.pool).await.unwrap();
    assert_ne!(stored, token, "the table does not hold the token");
    assert_eq!(stored, auth::credentials::token_hash(&token));
    let verify = lab.http.post(format!("{}/verify-email", lab.auth)).json(&json!({ "token": stored })).send().await.unwrap();
    assert_eq!(verify.status(), 422, "the stored hash is not a usable token");
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
    assert_eq!(valid["user_id"], tokens["user_id"]);

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

//! No silent secret, no forged or stale token: outside a lab a missing JWT secret stops the start, a
//! token signed with the constant the service once shipped reads nothing, `/me/*` needs a live session,
//! and `POST /logout` ends one.

use crate::common::{Lab, settings};
use auth::credentials::{AUDIENCE, ISSUER};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

/// Claims for the session behind `access` (read from `/validate`), as auth issues them.
async fn claims(lab: &Lab, access: &str) -> Value {
    let v: Value = lab.validate(access).await.json().await.unwrap();
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    json!({ "sub": v["user_id"], "sid": v["session_id"], "exp": exp, "iat": 0, "iss": ISSUER, "aud": AUDIENCE })
}

fn sign(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::default(), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn profile(lab: &Lab, token: &str) -> u16 {
    let resp = lab.http.get(format!("{}/me/profile", lab.auth)).bearer_auth(token).send().await.unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn outside_a_lab_a_missing_or_short_secret_refuses_to_start() {
    let config = kit::Config::from_env();
    let unset = auth::Settings { lab_mode: false, jwt_secret: None, ..settings() };
    let err = auth::build(config.clone(), unset, "127.0.0.1:0").await.err().expect("refused").to_string();
    assert!(err.contains("AUTH_JWT_SECRET"), "{err}");
    let short = auth::Settings { lab_mode: false, jwt_secret: Some("shoplab-lab-only-jwt-secret".into()), ..settings() };
    let err = auth::build(config, short, "127.0.0.1:0").await.err().expect("refused").to_string();
    assert!(err.contains("at least 32"), "{err}");
}

#[tokio::test]
async fn a_token_signed_with_the_old_source_constant_reads_nothing() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("victim@shoplab.test").await;
    let real = lab.login("victim@shoplab.test").await;
    let access = real["access_token"].as_str().unwrap();
    assert_eq!(profile(&lab, access).await, 200);
    // the same claims (user, live session, issuer, audience) signed with the constant the source once had
    let forged = sign("shoplab-lab-only-jwt-secret", &claims(&lab, access).await);
    assert_eq!(profile(&lab, &forged).await, 401);
    assert_eq!(lab.validate(&forged).await.status(), 401);
}

#[tokio::test]
async fn tokens_without_our_issuer_and_audience_are_refused() {
    let secret = "s".repeat(40);
    let lab = Lab::start(auth::Settings { jwt_secret: Some(secret.clone().into()), lab_mode: false, ..settings() }).await;
    lab.signed_up("iss@shoplab.test").await;
    let access = lab.login("iss@shoplab.test").await["access_token"].as_str().unwrap().to_owned();
    let mut c = claims(&lab, &access).await;
    assert_eq!(profile(&lab, &sign(&secret, &c)).await, 200, "the claims auth issues, signed with its secret");
    c["aud"] = json!("another-api");
    assert_eq!(profile(&lab, &sign(&secret, &c)).await, 401);
    c.as_object_mut().unwrap().remove("aud");
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(profile(&lab, &sign(&secret, &c)).await, 401);
    assert_eq!(lab.validate(&sign(&secret, &c)).await.status(), 401);
}

#[tokio::test]
async fn me_needs_a_live_session_and_logout_ends_it() {
    let lab = Lab::start(settings()).await;
    lab.signed_up("out@shoplab.test").await;
    let tokens = lab.login("out@shoplab.test").await;
    let access = tokens["access_token"].as_str().unwrap();
    let other = lab.login("out@shoplab.test").await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(profile(&lab, access).await, 200);

    let logout = |t: &str| lab.http.post(format!("{}/logout", lab.auth)).bearer_auth(t).send();
    assert_eq!(lab.http.post(format!("{}/logout", lab.auth)).send().await.unwrap().status(), 401, "no token");
    assert_eq!(logout(access).await.unwrap().status(), 204);
    assert_eq!(profile(&lab, access).await, 401, "the token is still signed and unexpired, the session is not");
    let put = lab.http.put(format!("{}/me/profile", lab.auth)).bearer_auth(access).json(&json!({ "display_name": "x" }));
    assert_eq!(put.send().await.unwrap().status(), 401);
    assert_eq!(lab.validate(access).await.status(), 401);
    let refresh = json!({ "refresh_token": tokens["refresh_token"] });
    let resp = lab.http.post(format!("{}/refresh", lab.auth)).json(&refresh).send().await.unwrap();
    assert_eq!(resp.status(), 401, "the refresh token ended with its session");
    assert_eq!(logout(access).await.unwrap().status(), 204, "logging out twice is harmless");
    assert_eq!(profile(&lab, &other).await, 200, "the user's other session lives on");
    let revoked = lab.count("select count(*) from auth.sessions where revoked_at is not null").await;
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn authentication_comes_before_the_body_is_read() {
    let lab = Lab::start(settings()).await;
    let url = format!("{}/me/profile", lab.auth);
    let resp = lab.http.put(url).header("content-type", "application/json").body("{\"display_name\":").send().await.unwrap();
    assert_eq!(resp.status(), 401, "a malformed body without a token is a 401, not a 400");
}

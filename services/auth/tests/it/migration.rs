//! Migration 0010 hashes the verification tokens already stored in plain text, so the links emailed
//! before the upgrade keep working and the table holds no usable token afterwards.

use std::path::Path;

use crate::common::{Lab, settings};
use serde_json::json;
use sqlx::Connection;

/// A fresh database with the migrations before 0010 applied, one plaintext token row, then the rest.
#[tokio::test]
async fn tokens_stored_before_the_upgrade_are_hashed_in_place_and_still_verify() {
    let lab = Lab::start(settings()).await;
    let server = kit::testing::server_url();
    let name = format!("{}_m0010", lab.env.db_name);
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&mut admin).await.unwrap();
    let pool = sqlx::PgPool::connect(&format!("{server}/{name}")).await.unwrap();

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut before = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    before.migrations = before.migrations.iter().filter(|m| m.version < 10).cloned().collect::<Vec<_>>().into();
    before.run(&pool).await.unwrap();
    let user = uuid::Uuid::now_v7();
    sqlx::query("insert into auth.users (id, email, password_hash) values ($1, 'old@shoplab.test', 'x')")
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
    let token = "a".repeat(64);
    sqlx::query("insert into auth.email_verifications (token, user_id, expires_at) values ($1, $2, now() + interval '1 day')")
        .bind(&token)
        .bind(user)
        .execute(&pool)
        .await
        .unwrap();
    kit::migrate::run(&pool).await.unwrap();

    let stored: String = sqlx::query_scalar("select token_hash from auth.email_verifications").fetch_one(&pool).await.unwrap();
    assert_eq!(stored, auth::credentials::token_hash(&token), "hashed in place, like the service hashes");
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database {name} with (force)"))).execute(&mut admin).await.unwrap();

    // and the service verifies a presented token against such a hash
    sqlx::query("insert into auth.users (id, email, password_hash) values ($1, 'old@shoplab.test', 'x')")
        .bind(user)
        .execute(&lab.env.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into auth.email_verifications (token_hash, user_id, expires_at) values ($1, $2, now() + interval '1 day')",
    )
    .bind(&stored)
    .bind(user)
    .execute(&lab.env.pool)
    .await
    .unwrap();
    let verify = lab.http.post(format!("{}/verify-email", lab.auth)).json(&json!({ "token": token })).send().await.unwrap();
    assert_eq!(verify.status(), 200);
}

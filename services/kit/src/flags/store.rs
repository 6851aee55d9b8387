//! Reading and writing `lab.flags`. Every write is one transaction that updates the flag, appends to
//! `lab.flag_events` (Grafana's annotations) and fires `NOTIFY shoplab_flags` so every process reloads.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use super::registry::{FLAGS, V, preset};
use super::value::{FlagError, validate};
use crate::db::traced;

/// The channel every process LISTENs on.
pub const CHANNEL: &str = "shoplab_flags";

/// A flag's stored state.
#[derive(Clone, Debug, Serialize)]
pub struct Stored {
    pub value: Value,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub updated_by: String,
}

/// Every flag row in the database (flags never written are absent: they have their default).
pub async fn load(pool: &PgPool) -> Result<HashMap<String, Stored>, sqlx::Error> {
    const SQL: &str = "select name, value, updated_at, updated_by from lab.flags";
    let rows: Vec<(String, Value, chrono::DateTime<chrono::Utc>, String)> =
        traced(SQL, sqlx::query_as(SQL).fetch_all(pool)).await?;
    Ok(rows.into_iter().map(|(n, value, updated_at, updated_by)| (n, Stored { value, updated_at, updated_by })).collect())
}

/// Validates and writes one flag; returns the stored value.
pub async fn set(pool: &PgPool, name: &str, value: &Value, actor: &str) -> Result<Value, FlagError> {
    let value = validate(name, value)?;
    let mut tx = pool.begin().await?;
    write(&mut tx, name, &value, actor).await?;
    tx.commit().await?;
    Ok(value)
}

/// Applies a named preset in one transaction (one NOTIFY per flag, delivered at commit).
pub async fn apply_preset(pool: &PgPool, name: &str, actor: &str) -> Result<Vec<(&'static str, Value)>, FlagError> {
    let values = preset(name).ok_or_else(|| FlagError::UnknownPreset { name: name.to_owned() })?;
    apply(pool, &values, actor).await
}

/// Puts every flag back to its default (the before state).
pub async fn reset(pool: &PgPool, actor: &str) -> Result<Vec<(&'static str, Value)>, FlagError> {
    let values: Vec<(&'static str, V)> = FLAGS.iter().map(|f| (f.name, f.default)).collect();
    apply(pool, &values, actor).await
}

/// Writes several flags in one transaction.
pub async fn apply(pool: &PgPool, values: &[(&'static str, V)], actor: &str) -> Result<Vec<(&'static str, Value)>, FlagError> {
    let mut tx = pool.begin().await?;
    let mut out = Vec::with_capacity(values.len());
    for (name, v) in values {
        let value = validate(name, &v.to_json())?;
        write(&mut tx, name, &value, actor).await?;
        out.push((*name, value));
    }
    tx.commit().await?;
    Ok(out)
}

async fn write(tx: &mut sqlx::PgConnection, name: &str, value: &Value, actor: &str) -> Result<(), sqlx::Error> {
    const OLD: &str = "select value from lab.flags where name = $1 for update";
    let old: Option<Value> = traced(OLD, sqlx::query_scalar(OLD).bind(name).fetch_optional(&mut *tx)).await?;
    if old.as_ref() == Some(value) {
        return Ok(());
    }
    const UPSERT: &str = "insert into lab.flags (name, value, updated_at, updated_by) values ($1, $2, now(), $3) \
                          on conflict (name) do update set value = excluded.value, updated_at = now(), updated_by = excluded.updated_by";
    traced(UPSERT, sqlx::query(UPSERT).bind(name).bind(value).bind(actor).execute(&mut *tx)).await?;
    const EVENT: &str = "insert into lab.flag_events (name, old, new, actor) values ($1, $2, $3, $4)";
    traced(EVENT, sqlx::query(EVENT).bind(name).bind(&old).bind(value).bind(actor).execute(&mut *tx)).await?;
    const NOTIFY: &str = "select pg_notify($1, $2)";
    traced(NOTIFY, sqlx::query(NOTIFY).bind(CHANNEL).bind(name).execute(&mut *tx)).await?;
    Ok(())
}

//! Lever `auth.local_token_validation` (book chapter "Authentication Performance"): `GET /validate`
//! without a database query.
//!
//! Every other service asks auth "is this token good?" on every request, so `/validate` is the hottest
//! route there is, and each answer used to cost a session lookup on the critical pool. The book's
//! Authentication Performance chapter names local token validation: a signed token already says who the
//! caller is and until when, so check the signature and expiry locally and keep only the exceptions —
//! revoked sessions — in memory.
//!
//! - before: verify the JWT, then `select ... from auth.sessions where id = $1` (one query per
//!   validate; when the pool is starved, validate waits with everything else).
//! - after: verify the JWT, read the session's end from its `sxp` claim, and refuse it if its session
//!   is in the revocation set. The set holds the sessions revoked within one access-token lifetime
//!   (older ones have no live access token left) and is reloaded from Postgres every
//!   `auth.revocation_refresh_ms`; `POST /logout` adds its session to this instance's set at once.
//!
//! Cost, the trade-off the book names: a session revoked through another instance (or by an admin in
//! the database) keeps validating here for up to `auth.revocation_refresh_ms` (plus one reload's
//! duration). Until the first reload, and for tokens without `sxp`, the before path answers. What to
//! watch: `shoplab_db_queries_per_request{route="/validate"}` falls from 1 to 0, and validate's p99
//! stops following the pool wait when signups starve the pool.

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kit::db::traced;
use kit::error::{ApiError, ApiResult};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::credentials::Claims;
use crate::levers::bulkheads::Work;
use crate::state::AppState;

/// How soon the set is loaded after the lever is switched on (the before path answers meanwhile).
const FIRST_LOAD_AFTER: Duration = Duration::from_millis(100);

/// Answer of `GET /validate`.
#[derive(Serialize, ToSchema)]
pub struct Validation {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// When the session (not the access token) ends.
    pub session_expires_at: DateTime<Utc>,
}

/// Checks a verified token's session, by the database or by the revocation set.
pub async fn validate(state: &AppState, claims: &Claims) -> ApiResult<Validation> {
    if state.flags.bool("auth.local_token_validation") {
        // after: no I/O, unless the set is not loaded yet or the token predates `sxp`
        if let Some(valid) = locally(state, claims)? {
            return Ok(valid);
        }
    }
    // before: the session row, on every request
    by_session_row(state, claims).await
}

/// The local verdict, or `None` when only the session row can tell.
fn locally(state: &AppState, claims: &Claims) -> ApiResult<Option<Validation>> {
    let (Some(revoked), Some(ends)) = (state.revocations.contains(claims.sid), claims.sxp) else {
        return Ok(None);
    };
    let ends = DateTime::from_timestamp(ends, 0).unwrap_or_default();
    if revoked || ends <= Utc::now() {
        return Err(revoked_or_expired());
    }
    Ok(Some(Validation { user_id: claims.sub, session_id: claims.sid, session_expires_at: ends }))
}

async fn by_session_row(state: &AppState, claims: &Claims) -> ApiResult<Validation> {
    const SESSION: &str = "select user_id, expires_at, revoked_at from auth.sessions where id = $1";
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let mut conn = db.acquire().await?;
    let row: Option<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> =
        traced(SESSION, sqlx::query_as(SESSION).bind(claims.sid).fetch_optional(&mut *conn)).await?;
    let live = row.filter(|(user, expires, revoked)| *user == claims.sub && *expires > Utc::now() && revoked.is_none());
    let (user_id, session_expires_at, _) = live.ok_or_else(revoked_or_expired)?;
    Ok(Validation { user_id, session_id: claims.sid, session_expires_at })
}

fn revoked_or_expired() -> ApiError {
    ApiError::Unauthorized("session revoked or expired".into())
}

/// The sessions revoked within the last access-token lifetime, as last loaded (plus this instance's
/// own logouts since). `None` until loaded, and again while the lever is off.
#[derive(Default)]
pub struct Revocations {
    set: RwLock<Option<HashSet<Uuid>>>,
}

impl Revocations {
    /// Whether `session` is revoked; `None` while the set is not loaded.
    pub fn contains(&self, session: Uuid) -> Option<bool> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| s.contains(&session))
    }

    /// Adds a session this instance just revoked (`POST /logout`).
    pub fn revoke(&self, session: Uuid) {
        if let Some(s) = self.set.write().unwrap_or_else(|e| e.into_inner()).as_mut() {
            s.insert(session);
        }
    }

    fn replace(&self, fresh: Option<HashSet<Uuid>>) {
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Sessions in the set (0 while not loaded).
    pub fn len(&self) -> usize {
        self.set.read().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, HashSet::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reloads the revocation set every `auth.revocation_refresh_ms` while the lever is on, for as long as
/// the service lives; forgets it while the lever is off (no reload costs the before state anything).
pub fn spawn_refresher(state: AppState) {
    tokio::spawn(async move {
        let mut loaded = false;
        loop {
            let every = Duration::from_millis(state.flags.int("auth.revocation_refresh_ms").clamp(10, 3_600_000) as u64);
            tokio::time::sleep(if loaded { every } else { FIRST_LOAD_AFTER }).await;
            if !state.flags.bool("auth.local_token_validation") {
                state.revocations.replace(None);
                loaded = false;
                continue;
            }
            match load(&state).await {
                Ok(set) => {
                    state.revocations.replace(Some(set));
                    loaded = true;
                }
                Err(e) => tracing::warn!(event = "revocations_reload_failed", error = %e, "keeping the previous set"),
            }
        }
    });
}

/// The sessions revoked within one access-token lifetime (index `sessions_recently_revoked`).
async fn load(state: &AppState) -> anyhow::Result<HashSet<Uuid>> {
    const REVOKED: &str = "select id from auth.sessions where revoked_at > now() - make_interval(secs => $1)";
    let window = state.tokens.access_ttl.as_secs_f64() + 60.0; // a minute of slack for clock skew
    let db = state.pools.for_work(&state.flags, Work::Critical);
    let mut conn = db.acquire().await?;
    let ids: Vec<Uuid> = traced(REVOKED, sqlx::query_scalar(REVOKED).bind(window).fetch_all(&mut *conn)).await?;
    Ok(ids.into_iter().collect())
}

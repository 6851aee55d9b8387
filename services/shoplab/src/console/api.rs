//! The console's JSON API, which its own page uses: one read (`GET /api/state`, polled every second)
//! and the token-protected writes.
//!
//! Every flag write goes through `kit::flags::set` / `apply_preset` on the lab database, the same path as
//! `shoplab flags` and the services' `/admin/flags`: each write lands in `lab.flags` and
//! `lab.flag_events` and is NOTIFYed to every process, so the CLI, the services and the console can
//! never disagree. The actor recorded is `console:<name>`, the name typed in the page.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use kit::error::{ApiError, ApiResult};
use kit::extract::{Json, Path};
use kit::flags::{self, FlagError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::ConsoleState;
use super::cases::{self, find};
use super::load::{LoadRequest, LoadView};
use super::view::{self, StateView};

/// Who a write is recorded for; every write body may carry it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Who {
    /// Trainer name shown in the change history as `console:<by>` (default `trainer`).
    pub by: Option<String>,
}

/// Body of `PUT /api/flags/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetFlag {
    /// New value, as JSON (`true`, `300`, `0.3`, `"flaky"`) or as CLI text (`"true"`, `"300"`).
    #[schema(value_type = Value)]
    pub value: Value,
    pub by: Option<String>,
}

/// What a write changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Applied {
    /// Flag -> value written.
    #[schema(value_type = Object)]
    pub applied: serde_json::Map<String, Value>,
    /// As recorded in `lab.flag_events`.
    pub actor: String,
}

/// The whole page state: flags, who changed them, live numbers and load runs.
#[utoipa::path(get, path = "/api/state", tag = "console", responses((status = 200, body = StateView)))]
#[tracing::instrument(skip_all)]
pub async fn state(State(st): State<ConsoleState>) -> ApiResult<Json<StateView>> {
    Ok(Json(view::build(&st).await?))
}

/// Checks a token without changing anything (the page's unlock button).
#[utoipa::path(get, path = "/api/token", tag = "console",
    responses((status = 200, body = Object), (status = 401), (status = 403, description = "writes not configured")),
    security(("admin_token" = [])))]
pub async fn token(_: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(serde_json::json!({ "valid": true })))
}

/// Sets one flag for every process.
#[utoipa::path(put, path = "/api/flags/{name}", tag = "console", request_body = SetFlag,
    params(("name" = String, Path, description = "flag name, e.g. product.eager_loading")),
    responses((status = 200, body = Applied), (status = 400), (status = 401), (status = 403)),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all, fields(flag = %name))]
pub async fn put_flag(
    _: Admin,
    State(st): State<ConsoleState>,
    Path(name): Path<String>,
    Json(body): Json<SetFlag>,
) -> ApiResult<Json<Applied>> {
    let actor = actor(body.by.as_deref())?;
    let value = flags::set(&st.pool, &name, &body.value, &actor).await.map_err(flag_error)?;
    Ok(Json(Applied { applied: [(name, value)].into_iter().collect(), actor }))
}

/// Applies a named preset (`case1-before`, `case1-after`, `case3-degraded-provider`, ...).
#[utoipa::path(post, path = "/api/presets/{name}", tag = "console", request_body(content = Who, description = "optional"),
    params(("name" = String, Path, description = "preset name, e.g. case1-after")),
    responses((status = 200, body = Applied), (status = 400), (status = 401), (status = 403)),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all, fields(preset = %name))]
pub async fn preset(
    _: Admin,
    State(st): State<ConsoleState>,
    Path(name): Path<String>,
    OptionalJson(who): OptionalJson<Who>,
) -> ApiResult<Json<Applied>> {
    let actor = actor(who.by.as_deref())?;
    let applied = flags::apply_preset(&st.pool, &name, &actor).await.map_err(flag_error)?;
    Ok(Json(Applied { applied: applied.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(), actor }))
}

/// Turns on the case's next lever in book order (the book's "change one thing at a time").
#[utoipa::path(post, path = "/api/step/{case}", tag = "console", request_body(content = Who, description = "optional"),
    params(("case" = u8, Path, description = "case study 1, 2 or 3")),
    responses((status = 200, body = Applied), (status = 401), (status = 404),
        (status = 409, description = "every lever is already on")),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all, fields(case))]
pub async fn step(
    _: Admin,
    State(st): State<ConsoleState>,
    Path(case): Path<u8>,
    OptionalJson(who): OptionalJson<Who>,
) -> ApiResult<Json<Applied>> {
    let case = find(case)?;
    let actor = actor(who.by.as_deref())?;
    let stored = flags::load(&st.pool).await?;
    let Some((name, value)) = cases::next_step(case.number, &stored) else {
        let msg = format!("every lever of case {} is already on; use 'before' to start over", case.number);
        return Err(ApiError::Conflict(msg));
    };
    let value = flags::set(&st.pool, name, &value.to_json(), &actor).await.map_err(flag_error)?;
    Ok(Json(Applied { applied: [(name.to_owned(), value)].into_iter().collect(), actor }))
}

/// Starts the case's k6 script in the background.
#[utoipa::path(post, path = "/api/load/{case}", tag = "console", request_body(content = LoadRequest, description = "optional"),
    params(("case" = u8, Path, description = "case study 1, 2 or 3")),
    responses((status = 200, body = LoadView), (status = 400), (status = 401), (status = 404),
        (status = 409, description = "already running"), (status = 503, description = "k6 or the script is missing")),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all, fields(case))]
pub async fn start_load(
    _: Admin,
    State(st): State<ConsoleState>,
    Path(case): Path<u8>,
    OptionalJson(req): OptionalJson<LoadRequest>,
) -> ApiResult<Json<LoadView>> {
    let case = find(case)?;
    let by = actor(req.by.as_deref())?;
    Ok(Json(st.loads.start(case, req, by).await?))
}

/// Stops the case's running k6.
#[utoipa::path(delete, path = "/api/load/{case}", tag = "console",
    params(("case" = u8, Path, description = "case study 1, 2 or 3")),
    responses((status = 200, body = Object), (status = 401), (status = 404), (status = 409, description = "nothing running")),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all, fields(case))]
pub async fn stop_load(_: Admin, State(st): State<ConsoleState>, Path(case): Path<u8>) -> ApiResult<Json<Value>> {
    let case = find(case)?;
    st.loads.stop(case.number)?;
    Ok(Json(serde_json::json!({ "stopping": case.number })))
}

/// Puts the case back to its starting state, like `shoplab reset N`: before preset, cache emptied (case 1),
/// queues drained (5 s at most), flags confirmed by the case's processes.
#[utoipa::path(post, path = "/api/reset/{case}", tag = "console", request_body(content = Who, description = "optional"),
    params(("case" = u8, Path, description = "case study 1, 2 or 3")),
    responses((status = 200, body = Object), (status = 401), (status = 404)),
    security(("admin_token" = [])))]
#[tracing::instrument(skip_all, fields(case))]
pub async fn reset(
    _: Admin,
    State(st): State<ConsoleState>,
    Path(case): Path<u8>,
    OptionalJson(who): OptionalJson<Who>,
) -> ApiResult<Json<Value>> {
    let case = find(case)?;
    let actor = actor(who.by.as_deref())?;
    let start = st.reset.reset(case.number, &actor).await?;
    Ok(Json(serde_json::json!({ "case": case.number, "summary": crate::reset::summary(&start), "start": start })))
}

/// Proof that the request carries the admin token (Bearer). Taken as the first extractor of every write,
/// so a request without the token is refused with 401 before its path or body is even looked at; with
/// no token configured, 403 says how to enable writes.
pub struct Admin;

impl FromRequestParts<ConsoleState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &ConsoleState) -> Result<Self, ApiError> {
        kit::http::admin::authorize_token(st.admin_token.as_deref(), &parts.headers).map_err(|e| match e {
            ApiError::Forbidden(_) => ApiError::Forbidden(super::WRITES_DISABLED.to_owned()),
            other => other,
        })?;
        Ok(Self)
    }
}

/// `console:<name>`; a name is 1..=32 letters, digits, spaces or `._@-`.
fn actor(by: Option<&str>) -> ApiResult<String> {
    let name = by.map(str::trim).filter(|n| !n.is_empty()).unwrap_or("trainer");
    let ok = name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || " ._@-".contains(c));
    if !ok {
        return Err(ApiError::bad_request("invalid_name", "name must be 1-32 letters, digits, spaces or . _ @ -"));
    }
    Ok(format!("console:{name}"))
}

fn flag_error(e: FlagError) -> ApiError {
    match e {
        FlagError::Db(e) => ApiError::Internal(e.into()),
        other => ApiError::bad_request("invalid_flag", other.to_string()),
    }
}

/// A JSON body that may be left out entirely (no `Content-Type`): then `T::default()`. A body that is
/// there must be valid JSON of the right shape (kit's 400/422 otherwise), so `curl -X POST` just works.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !req.headers().contains_key(header::CONTENT_TYPE) {
            return Ok(Self(T::default()));
        }
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::actor;

    #[test]
    fn names_become_console_actors() {
        assert_eq!(actor(None).unwrap(), "console:trainer");
        assert_eq!(actor(Some("  ")).unwrap(), "console:trainer");
        assert_eq!(actor(Some("Ada L.")).unwrap(), "console:Ada L.");
        assert!(actor(Some("<script>")).is_err());
        assert!(actor(Some(&"x".repeat(33))).is_err());
    }
}

//! `GET /admin/flags` (this process's current view) and the token-protected writes
//! `PUT /admin/flags/{name}` and `POST /admin/presets/{name}`, shared by every service.
//!
//! The token is checked before the body is read: without it a write answers 401 whatever it carries.

use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::BaseState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::flags::{self, FLAGS, FlagError};

/// One flag as this process sees it.
#[derive(Serialize, ToSchema)]
pub struct FlagView {
    pub name: &'static str,
    #[schema(value_type = Value)]
    pub value: Value,
    #[schema(value_type = Value)]
    pub default: Value,
    #[schema(value_type = Value, nullable)]
    pub after: Option<Value>,
    pub r#type: String,
    pub case: u8,
    pub chapter: &'static str,
    pub description: &'static str,
    pub updated_by: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The flags and any service-specific state (e.g. whether the composite indexes exist).
#[derive(Serialize, ToSchema)]
pub struct FlagsView {
    pub service: &'static str,
    pub flags: Vec<FlagView>,
    #[schema(value_type = Object)]
    pub status: Value,
}

/// Body of a flag write.
#[derive(Deserialize, ToSchema)]
pub struct SetFlag {
    #[schema(value_type = Value)]
    pub value: Value,
}

/// This process's current view of every flag.
#[utoipa::path(get, path = "/admin/flags", tag = "admin", responses((status = 200, body = FlagsView)))]
pub(crate) async fn list(State(base): State<BaseState>) -> Json<FlagsView> {
    let snap = base.flags.snapshot();
    let flags = FLAGS
        .iter()
        .map(|f| {
            let stored = snap.stored.get(f.name);
            FlagView {
                name: f.name,
                value: snap.values.get(f.name).cloned().unwrap_or(Value::Null),
                default: f.default.to_json(),
                after: f.after.map(|v| v.to_json()),
                r#type: flags::describe_kind(&f.kind),
                case: f.case,
                chapter: f.chapter.title,
                description: f.description,
                updated_by: stored.map(|s| s.updated_by.clone()),
                updated_at: stored.map(|s| s.updated_at),
            }
        })
        .collect();
    let status = match &base.status {
        Some(s) => s().await,
        None => Value::Object(Default::default()),
    };
    Json(FlagsView { service: base.service, flags, status })
}

/// Sets one flag for every process (Bearer `SHOPLAB_ADMIN_TOKEN`).
#[utoipa::path(put, path = "/admin/flags/{name}", tag = "admin", request_body = SetFlag,
    params(("name" = String, Path, description = "flag name, as listed by GET /admin/flags")),
    responses((status = 200, body = Object), (status = 400, description = "unknown flag or wrong type"), (status = 401)),
    security(("admin_token" = [])))]
pub(crate) async fn put(
    State(base): State<BaseState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    request: Request,
) -> ApiResult<Json<Value>> {
    // authentication before validation: an anonymous caller learns nothing from the parser
    let actor = authorize(&base, &headers)?;
    let Json(body) = Json::<SetFlag>::from_request(request, &()).await?;
    let value = flags::set(&base.pool, &name, &body.value, &actor).await.map_err(flag_error)?;
    Ok(Json(serde_json::json!({ "name": name, "value": value, "actor": actor })))
}

/// Applies a preset (`case1-after`, ...) for every process.
#[utoipa::path(post, path = "/admin/presets/{name}", tag = "admin",
    params(("name" = String, Path, description = "preset name, e.g. case1-after")),
    responses((status = 200, body = Object), (status = 400), (status = 401)), security(("admin_token" = [])))]
pub(crate) async fn preset(
    State(base): State<BaseState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let actor = authorize(&base, &headers)?;
    let applied = flags::apply_preset(&base.pool, &name, &actor).await.map_err(flag_error)?;
    let applied: serde_json::Map<String, Value> = applied.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    Ok(Json(serde_json::json!({ "preset": name, "applied": applied, "actor": actor })))
}

/// Checks the Bearer token; returns the actor recorded in `lab.flag_events`.
pub fn authorize_token(expected: Option<&str>, headers: &HeaderMap) -> ApiResult<()> {
    let Some(expected) = expected else {
        return Err(ApiError::Forbidden("admin writes are disabled: set SHOPLAB_ADMIN_TOKEN to enable them".into()));
    };
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Unauthorized("missing or wrong admin token (Authorization: Bearer ...)".into())),
    }
}

fn authorize(base: &BaseState, headers: &HeaderMap) -> ApiResult<String> {
    authorize_token(base.admin_token.as_ref().map(secrecy::ExposeSecret::expose_secret), headers)?;
    let who = headers.get("x-shoplab-actor").and_then(|v| v.to_str().ok()).filter(|a| !a.is_empty() && a.len() <= 64);
    Ok(who.map(str::to_owned).unwrap_or_else(|| format!("api:{}", base.service)))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn flag_error(e: FlagError) -> ApiError {
    match e {
        FlagError::Db(e) => ApiError::Internal(e.into()),
        other => ApiError::bad_request("invalid_flag", other.to_string()),
    }
}

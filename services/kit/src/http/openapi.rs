//! The OpenAPI document every shoplab API serves at `/openapi.json`, made trustworthy for a reader or a
//! client generator:
//! - its identity (`info`) is the service crate's own metadata, through [`api_identity!`]: title
//!   `shoplab <crate>`, the crate's version and description, the project's licence and repository
//!   (utoipa-axum's router would otherwise put its own name, author and licence there);
//! - `servers` names the address the document was fetched from, so try-it-out and generated clients call
//!   this service wherever it runs (a port offset, compose, a proxy);
//! - [`complete`] adds what the kit itself answers on every route and the services' attributes leave out:
//!   the error shape on every 4xx/5xx, 413 above the body limit, 400/422 from the kit's extractors, 401/403
//!   for routes behind a token, the `admin_token` Bearer scheme the explorer's Authorize dialog fills, and
//!   the description OpenAPI requires of every answer.

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;
use utoipa::openapi::external_docs::ExternalDocs;
use utoipa::openapi::info::{Contact, Info, License};

use super::body::MAX_BODY_BYTES;

/// A service's identity in its OpenAPI `info`; build it with [`api_identity!`] so every field comes from
/// the calling crate's `Cargo.toml`.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    /// Service name (the crate's, unless overridden, as the console does); the title is `shoplab <name>`.
    pub name: &'static str,
    pub version: &'static str,
    /// One sentence on what the service is for (the crate's `description`).
    pub description: &'static str,
    /// SPDX licence identifier (`MIT`, from `[workspace.package]`).
    pub license: &'static str,
    /// Where the source and the workshop guide (`docs/`) live.
    pub repository: &'static str,
}

/// The calling crate's [`Identity`], read from its `Cargo.toml` at compile time.
#[macro_export]
macro_rules! api_identity {
    () => {
        $crate::http::openapi::Identity {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            description: env!("CARGO_PKG_DESCRIPTION"),
            license: env!("CARGO_PKG_LICENSE"),
            repository: env!("CARGO_PKG_REPOSITORY"),
        }
    };
}

impl Identity {
    /// `doc` with this identity as its `info` and the repository as its external docs.
    pub fn apply(&self, mut doc: OpenApi) -> OpenApi {
        let description = format!(
            "{}\n\nPart of shoplab, a lab for learning API performance: every optimisation is a flag (`/admin/flags`). \
             Every error is JSON `{{\"error\": {{\"code\", \"message\"}}}}`; request bodies are limited to \
             {MAX_BODY_BYTES} bytes (1 MiB), larger ones answer 413. Admin writes take \
             `Authorization: Bearer <SHOPLAB_ADMIN_TOKEN>` (the explorer's Authorize button).",
            self.description
        );
        let mut license = License::new(self.license);
        license.identifier = Some(self.license.to_owned());
        let mut contact = Contact::new();
        (contact.name, contact.url) = (Some("shoplab".to_owned()), Some(self.repository.to_owned()));
        doc.info = Info::new(format!("shoplab {}", self.name), self.version.to_owned());
        doc.info.description = Some(description);
        (doc.info.license, doc.info.contact) = (Some(license), Some(contact));
        let mut external = ExternalDocs::new(self.repository);
        external.description = Some("source code and the workshop guide (docs/)".to_owned());
        doc.external_docs = Some(external);
        doc
    }
}

/// `doc` as served, with the kit's common answers documented (see the module doc). JSON from here on:
/// utoipa cannot read back some schemas it writes (an any-value `{}`), so there is no way back to its types.
pub fn complete(doc: OpenApi) -> Value {
    let mut value = serde_json::to_value(&doc).unwrap_or_else(|e| {
        tracing::error!(event = "openapi_not_serializable", error = %e);
        Value::Null
    });
    if let Some(root) = value.as_object_mut() {
        declare_common(root);
        for item in entry(root, "paths").values_mut().filter_map(Value::as_object_mut) {
            let ops = item.iter_mut().filter(|(m, _)| METHODS.contains(&m.as_str()));
            ops.filter_map(|(_, op)| op.as_object_mut()).for_each(document_answers);
        }
    }
    value
}

/// `/openapi.json`: `doc` with `servers` set to the address the client used (the `Host` header).
pub fn serve(doc: &Value, headers: &HeaderMap) -> Response {
    let mut doc = doc.clone();
    if let Some(root) = doc.as_object_mut() {
        root.insert("servers".into(), json!([{ "url": server_url(headers), "description": "this service" }]));
    }
    axum::Json(doc).into_response()
}

/// `http://<Host>` when the header is a valid authority; otherwise `/` (relative to the document).
fn server_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match host.and_then(|h| h.parse::<axum::http::uri::Authority>().ok()) {
        Some(authority) => format!("http://{authority}"),
        None => "/".to_owned(),
    }
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// The shared error schema and the admin token's security scheme.
fn declare_common(doc: &mut Map<String, Value>) {
    let components = entry(doc, "components");
    let error = json!({
        "type": "object",
        "description": "The one error shape of every shoplab API.",
        "required": ["error"],
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": { "type": "string", "description": "stable machine-readable code, e.g. `invalid_body`" },
                "message": { "type": "string", "description": "what went wrong, for a person" }
            }
        }}
    });
    entry(components, "schemas").insert("Error".into(), error);
    let admin = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "The admin token the lab was started with (`SHOPLAB_ADMIN_TOKEN`; see the output of \
                        `shoplab up`). Admin writes are refused with 403 where none is configured."
    });
    entry(components, "securitySchemes").entry("admin_token").or_insert(admin);
}

/// Adds to one operation the answers the kit gives whatever the handler does, and the error shape to
/// every 4xx/5xx answer that declares no body.
fn document_answers(op: &mut Map<String, Value>) {
    let has_body = op.get("requestBody").is_some();
    let has_params = op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
    let schemes = security_schemes(op);
    let responses = entry(op, "responses");
    if has_body {
        add(responses, "400", "malformed JSON, or a Content-Type other than application/json");
        add(responses, "413", &format!("request body larger than {MAX_BODY_BYTES} bytes"));
        add(responses, "422", "well-formed JSON with a missing field or a value of the wrong type");
    }
    if has_params {
        add(responses, "400", "a path or query parameter that does not parse");
    }
    if !schemes.is_empty() {
        add(responses, "401", "missing or wrong token (`Authorization: Bearer ...`)");
    }
    if schemes.iter().any(|s| s == "admin_token") {
        add(responses, "403", "admin writes are disabled here (no SHOPLAB_ADMIN_TOKEN configured)");
    }
    for (status, response) in responses.iter_mut() {
        if response.get("description").is_none() {
            response["description"] = json!(reason(status));
        }
        let is_error = status.starts_with('4') || status.starts_with('5');
        if is_error && response.get("content").is_none_or(|c| c.as_object().is_none_or(Map::is_empty)) {
            response["content"] = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
        }
    }
}

/// The standard reason phrase of `status` ("OK", "Not Found"): OpenAPI requires every answer to have a
/// description, and utoipa leaves it out when an attribute gives only a status and a body.
fn reason(status: &str) -> &'static str {
    let code = status.parse::<u16>().ok().and_then(|c| axum::http::StatusCode::from_u16(c).ok());
    code.and_then(|c| c.canonical_reason()).unwrap_or("answer")
}

/// The security scheme names an operation requires.
fn security_schemes(op: &Map<String, Value>) -> Vec<String> {
    let requirements = op.get("security").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    requirements.iter().filter_map(Value::as_object).flat_map(|r| r.keys().cloned()).collect()
}

/// Adds `status` with `description` unless the operation already documents it.
fn add(responses: &mut Map<String, Value>, status: &str, description: &str) {
    responses.entry(status).or_insert_with(|| json!({ "description": description }));
}

/// The object under `key`, created empty if missing (or replaced if not an object).
fn entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa_axum::router::OpenApiRouter;

    /// A body with an any-value field: utoipa writes `{}`, which its own types cannot read back.
    #[derive(serde::Deserialize, utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Thing {
        #[schema(value_type = Value)]
        value: Value,
    }

    #[utoipa::path(put, path = "/things/{id}", request_body = Thing,
        params(("id" = i64, Path)), responses((status = 200, body = Thing), (status = 404)), security(("admin_token" = [])))]
    async fn put_thing() {}

    fn doc() -> Value {
        let (_, doc) = OpenApiRouter::<()>::new().routes(utoipa_axum::routes!(put_thing)).split_for_parts();
        complete(crate::api_identity!().apply(doc))
    }

    #[test]
    fn the_identity_is_the_crates_own() {
        let doc = doc();
        assert_eq!(doc["info"]["title"], "shoplab kit");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(doc["info"]["license"]["identifier"], "MIT");
        assert_eq!(doc["externalDocs"]["url"], env!("CARGO_PKG_REPOSITORY"));
        assert!(!doc["info"].to_string().contains("utoipa"), "no trace of the generator's own identity");
    }

    #[test]
    fn every_error_answer_has_the_shape_and_the_kits_answers_are_listed() {
        let doc = doc();
        let responses = doc["paths"]["/things/{id}"]["put"]["responses"].as_object().unwrap().clone();
        let codes: Vec<&str> = responses.keys().map(String::as_str).collect();
        assert_eq!(codes, ["200", "400", "401", "403", "404", "413", "422"]);
        for (code, r) in responses.iter().filter(|(c, _)| *c != "200") {
            assert_eq!(r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error", "{code}");
        }
        assert!(responses["413"]["description"].as_str().unwrap().contains(&MAX_BODY_BYTES.to_string()));
        assert_eq!(responses["404"]["description"], "Not Found", "a required description filled in");
        assert_eq!(responses["200"]["description"], "OK");
        assert_eq!(doc["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
    }

    #[test]
    fn servers_name_the_address_the_client_used() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(server_url(&headers), "http://127.0.0.1:8081");
        headers.insert(header::HOST, "bad host<script>".parse().unwrap());
        assert_eq!(server_url(&headers), "/");
    }
}

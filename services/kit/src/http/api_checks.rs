//! Test support (feature `test-support`): the checks every service's `tests/it/openapi.rs` runs against a
//! running instance, so the identity and the body limit are proven per service, over real HTTP, with
//! one definition of what "right" means.

use reqwest::StatusCode;
use serde_json::Value;

use super::body::MAX_BODY_BYTES;

/// What a service's `/openapi.json` must say about itself (the test passes its own crate's `env!` values).
pub struct Expected<'a> {
    /// `shoplab <name>`.
    pub title: &'a str,
    pub version: &'a str,
    /// The crate's `description`, which the document's description must start with.
    pub description: &'a str,
    pub license: &'a str,
    pub repository: &'a str,
}

/// Fetches `<base>/<spec_path>` and checks its identity, `servers`, tags and error answers; returns it.
pub async fn assert_identity(base: &str, spec_path: &str, want: &Expected<'_>) -> Value {
    let resp = reqwest::get(format!("{base}{spec_path}")).await.expect("GET openapi.json");
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.expect("openapi.json is JSON");
    let info = &doc["info"];
    assert_eq!(info["title"], want.title);
    assert_eq!(info["version"], want.version);
    let description = info["description"].as_str().unwrap_or_default();
    assert!(description.starts_with(want.description), "description {description:?}");
    assert!(description.contains(&MAX_BODY_BYTES.to_string()), "the body limit is documented");
    assert_eq!(info["license"]["identifier"], want.license);
    assert_eq!(info["contact"]["url"], want.repository);
    assert_eq!(doc["externalDocs"]["url"], want.repository);
    assert!(!info.to_string().to_lowercase().contains("utoipa"), "no generator identity left: {info}");
    assert_eq!(doc["servers"][0]["url"], base, "servers names the address the document came from");
    assert_tags_declared(&doc);
    assert_errors_documented(&doc);
    doc
}

/// Every tag an operation uses is declared at the top with a description (chapter and levers).
fn assert_tags_declared(doc: &Value) {
    let declared: Vec<&Value> = doc["tags"].as_array().map(|t| t.iter().collect()).unwrap_or_default();
    for (_, _, op) in operations(doc) {
        for tag in op["tags"].as_array().into_iter().flatten() {
            let found = declared.iter().find(|t| t["name"] == *tag);
            let described = found.and_then(|t| t["description"].as_str()).is_some_and(|d| !d.is_empty());
            assert!(described, "tag {tag} is used but not declared with a description");
        }
    }
}

/// Every 4xx/5xx answer has the shared error schema; every body-taking operation lists 413; every scheme
/// an operation names is declared.
fn assert_errors_documented(doc: &Value) {
    let schemes = &doc["components"]["securitySchemes"];
    for (path, method, op) in operations(doc) {
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        for (status, r) in &responses {
            assert!(r["description"].is_string(), "{method} {path} {status}: OpenAPI requires a description");
        }
        for (status, r) in responses.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5')) {
            let schema = &r["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/Error", "{method} {path} {status}");
        }
        if op.get("requestBody").is_some() {
            assert!(responses.contains_key("413"), "{method} {path} takes a body: 413 documented");
        }
        for requirement in op["security"].as_array().into_iter().flatten().filter_map(Value::as_object) {
            requirement.keys().for_each(|s| assert!(schemes.get(s).is_some(), "{method} {path}: scheme {s} declared"));
        }
    }
}

/// `(path, method, operation)` of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().cloned().unwrap_or_default() {
            out.push((path.clone(), method, op));
        }
    }
    out
}

/// A JSON document (a string) of exactly `len` bytes.
pub fn json_of(len: usize) -> Vec<u8> {
    let mut body = vec![b'"'];
    body.resize(len - 1, b'a');
    body.push(b'"');
    body
}

/// Sends `req` with a body one byte over the limit, declared by `Content-Length`: the answer must be a
/// 413 in the shared error shape.
pub async fn assert_payload_too_large(req: reqwest::RequestBuilder) {
    let resp = req.header("content-type", "application/json").body(json_of(MAX_BODY_BYTES + 1)).send().await;
    let resp = resp.expect("send an oversized body");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_error_body(&resp.json().await.expect("413 body is JSON"));
}

/// Streams a body one byte over the limit with no `Content-Length` (HTTP/1.1 chunked, written by hand so
/// nothing buffers it first) to `method path` on `base` with `headers`: the answer must be the same 413.
pub async fn assert_streamed_payload_too_large(base: &str, method: &str, path: &str, headers: &[(&str, &str)]) {
    let (status, body) = chunked::send(base, method, path, headers, &json_of(MAX_BODY_BYTES + 1)).await;
    assert_eq!(status, 413, "streamed body: {body}");
    assert_error_body(&body);
}

fn assert_error_body(body: &Value) {
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&MAX_BODY_BYTES.to_string()), "the message names the limit: {message}");
}

/// A minimal HTTP/1.1 client for a chunked request body.
mod chunked {
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends the request; the server may answer (and close) before the body is written: then the
    /// rest is not sent and the answer is read all the same. Returns the status and the JSON body.
    pub(super) async fn send(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let host = base.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n");
        head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n");
        headers.iter().for_each(|(k, v)| head.push_str(&format!("{k}: {v}\r\n")));
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        for chunk in body.chunks(64 * 1024) {
            wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        let _ = stream.write_all(&wire).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        parse(&answer)
    }

    /// Status and JSON body of a raw answer (`content-length` or chunked).
    fn parse(answer: &[u8]) -> (u16, Value) {
        let text = String::from_utf8_lossy(answer);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_owned() };
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn dechunk(mut rest: &str) -> String {
        let mut out = String::new();
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    }
}

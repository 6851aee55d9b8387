//! W3C trace-context propagation across HTTP calls and RabbitMQ messages.
//!
//! A signup's trace must continue through outbox -> relay -> RabbitMQ -> worker -> provider. These helpers
//! write the current span's `traceparent` into outgoing headers and read it back on the other side; the
//! caller then `set_parent`s its new span before entering it (tracing-opentelemetry ignores a parent set
//! after the span was entered).

use std::collections::HashMap;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes the current span's context into HTTP headers (outgoing request).
pub fn inject_http(headers: &mut http::HeaderMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(headers)));
}

/// Reads the caller's context from HTTP headers (incoming request).
pub fn extract_http(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// The current span's context as a `traceparent` string, for storing in an outbox row.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut map = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut map));
    map.remove("traceparent")
}

/// A context rebuilt from a stored `traceparent` (outbox row -> relay).
pub fn context_from_traceparent(traceparent: Option<&str>) -> Context {
    let mut map = HashMap::new();
    if let Some(tp) = traceparent {
        map.insert("traceparent".to_owned(), tp.to_owned());
    }
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&map))
}

/// AMQP headers carrying the current span's context (publish side).
pub fn inject_amqp(headers: &mut FieldTable) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut AmqpInjector(headers)));
}

/// The publisher's context from AMQP headers (consume side); accepts long and short strings.
pub fn extract_amqp(headers: Option<&FieldTable>) -> Context {
    let empty = FieldTable::default();
    let headers = headers.unwrap_or(&empty);
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&AmqpExtractor(headers)))
}

struct AmqpInjector<'a>(&'a mut FieldTable);

impl Injector for AmqpInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(ShortString::from(key.to_owned()), AMQPValue::LongString(LongString::from(value)));
    }
}

struct AmqpExtractor<'a>(&'a FieldTable);

impl Extractor for AmqpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = self.0.inner().iter().find(|(k, _)| k.as_str() == key)?.1;
        match value {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ShortString(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|k| k.as_str()).collect()
    }
}

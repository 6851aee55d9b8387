//! Tracing, logs and OTLP export for every shoplab process.
//!
//! One call to [`init`] installs: JSON log lines carrying `trace_id`/`span_id`, an OpenTelemetry layer that
//! turns `tracing` spans into OTel spans, and — when `OTEL_EXPORTER_OTLP_ENDPOINT` is set — a batch exporter
//! to Tempo (gRPC by default, `http/protobuf` on request). Without an endpoint the tracer still assigns
//! trace ids (logs and metric exemplars use them) but exports nothing, and nothing breaks.
//! The returned [`TelemetryGuard`] flushes pending spans on shutdown; drop it only after the server stopped.

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};

mod json_log;
pub mod trace_sampling;

/// Keeps the tracer provider alive; [`TelemetryGuard::shutdown`] flushes what is still buffered.
pub struct TelemetryGuard {
    /// The SDK provider whose batch processor holds unexported spans until shutdown.
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops the exporter; call after graceful shutdown so the last requests' spans are kept.
    pub async fn shutdown(mut self) {
        if let Some(p) = self.provider.take() {
            // tonic's flush can deadlock on a current-thread runtime: run it on a blocking thread.
            let _ = tokio::task::spawn_blocking(move || p.shutdown()).await;
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = std::thread::spawn(move || p.shutdown()).join();
        }
    }
}

/// Installs the global subscriber for a process named `service` (overridden by `OTEL_SERVICE_NAME`).
///
/// Must run inside the Tokio runtime (the gRPC exporter needs it). Safe to call twice: the second call
/// keeps the first subscriber (tests start several apps in one process).
pub fn init(service: &str) -> TelemetryGuard {
    init_with(service, Otlp::from_env())
}

/// Where spans are exported: `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Clone, Debug, Default)]
pub struct Otlp {
    /// Collector base URL (`http://tempo:4317`); `None` exports nothing.
    pub endpoint: Option<String>,
    /// `grpc` (default) or `http/protobuf`.
    pub protocol: String,
}

impl Otlp {
    /// Reads the standard OpenTelemetry environment variables.
    pub fn from_env() -> Self {
        Self {
            endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty()),
            protocol: std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_else(|_| "grpc".into()),
        }
    }
}

/// [`init`] with explicit export settings (tests point it at their own receiver).
pub fn init_with(service: &str, otlp: Otlp) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = build_provider(service, &otlp);
    let tracer = provider.tracer("shoplab");
    let otel = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(otel_targets());
    let logs = tracing_subscriber::fmt::layer().event_format(json_log::JsonWithTrace).with_filter(env_filter());
    let installed = tracing_subscriber::registry().with(otel).with(logs).try_init().is_ok();
    if installed {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    TelemetryGuard { provider: Some(provider) }
}

/// `RUST_LOG`, or info with the chatty dependencies quietened.
fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn,hyper=warn,h2=warn,tonic=warn,reqwest=warn"))
}

/// What becomes an OTel span: our INFO spans, never lapin's internal io loop (stray root traces).
fn otel_targets() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("lapin", LevelFilter::OFF)
        .with_target("amq_protocol", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
        .with_target("sqlx", LevelFilter::OFF)
}

fn build_provider(service: &str, otlp: &Otlp) -> SdkTracerProvider {
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    let mut builder = SdkTracerProvider::builder().with_resource(resource.build()).with_sampler(trace_sampling::LiveRatioSampler);
    match exporter(otlp) {
        Ok(Some(exp)) => builder = builder.with_batch_exporter(exp),
        Ok(None) => {}
        Err(e) => eprintln!("{service}: OTLP export disabled: {e:#}"),
    }
    builder.build()
}

/// The exporter chosen by `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_PROTOCOL`, if any.
fn exporter(otlp: &Otlp) -> anyhow::Result<Option<SpanExporter>> {
    let Some(endpoint) = otlp.endpoint.clone() else {
        return Ok(None);
    };
    let exp = match otlp.protocol.as_str() {
        "http/protobuf" => {
            // an endpoint given in code is used verbatim: the signal path must be appended here.
            let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
            SpanExporter::builder().with_http().with_endpoint(url).build()?
        }
        "grpc" => SpanExporter::builder().with_tonic().with_endpoint(endpoint).build()?,
        other => anyhow::bail!("OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported (grpc | http/protobuf)"),
    };
    Ok(Some(exp))
}

/// The trace id of the current span as 32 hex digits, or `None` outside any span.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

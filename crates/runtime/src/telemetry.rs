//! Logs and traces.
//!
//! Logs go to stdout (JSON or text). Spans always get OpenTelemetry trace ids,
//! so trace context propagates over HTTP and AMQP even when nothing is
//! exported; with an OTLP endpoint configured (`telemetry.otlp_endpoint`, or
//! the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_ENDPOINT`) they are exported over OTLP/HTTP.
//!
//! The SDK's batch processor exports from a thread of its own, outside any
//! tokio runtime, so the exporter uses reqwest's blocking client (an async
//! client there panics on its first export). `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` are honoured; the binary's name is the service
//! name only when `OTEL_SERVICE_NAME` is unset, and the release
//! ([`crate::build_info::VERSION`]) the `service.version` unless
//! `OTEL_RESOURCE_ATTRIBUTES` names one.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, SdkProvidedResourceDetector, TelemetryResourceDetector,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::TelemetrySettings;

/// The semantic conventions' `service.version` resource attribute.
const SERVICE_VERSION: &str = "service.version";

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes it.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes pending spans. Call once, before exit.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {err}");
        }
    }
}

/// Installs logging and tracing for `service` as configured.
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<Telemetry> {
    let configured = settings.otlp_endpoint.clone().filter(|e| !e.is_empty());
    let from_env = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
    let mut builder = SdkTracerProvider::builder().with_resource(resource(service));
    let exporting = configured.clone().or(from_env);
    if exporting.is_some() {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
        // Our own setting names the collector's base URL like
        // OTEL_EXPORTER_OTLP_ENDPOINT does; without it the exporter reads the
        // standard variables itself (the signal-specific one taken as is).
        if let Some(endpoint) = &configured {
            exporter =
                exporter.with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')));
        }
        builder = builder.with_batch_exporter(exporter.build()?);
    }
    let telemetry = install(service, settings, builder.build())?;
    if let Some(endpoint) = exporting {
        tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
    }
    Ok(telemetry)
}

/// The resource describing this process: `OTEL_RESOURCE_ATTRIBUTES` over
/// `service.version` (the release), and `OTEL_SERVICE_NAME` or else
/// `service`.
pub fn resource(service: &str) -> Resource {
    // Resource::builder()'s detectors, over the version (a later source wins).
    let builder = Resource::builder_empty()
        .with_attribute(KeyValue::new(SERVICE_VERSION, crate::build_info::VERSION))
        .with_detectors(&[
            Box::new(SdkProvidedResourceDetector),
            Box::new(TelemetryResourceDetector),
            Box::new(EnvResourceDetector::new()),
        ]);
    if std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) {
        builder.build()
    } else {
        builder.with_service_name(service.to_owned()).build()
    }
}

/// Installs logging and the given tracer provider (tests pass one with an
/// in-memory exporter).
pub fn install(
    service: &str,
    settings: &TelemetrySettings,
    provider: SdkTracerProvider,
) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(service.to_owned());
    let filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.log_level))?;
    let fmt = if settings.log_format == "json" {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed()
    } else {
        // Colours for a person at a terminal; plain text into a file or a
        // pipe (`make run` writes var/*.log), where escape codes are noise.
        tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .boxed()
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        // Export our spans (info and above), not the dependencies' debug internals.
        // Without busy/idle timings (two clock reads at every enter and exit of
        // every span, each poll of an instrumented future) and the thread's
        // name and id (an allocation per span): on a pool of async workers
        // they say nothing, and the worker makes a span per message.
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_filter(EnvFilter::new("info")),
        )
        .try_init()?;
    Ok(Telemetry { provider })
}

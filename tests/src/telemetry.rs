//! Logging and an in-memory span exporter for the in-process services, once
//! per test process (nextest runs each test in its own process).

use std::sync::OnceLock;

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

/// Spans recorded by every test in this process (see [`spans`]).
static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();

/// Installs logging and an in-memory span exporter once per process.
pub fn init_telemetry() -> &'static InMemorySpanExporter {
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let settings = bv_runtime::TelemetrySettings {
            otlp_endpoint: None,
            log_format: "text".into(),
            log_level: "warn".into(),
        };
        if let Ok(telemetry) = bv_runtime::telemetry::install("bv-test", &settings, provider) {
            // Kept for the life of the test process.
            std::mem::forget(telemetry);
        }
        exporter
    })
}

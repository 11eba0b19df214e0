//! W3C trace context across RabbitMQ: the publisher injects `traceparent` and
//! `tracestate` into the message headers; the consumer extracts them and makes
//! its span a child of the publisher's, so one trace spans both processes.

use std::collections::HashMap;

use lapin::types::FieldTable;
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct Headers(HashMap<String, String>);

impl Injector for Headers {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Records the span's trace id in its `trace_id` field (declared `Empty`), so
/// JSON log lines inside it carry the id to search the trace by.
pub fn record_trace_id(span: &tracing::Span) {
    if let Some(trace_id) = trace_id_of(span) {
        span.record("trace_id", trace_id);
    }
}

/// The span's trace id (lower-case hex), if it has one: what a client quotes
/// as the `correlationId` of an internal error.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let trace_id = span.context().span().span_context().trace_id();
    (trace_id != opentelemetry::trace::TraceId::INVALID).then(|| trace_id.to_string())
}

/// The W3C headers (`traceparent`, `tracestate`) of a span's context.
fn context_headers(span: &tracing::Span) -> HashMap<String, String> {
    let context = span.context();
    let mut carrier = Headers(HashMap::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    carrier.0
}

/// Makes `span` a child of the context whose W3C headers `get` finds, if any.
fn set_parent_with(span: &tracing::Span, get: impl Fn(&str) -> Option<String>) {
    let carrier = Headers(
        ["traceparent", "tracestate"]
            .into_iter()
            .filter_map(|key| get(key).map(|value| (key.to_owned(), value)))
            .collect(),
    );
    if carrier.0.is_empty() {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(parent);
}

/// Writes the current span's context into `headers`.
pub fn inject_current(headers: &mut FieldTable) {
    for (key, value) in context_headers(&tracing::Span::current()) {
        crate::amqp::set_header(headers, &key, &value);
    }
}

/// Makes `span` a child of the context carried in AMQP `headers`, if any.
pub fn set_parent_from(span: &tracing::Span, headers: Option<&FieldTable>) {
    set_parent_with(span, |key| crate::amqp::header_str(headers, key));
}

/// Makes `span` a child of the context in HTTP `traceparent`/`tracestate` headers, if any.
pub fn set_parent_from_http(span: &tracing::Span, headers: &http::HeaderMap) {
    set_parent_with(span, |key| {
        headers
            .get(key)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
}

/// The W3C `traceparent` of `span`, to store and continue the trace later:
/// what the W3C propagator writes (version 00, only the sampled flag), made
/// directly, without a carrier map (the consumer may need one per command).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    traceparent_of_context(&span_context_of(span))
}

/// A span's OpenTelemetry context: a copy of its ids and flags, cheap to
/// keep until a [`traceparent_of_context`] is needed (or not).
pub fn span_context_of(span: &tracing::Span) -> opentelemetry::trace::SpanContext {
    use opentelemetry::trace::TraceContextExt;
    span.context().span().span_context().clone()
}

/// [`traceparent_of`] a span context kept earlier.
pub fn traceparent_of_context(span_context: &opentelemetry::trace::SpanContext) -> Option<String> {
    use opentelemetry::trace::TraceFlags;
    if !span_context.is_valid() {
        return None;
    }
    let flags = span_context.trace_flags() & TraceFlags::SAMPLED;
    Some(format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        flags.to_u8()
    ))
}

/// Makes `span` a child of a stored `traceparent`.
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    set_parent_with(span, |key| {
        (key == "traceparent").then(|| traceparent.to_owned())
    });
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn traceparent_is_what_the_w3c_propagator_writes() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("outer");
            super::set_parent_from_traceparent(
                &span,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            );
            let made = super::traceparent_of(&span).expect("a traceparent");
            let propagated = super::context_headers(&span).remove("traceparent");
            assert_eq!(Some(made.clone()), propagated);
            assert!(
                made.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{made}"
            );
        });
        assert_eq!(super::traceparent_of(&tracing::Span::none()), None);
    }
}

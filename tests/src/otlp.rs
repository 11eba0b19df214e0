//! A real OTLP/HTTP trace receiver: an axum server on 127.0.0.1 that accepts
//! `POST /v1/traces` (protobuf, as a collector does), decodes every span and
//! keeps it with the `service.name` of the process that sent it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

use crate::poll;

/// One span as a collector received it.
#[derive(Clone, Debug)]
pub struct ExportedSpan {
    pub service: String,
    pub name: String,
    /// Lower-case hex, as in a `traceparent`.
    pub trace_id: String,
    pub span_id: String,
    /// The span ids this span links to.
    pub links: Vec<String>,
    pub attributes: HashMap<String, String>,
    /// Resource attributes of the process that sent it.
    pub resource: HashMap<String, String>,
}

/// The collector: [`OtlpReceiver::endpoint`] is what `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (or `telemetry.otlp_endpoint`) points at.
pub struct OtlpReceiver {
    pub port: u16,
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind OTLP receiver");
        let port = listener.local_addr().expect("addr").port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let shared = spans.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let spans = shared.clone();
                async move {
                    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                        return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
                    };
                    spans.lock().unwrap().extend(decode(request));
                    let answer = ExportTraceServiceResponse::default().encode_to_vec();
                    (axum::http::StatusCode::OK, answer)
                }
            }),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OtlpReceiver { port, spans, task }
    }

    /// The base URL (the exporter appends `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until the spans of `trace_id` satisfy `done`; returns them.
    pub async fn wait_for_trace(
        &self,
        trace_id: &str,
        limit: Duration,
        done: impl Fn(&Vec<ExportedSpan>) -> bool,
    ) -> Vec<ExportedSpan> {
        let fetch = || async {
            self.spans()
                .into_iter()
                .filter(|s| s.trace_id == trace_id)
                .collect::<Vec<_>>()
        };
        poll(limit, fetch, done).await
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn decode(request: ExportTraceServiceRequest) -> Vec<ExportedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource.get("service.name").cloned().unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(ExportedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    links: span.links.iter().map(|l| hex(&l.span_id)).collect(),
                    attributes: attributes(&span.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

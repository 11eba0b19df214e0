//! One trace follows a request from HTTP through RabbitMQ into the worker.

use std::time::Duration;

use bv_e2e::{TestApp, init_telemetry, seed_request};
use opentelemetry::trace::TraceId;

#[tokio::test(flavor = "multi_thread")]
async fn one_trace_spans_the_ingress_and_the_worker() {
    let exporter = init_telemetry();
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;

    // The caller starts the trace; every span of the request must join it.
    let trace_id = TraceId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let response = app
        .post_with(
            &app.token("c1"),
            &seed_request(),
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(response.status(), 201);

    let wanted = [
        "POST /v2/biometric-validations",
        "publish ",
        "process ",
        "bv.db.persist_batch",
    ];
    let mut names = Vec::new();
    let mut found = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !found && tokio::time::Instant::now() < deadline {
        names = exporter
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace_id)
            .map(|s| s.name.to_string())
            .collect::<Vec<_>>();
        found = wanted
            .iter()
            .all(|w| names.iter().any(|n| n.starts_with(w)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "spans in the trace: {names:?}");
    let process = names.iter().find(|n| n.starts_with("process ")).unwrap();
    assert!(
        process.ends_with(&app.prefix.names().create_queue),
        "{process}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_delivery_attempt_joins_the_create_requests_trace() {
    let exporter = init_telemetry();
    let app = TestApp::spawn_with(bv_e2e::Options::dispatching()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let receiver = bv_e2e::Receiver::start().await;
    receiver.script([bv_e2e::Behavior::Status(500)]);

    let trace_id = TraceId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let mut body = seed_request();
    body["webhookUrl"] = serde_json::json!(receiver.url("/hook"));
    let response = app
        .post_with(&app.token("c1"), &body, &[("traceparent", &traceparent)])
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(receiver.wait_for(2, Duration::from_secs(10)).await.len(), 2);

    let mut attempts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while attempts.len() < 3 && tokio::time::Instant::now() < deadline {
        attempts = exporter
            .get_finished_spans()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace_id && s.name.starts_with("deliver "))
            .map(|s| s.name.to_string())
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The failed webhook attempt, its retry, and the email: all in the request's trace.
    assert!(
        attempts.iter().filter(|n| *n == "deliver webhook").count() >= 2,
        "{attempts:?}"
    );
    assert!(
        attempts.iter().any(|n| n == "deliver email"),
        "{attempts:?}"
    );
}

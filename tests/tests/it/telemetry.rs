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

/// Traces reach a real OTLP/HTTP collector from both processes: the ingress
/// configured by `telemetry.otlp_endpoint`, the worker by the standard
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and `OTEL_RESOURCE_ATTRIBUTES`.
#[tokio::test(flavor = "multi_thread")]
async fn traces_reach_a_real_otlp_collector_from_both_services() {
    use crate::support::{spawn, spawn_ingress};
    let collector = bv_e2e::otlp::OtlpReceiver::start().await;
    let app = TestApp::spawn_with(bv_e2e::Options::dispatching().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let receiver = bv_e2e::Receiver::start().await;
    // Export promptly instead of every 5 s.
    let quick = ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned());
    let _worker = spawn(
        env!("CARGO_BIN_EXE_e2e-bv-worker"),
        &app,
        &[],
        &[
            quick.clone(),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("{}/v1/traces", collector.endpoint()),
            ),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=e2e".to_owned(),
            ),
        ],
    );
    let port = bv_e2e::reserve_port();
    let _ingress = spawn_ingress(
        &app,
        port,
        &[("telemetry.otlp_endpoint", collector.endpoint())],
        &[quick],
    )
    .await;
    assert!(
        bv_e2e::eventually(Duration::from_secs(20), || async {
            app.consumers().await > 0
        })
        .await,
        "the worker process did not start consuming"
    );

    let trace_id = TraceId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let mut body = seed_request();
    body["webhookUrl"] = serde_json::json!(receiver.url("/hook"));
    let response = app
        .http
        .post(format!("http://127.0.0.1:{port}/v2/biometric-validations"))
        .bearer_auth(app.token("c1"))
        .header("traceparent", &traceparent)
        .json(&body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    assert_eq!(receiver.wait_for(1, Duration::from_secs(10)).await.len(), 1);

    let has = |spans: &Vec<bv_e2e::otlp::ExportedSpan>, service: &str, prefix: &str| {
        spans
            .iter()
            .any(|s| s.service == service && s.name.starts_with(prefix))
    };
    let complete = |spans: &Vec<bv_e2e::otlp::ExportedSpan>| {
        has(spans, "bv-ingress", "POST /v2/biometric-validations")
            && has(spans, "bv-ingress", "publish ")
            && has(spans, "bv-worker", "process ")
            && has(spans, "bv-worker", "bv.db.persist_batch")
            && has(spans, "bv-worker", "deliver email")
            && has(spans, "bv-worker", "deliver webhook")
    };
    let spans = collector
        .wait_for_trace(&trace_id.to_string(), Duration::from_secs(20), complete)
        .await;
    let names: Vec<_> = spans.iter().map(|s| (&s.service, &s.name)).collect();
    assert!(complete(&spans), "spans the collector got: {names:?}");
    let worker_span = spans.iter().find(|s| s.service == "bv-worker").unwrap();
    assert_eq!(
        worker_span
            .resource
            .get("deployment.environment.name")
            .map(String::as_str),
        Some("e2e"),
        "OTEL_RESOURCE_ATTRIBUTES is honoured"
    );
    // Both services name their release.
    for service in ["bv-ingress", "bv-worker"] {
        let span = spans.iter().find(|s| s.service == service).unwrap();
        assert_eq!(
            span.resource.get("service.version").map(String::as_str),
            Some(env!("CARGO_PKG_VERSION")),
            "{service}"
        );
    }

    // The semantic conventions an operator's backend understands.
    let named = |prefix: &str| spans.iter().find(|s| s.name.starts_with(prefix)).unwrap();
    let attr = |s: &bv_e2e::otlp::ExportedSpan, key: &str| {
        s.attributes.get(key).cloned().unwrap_or_default()
    };
    let exchange = app.prefix.names().commands_exchange;
    let publish = named("publish ");
    assert_eq!(attr(publish, "messaging.operation.type"), "send");
    assert_eq!(attr(publish, "messaging.destination.name"), exchange);
    let process = named("process ");
    assert_eq!(attr(process, "messaging.operation.type"), "process");
    assert_eq!(attr(process, "messaging.destination.name"), exchange);
    assert!(!attr(process, "messaging.rabbitmq.message.delivery_tag").is_empty());
    let batch = named("bv.db.persist_batch");
    assert_eq!(attr(batch, "db.system.name"), "postgresql");
    assert!(
        batch.links.contains(&process.span_id),
        "the batch links to its commands' spans"
    );
    let webhook = named("deliver webhook");
    assert_eq!(attr(webhook, "http.request.method"), "POST");
    assert_eq!(attr(webhook, "url.full"), receiver.url("/hook"));
    assert_eq!(attr(webhook, "server.address"), "127.0.0.1");
    assert_eq!(attr(webhook, "http.response.status_code"), "200");
}

/// A batch's database span links to every command's span, not only to the
/// first one's (whose child it is): each request's trace shows its commit.
#[tokio::test(flavor = "multi_thread")]
async fn the_batch_span_links_to_every_commands_span() {
    let exporter = init_telemetry();
    let app = TestApp::spawn_with(bv_e2e::Options::default().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    // Queued while no worker runs, so the worker takes them as one batch.
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = seed_request().as_object().unwrap().clone();
        body.insert("client".into(), serde_json::json!("c1"));
        body.insert("identifier".into(), serde_json::json!(format!("user-{i}")));
        let id = uuid::Uuid::now_v7().to_string();
        app.publish_raw(Some(&id), &serde_json::to_vec(&body).unwrap())
            .await;
        ids.push(id);
    }
    // One consumer: the queued commands cannot be spread over several.
    let mut overrides = app.overrides.clone();
    overrides.push(("worker.concurrency", "1".into()));
    let settings: bv_worker::Settings =
        bv_runtime::settings::load_from(bv_runtime::settings::DEFAULTS, None, Some(&overrides))
            .unwrap();
    let shutdown = bv_runtime::Shutdown::new();
    let worker = tokio::spawn(bv_worker::run(settings, shutdown.clone()));
    assert!(bv_e2e::eventually(Duration::from_secs(10), || async { app.count().await == 5 }).await);
    shutdown.trigger();
    let _ = worker.await;

    let spans = exporter.get_finished_spans().unwrap_or_default();
    let process: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.name.starts_with("process ") && s.name.ends_with(&app.prefix.names().create_queue)
        })
        .collect();
    assert_eq!(process.len(), 5);
    let linked: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "bv.db.persist_batch")
        .flat_map(|s| s.links.iter().map(|l| l.span_context.span_id()))
        .collect();
    for p in &process {
        assert!(
            linked.contains(&p.span_context.span_id()),
            "every command's span is linked from a batch span"
        );
    }
    let batches = spans
        .iter()
        .filter(|s| s.name == "bv.db.persist_batch")
        .count();
    assert!(
        batches < 5,
        "the commands were committed in batches ({batches} batch spans)"
    );
}

/// Logs into a file or a pipe are plain text: `make run` writes
/// var/ingress.log and var/worker.log, where colour codes are noise a person
/// reading them (or grep) trips over. At a terminal they stay coloured.
#[tokio::test(flavor = "multi_thread")]
async fn logs_written_to_a_pipe_carry_no_colour_codes() {
    use tokio::io::AsyncReadExt;
    let db = bv_e2e::TestDb::create().await.unwrap();
    let prefix = bv_e2e::TestPrefix::new();
    let port = bv_e2e::reserve_port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bv-ingress"));
    for (key, value) in bv_e2e::overrides(&db.url, &prefix.prefix) {
        command.env(bv_runtime::settings::env_var(key), value);
    }
    let mut ingress = command
        .env("BV__HTTP__ADDR", format!("127.0.0.1:{port}"))
        .env("BV__TELEMETRY__LOG_LEVEL", "info")
        .env("BV__TELEMETRY__LOG_FORMAT", "text")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = ingress.stdout.take().unwrap();
    let mut logs = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut chunk = [0u8; 4096];
        // Until the line saying it listens (info), whatever came before.
        while !String::from_utf8_lossy(&logs).contains("listening") {
            let n = stdout.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "bv-ingress exited: {}",
                String::from_utf8_lossy(&logs)
            );
            logs.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    ingress.start_kill().unwrap();
    let text = String::from_utf8_lossy(&logs);
    assert!(read.is_ok(), "no 'listening' line in 30 s: {text}");
    assert!(text.contains("INFO"), "{text}");
    assert!(!text.contains('\u{1b}'), "escape codes in {text:?}");
}

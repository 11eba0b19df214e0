//! `/metrics` as Prometheus scrapes it: OpenMetrics text with its own
//! content type, parsed by the reference parser (Python's
//! `prometheus_client`), with the latency histograms an operator graphs.

use std::time::Duration;

use bv_e2e::{Options, Receiver, TestApp, reserve_port, seed_request};
use serde_json::Value;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Fetches `url`, checks the content type, and parses the body with the
/// reference parser: its families as JSON.
pub(crate) async fn scrape(url: &str) -> Vec<Value> {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], OPENMETRICS, "{url}");
    let text = response.text().await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/metrics/parse_openmetrics.py");
    let mut child = tokio::process::Command::new(bv_e2e::python::python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client");
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    assert!(
        output.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The family `name`, which must exist and be of `kind`.
pub(crate) fn family<'a>(families: &'a [Value], name: &str, kind: &str) -> &'a Value {
    let f = families
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name}"));
    assert_eq!(f["type"], kind, "{name}");
    f
}

/// The value of `family`'s sample `sample` whose labels include `labels`.
pub(crate) fn sample(family: &Value, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    family["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["name"] == sample
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
        })
        .and_then(|s| s["value"].as_f64())
}

#[tokio::test(flavor = "multi_thread")]
async fn both_services_expose_openmetrics_with_latency_histograms() {
    let worker_port = reserve_port();
    let options =
        Options::dispatching().with("worker.http_addr", format!("127.0.0.1:{worker_port}"));
    let app = TestApp::spawn_with(options).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let receiver = Receiver::start().await;
    let mut body = seed_request();
    body["webhookUrl"] = serde_json::json!(receiver.url("/hook"));
    let id = app.create("c1", &body).await;
    app.settled_deliveries("c1", &id, Duration::from_secs(10))
        .await;

    let ingress = scrape(&format!("{}/metrics", app.base_url)).await;
    let requests = family(&ingress, "bv_ingress_http_requests", "counter");
    let create = [
        ("route", "/v2/biometric-validations"),
        ("method", "POST"),
        ("status", "201"),
    ];
    assert_eq!(
        sample(requests, "bv_ingress_http_requests_total", &create),
        Some(1.0)
    );
    let latency = family(
        &ingress,
        "bv_ingress_http_request_duration_seconds",
        "histogram",
    );
    assert_eq!(
        sample(
            latency,
            "bv_ingress_http_request_duration_seconds_count",
            &create
        ),
        Some(1.0)
    );
    let wait = family(&ingress, "bv_ingress_reply_wait_seconds", "histogram");
    assert_eq!(
        sample(
            wait,
            "bv_ingress_reply_wait_seconds_count",
            &[("result", "answered")]
        ),
        Some(1.0)
    );
    family(&ingress, "bv_ingress_creates", "counter");

    let worker = scrape(&format!("http://127.0.0.1:{worker_port}/metrics")).await;
    let commit = family(&worker, "bv_worker_batch_commit_seconds", "histogram");
    assert!(sample(commit, "bv_worker_batch_commit_seconds_count", &[]).unwrap() >= 1.0);
    let attempts = family(
        &worker,
        "bv_worker_delivery_attempt_duration_seconds",
        "histogram",
    );
    for channel in ["email", "webhook"] {
        assert_eq!(
            sample(
                attempts,
                "bv_worker_delivery_attempt_duration_seconds_count",
                &[("channel", channel), ("outcome", "succeeded")]
            ),
            Some(1.0),
            "{channel}"
        );
    }
    family(&worker, "bv_worker_commands", "counter");
    family(&worker, "bv_worker_delivery_backlog", "gauge");
    // The expiry sweep ran through at start: its time is set (an alert watches it).
    let swept = family(
        &worker,
        "bv_worker_expiry_sweep_last_success_timestamp_seconds",
        "gauge",
    );
    let at = sample(
        swept,
        "bv_worker_expiry_sweep_last_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(at > 1.7e9, "{at}");

    // Both name the release and commit they were built from.
    let built = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("commit", bv_runtime::build_info::COMMIT),
    ];
    for families in [&ingress, &worker] {
        let info = family(families, "bv_build_info", "gauge");
        assert_eq!(sample(info, "bv_build_info", &built), Some(1.0));
        assert_eq!(info["samples"].as_array().unwrap().len(), 1);
    }
}

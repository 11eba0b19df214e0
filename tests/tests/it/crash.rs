//! Crash safety: a worker killed with SIGKILL mid-stream loses nothing and
//! duplicates nothing once it is started again.

use std::time::Duration;

use bv_e2e::{AMQP_URL, TestApp, count_rows, eventually, publish_create, seed_request};
use lapin::options::ConfirmSelectOptions;
use lapin::{Connection, ConnectionProperties};
use serde_json::json;

use crate::support::spawn_worker;

/// Small batches so the kill lands between commits.
fn small_batches() -> Vec<(&'static str, String)> {
    vec![
        ("worker.batch_size", "2".into()),
        ("worker.prefetch", "10".into()),
        ("worker.concurrency", "1".into()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_stream_persists_every_command_exactly_once_after_restart() {
    const N: usize = 400;
    let app = TestApp::spawn_with(bv_e2e::Options::default().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;

    // Publish every command first (confirmed), then let the worker drain them.
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let names = app.prefix.names();
    let mut ids = Vec::with_capacity(N);
    let mut confirms = Vec::with_capacity(N);
    for i in 0..N {
        let mut body = seed_request().as_object().unwrap().clone();
        body.insert("client".into(), json!("c1"));
        body.insert("identifier".into(), json!(format!("user-{i}")));
        let id = uuid::Uuid::now_v7().to_string();
        let body = serde_json::to_vec(&body).unwrap();
        confirms.push(
            publish_create(&ch, &names, Some(&id), &body, false)
                .await
                .unwrap(),
        );
        ids.push(id);
    }
    for c in confirms {
        assert!(c.await.unwrap().is_ack());
    }
    let _ = conn.close(200, "bye".into()).await;

    let mut worker = spawn_worker(&app, &small_batches());
    // Kill it once some, but not all, are stored.
    assert!(
        eventually(Duration::from_secs(30), || async {
            app.count().await >= 20
        })
        .await
    );
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    let at_kill = app.count().await;
    assert!(
        at_kill < N as u64,
        "killed mid-stream ({at_kill} of {N} stored)"
    );

    let mut worker = spawn_worker(&app, &small_batches());
    let all = eventually(Duration::from_secs(60), || async {
        app.count().await >= N as u64
    })
    .await;
    // Let any redelivered duplicates arrive before counting again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    assert!(all, "every command is persisted after restart");
    assert_eq!(app.count().await, N as u64, "exactly once");
    // The outbox is where a redelivered command could have doubled something.
    assert_eq!(
        count_rows(&app.db, "deliveries").await,
        2 * N as u64,
        "one email and one webhook per validation, none twice"
    );
    let distinct = count_rows(
        &app.db,
        "(SELECT DISTINCT identifier FROM biometric_validations) d",
    )
    .await;
    assert_eq!(distinct, N as u64);
    for id in [&ids[0], &ids[N / 2], &ids[N - 1]] {
        let path = format!("/v2/biometric-validations/{id}");
        assert_eq!(app.get(&app.token("c1"), &path).await.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_setting_stops_the_worker_at_start_naming_it() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bv-worker"))
        .env("BV__WORKER__PREFETCH", "0")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BV__WORKER__PREFETCH"), "{stderr}");

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bv-worker"))
        .env("BV__AMQP__URL", "http://localhost")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("BV__AMQP__URL"));

    // Without a signing key, it says how to make one.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bv-worker"))
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BV__BIOMETRICS__SIGNING_KEYS") && stderr.contains("bvctl keys generate"),
        "{stderr}"
    );

    // A misspelt section, or a misspelt key, is not silently ignored.
    for (var, named) in [
        ("BV__WORKR__CONCURRENCY", "BV__WORKR__CONCURRENCY"),
        ("BV__WORKER__CONCURENCY", "concurency"),
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bv-worker"))
            .env(var, "4")
            .output()
            .await
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{var}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_worker_cleanly_and_returns_its_messages() {
    let app = TestApp::spawn_with(bv_e2e::Options::dispatching().without_worker()).await;
    let port = bv_e2e::reserve_port();
    let settings = vec![("worker.http_addr", format!("127.0.0.1:{port}"))];
    let mut worker = spawn_worker(&app, &settings);
    assert!(
        eventually(Duration::from_secs(20), || async {
            app.consumers().await > 0
        })
        .await
    );

    // Its operational endpoints answer while it runs.
    let get = |path: &'static str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        async move { reqwest::get(url).await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    assert!(
        eventually(Duration::from_secs(5), || async {
            get("/readyz").await.status() == 200
        })
        .await
    );
    let metrics = get("/metrics").await.text().await.unwrap();
    for name in [
        "bv_worker_commands_total{outcome=\"created\"} 0",
        "bv_worker_delivery_attempts_total{channel=\"webhook\",outcome=\"failed\"} 0",
        "bv_worker_delivery_backlog 0",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
    let pid = worker.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), worker.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.consumers().await == 0
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_while_deciding_records_every_attempt_exactly_once() {
    const N: usize = 200;
    // The in-process worker creates; only the spawned one decides.
    let app =
        TestApp::spawn_with(bv_e2e::Options::default().with("worker.biometrics", "false")).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    // Verifik's single-image body: a passive flow.
    app.make_passive("flow_123456789").await;
    let mut validations = Vec::with_capacity(N);
    for i in 0..N {
        let mut body = seed_request();
        body["identifier"] = json!(format!("user-{i}"));
        body["sendViaEmail"] = json!(false);
        body.as_object_mut().unwrap().remove("email");
        body.as_object_mut().unwrap().remove("webhookUrl");
        validations.push(app.create("c1", &body).await);
    }

    // One confirmed validate command per validation, as the ingress sends them.
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let names = app.prefix.names();
    let image = bv_e2e::journey::jpeg();
    let mut confirms = Vec::with_capacity(N);
    for id in &validations {
        let body = json!({"validation": id, "os": "android", "frames": [{"image": image}]});
        let props = lapin::BasicProperties::default()
            .with_message_id(uuid::Uuid::now_v7().to_string().into())
            .with_type(bv_contract::amqp::VALIDATE_MESSAGE_TYPE.into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        confirms.push(
            ch.basic_publish(
                names.commands_exchange.as_str().into(),
                bv_contract::amqp::VALIDATE_ROUTING_KEY.into(),
                lapin::options::BasicPublishOptions::default(),
                &serde_json::to_vec(&body).unwrap(),
                props,
            )
            .await
            .unwrap(),
        );
    }
    for c in confirms {
        assert!(c.await.unwrap().is_ack());
    }
    let _ = conn.close(200, "bye".into()).await;

    let deciding = [
        ("worker.biometrics", "true".to_owned()),
        ("worker.biometrics_concurrency", "1".to_owned()),
    ];
    let attempts = || count_rows(&app.db, "validation_attempts");
    let mut worker = spawn_worker(&app, &deciding);
    assert!(eventually(Duration::from_secs(30), || async { attempts().await >= 10 }).await);
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    let at_kill = attempts().await;
    assert!(
        at_kill < N as u64,
        "killed mid-stream ({at_kill} of {N} decided)"
    );

    let mut worker = spawn_worker(&app, &deciding);
    let all = eventually(Duration::from_secs(60), || async {
        attempts().await >= N as u64
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    assert!(all, "every validate command is decided after restart");
    assert_eq!(attempts().await, N as u64, "no attempt recorded twice");
    let validated = count_rows(
        &app.db,
        "(SELECT id FROM biometric_validations WHERE status = 'validated' AND attempts = 1) v",
    )
    .await;
    assert_eq!(validated, N as u64, "each validation moved once");
}

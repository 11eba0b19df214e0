//! Webhook delivery: signing, retries with backoff, give-up rules, the SSRF
//! guard, the operator surface and secret rotation.

use std::time::Duration;

use bv_contract::webhook::verify;
use bv_e2e::{Behavior, Options, Receiver, TestApp, eventually, reserve_port, seed_request};
use serde_json::{Value, json};

const CLIENT: &str = "client_123456789";

/// The seed's request with the webhook pointed at `url`, no email.
fn request_to(url: &str) -> Value {
    let mut body = seed_request();
    body["webhookUrl"] = json!(url);
    body["sendViaEmail"] = json!(false);
    body.as_object_mut().unwrap().remove("email");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_validation_sends_one_webhook_signed_with_the_project_secret() {
    let app = TestApp::spawn_with(Options::dispatching()).await;
    let project = app.seed_project(CLIENT, "project_123456789").await;
    app.seed_flow("project_123456789", "flow_123456789", "login", "active")
        .await;
    let receiver = Receiver::start().await;

    let id = app
        .create(CLIENT, &request_to(&receiver.url("/hooks/bv")))
        .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "one webhook");
    let hook = &got[0];

    let webhook_id = hook.header("webhook-id");
    let timestamp: i64 = hook.header("webhook-timestamp").parse().unwrap();
    assert!(webhook_id.starts_with("msg_"));
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert!(verify(
        &project.webhook_secret,
        webhook_id,
        timestamp,
        hook.body.as_bytes(),
        hook.header("webhook-signature")
    ));
    assert!(!verify(
        &bv_store::secrets::webhook_secret(),
        webhook_id,
        timestamp,
        hook.body.as_bytes(),
        hook.header("webhook-signature")
    ));
    assert_eq!(hook.header("content-type"), "application/json");
    assert!(hook.header("user-agent").starts_with("bv-worker/"));

    let event: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(event["type"], "biometric_validation.created");
    assert!(event["timestamp"].as_str().is_some());
    let fetched: Value = app
        .get(
            &app.token(CLIENT),
            &format!("/v2/biometric-validations/{id}"),
        )
        .await
        .json()
        .await
        .unwrap();
    // The seed's fields; the client's GET adds the page's session and attempts.
    let mut seed_fields = fetched["data"].clone();
    for extra in ["token", "url", "attempts"] {
        seed_fields.as_object_mut().unwrap().remove(extra);
    }
    assert_eq!(
        event["data"], seed_fields,
        "data is the validation as the API returns it"
    );

    let deliveries = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(5))
        .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["status"], "succeeded");
    assert_eq!(deliveries[0]["webhookId"], webhook_id);
    assert_eq!(deliveries[0]["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_fails_then_recovers_gets_the_webhook_with_growing_delays_and_one_id() {
    let app = TestApp::spawn_with(Options::dispatching()).await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;
    // Nothing listens yet: the first attempts are refused connections.
    let port = reserve_port();
    let id = app
        .create(
            CLIENT,
            &request_to(&format!("http://127.0.0.1:{port}/hook")),
        )
        .await;
    let refused = eventually(Duration::from_secs(10), || async {
        let d = app.deliveries(CLIENT, &id).await;
        d[0]["attempts"].as_i64().unwrap_or(0) >= 2
    })
    .await;
    assert!(refused, "retried while the receiver was down");

    // Up again, but failing: a 500, then a response slower than the 1 s timeout, then 200.
    let receiver = Receiver::start_on(port).await;
    receiver.script([
        Behavior::Status(500),
        Behavior::Hang(Duration::from_secs(3)),
    ]);
    let got = receiver.wait_for(3, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 3);
    assert!(got[2].succeeded());
    let ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one webhook-id across retries: {ids:?}"
    );

    let deliveries = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(5))
        .await;
    let d = &deliveries[0];
    assert_eq!(d["status"], "succeeded");
    let history = d["history"].as_array().unwrap();
    assert!(history.len() >= 5, "{history:?}");
    assert!(
        history[..history.len() - 3]
            .iter()
            .all(|a| a["error"].as_str().unwrap().contains("connection"))
    );
    assert_eq!(history[history.len() - 3]["responseStatus"], 500);
    assert!(
        history[history.len() - 2]["error"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
    assert_eq!(history.last().unwrap()["outcome"], "succeeded");

    // The pause after each failed attempt grows (200 ms doubling, with jitter, capped at 2 s).
    let times: Vec<(chrono::DateTime<chrono::Utc>, i64)> = history
        .iter()
        .map(|a| {
            (
                a["startedAt"].as_str().unwrap().parse().unwrap(),
                a["durationMs"].as_i64().unwrap(),
            )
        })
        .collect();
    let pauses: Vec<i64> = times
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).num_milliseconds() - w[0].1)
        .collect();
    assert!(
        pauses[0] >= 180,
        "first retry after about 200 ms or more: {pauses:?}"
    );
    for w in pauses.windows(2) {
        assert!(w[1] + 60 >= w[0], "pauses do not shrink: {pauses:?}");
    }
    assert!(
        pauses.iter().all(|p| *p <= 2300),
        "capped at 2 s: {pauses:?}"
    );
    assert!(pauses.last() > pauses.first(), "pauses grow: {pauses:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gone_stops_at_once_and_retry_after_is_honoured() {
    let app = TestApp::spawn_with(Options::dispatching()).await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;

    let gone = Receiver::start().await;
    gone.set_default(Behavior::Status(410));
    let id = app.create(CLIENT, &request_to(&gone.url("/gone"))).await;
    let d = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(5))
        .await;
    assert_eq!(d[0]["status"], "failed");
    assert_eq!(d[0]["attempts"], 1);
    assert!(d[0]["lastError"].as_str().unwrap().contains("410"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gone.received().len(), 1, "no retry after 410");

    let busy = Receiver::start().await;
    busy.script([Behavior::RetryAfter(503, 2)]);
    let id = app.create(CLIENT, &request_to(&busy.url("/busy"))).await;
    let got = busy.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(1950),
        "Retry-After: 2 honoured, waited {waited:?}"
    );
    let d = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(5))
        .await;
    assert_eq!(d[0]["status"], "succeeded");
    assert_eq!(d[0]["history"][0]["responseStatus"], 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_past_its_lifetime_fails_and_can_be_redelivered_through_the_api() {
    let app = TestApp::spawn_with(Options::dispatching().with("delivery.max_age", "1s")).await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;
    let receiver = Receiver::start().await;
    receiver.set_default(Behavior::Status(500));
    let id = app
        .create(CLIENT, &request_to(&receiver.url("/down")))
        .await;

    let d = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(10))
        .await;
    assert_eq!(d[0]["status"], "failed", "gave up after its lifetime");
    assert!(d[0]["attempts"].as_i64().unwrap() >= 2);
    assert_eq!(d[0]["nextAttemptAt"], Value::Null);
    let attempts_before = receiver.received().len();
    let first_id = receiver.received()[0].header("webhook-id").to_owned();

    // The operator finds it…
    let listed = crate::support::bvctl()
        .args(["deliveries", "list", "--status", "failed", "--json"])
        .env("BV__DATABASE__URL", &app.test_db.url)
        .output()
        .await
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["_id"], d[0]["_id"]);

    // …the receiver is fixed, and the integrator asks for it again.
    receiver.set_default(Behavior::Status(200));
    let delivery_id = d[0]["_id"].as_str().unwrap();
    let other = app.redeliver("someone_else", &id, delivery_id).await;
    assert_eq!(other.status(), 404, "only the owner may redeliver");
    let response = app.redeliver(CLIENT, &id, delivery_id).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["status"], "pending");

    let got = receiver
        .wait_for(attempts_before + 1, Duration::from_secs(10))
        .await;
    assert!(got.last().unwrap().succeeded());
    assert_eq!(
        got.last().unwrap().header("webhook-id"),
        first_id,
        "same webhook-id"
    );
    let d = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(5))
        .await;
    assert_eq!(d[0]["status"], "succeeded");

    let unknown = app
        .redeliver(CLIENT, &id, &uuid::Uuid::now_v7().to_string())
        .await;
    assert_eq!(unknown.status(), 404);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(unknown["code"], "DELIVERY_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_to_a_loopback_address_is_refused_unless_allow_listed() {
    let app = TestApp::spawn_with(Options::dispatching().with("webhooks.allowed_cidrs", "")).await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url("/hook"),
        format!("http://localhost:{}/hook", receiver.port),
        // A private address: refused before any connection is attempted.
        "http://10.255.255.1/hook".to_owned(),
    ] {
        let id = app.create(CLIENT, &request_to(&url)).await;
        let d = app
            .settled_deliveries(CLIENT, &id, Duration::from_secs(5))
            .await;
        assert_eq!(d[0]["status"], "failed", "{url}");
        assert_eq!(d[0]["attempts"], 1);
        let error = d[0]["lastError"].as_str().unwrap();
        assert!(
            error.contains("non-public")
                && (error.contains("127.0.0.1") || error.contains("10.255.255.1")),
            "{error}"
        );
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reached the private address"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_project_default_webhook_url_is_used_and_a_rotated_secret_keeps_signing() {
    let app = TestApp::spawn_with(Options::dispatching()).await;
    let receiver = Receiver::start().await;
    let project = bv_store::projects::create(
        &app.db,
        bv_store::projects::NewProject {
            id: Some("project_123456789".into()),
            client: CLIENT.into(),
            name: "with a default webhook".into(),
            webhook_url: Some(receiver.url("/default")),
            engine: Some(bv_contract::EngineKind::Sandbox),
            keep_images_days: None,
            embed_origins: Vec::new(),
        },
    )
    .await
    .unwrap();
    app.seed_flow("project_123456789", "flow_123456789", "login", "active")
        .await;
    let old_secret = project.webhook_secret.clone();

    // Rotation through bvctl: the new secret is printed once.
    let rotated = crate::support::bvctl()
        .args([
            "--json",
            "project",
            "rotate-secret",
            "project_123456789",
            "--overlap",
            "1h",
        ])
        .env("BV__DATABASE__URL", &app.test_db.url)
        .output()
        .await
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotated: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let new_secret = rotated["webhookSecret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);

    let mut body = request_to("http://unused.invalid/");
    body.as_object_mut().unwrap().remove("webhookUrl");
    app.create(CLIENT, &body).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "sent to the project's default URL");
    let hook = &got[0];
    let (id, ts, sig) = (
        hook.header("webhook-id"),
        hook.header("webhook-timestamp").parse().unwrap(),
        hook.header("webhook-signature"),
    );
    assert_eq!(
        sig.split(' ').count(),
        2,
        "one signature per live secret: {sig}"
    );
    assert!(verify(&new_secret, id, ts, hook.body.as_bytes(), sig));
    assert!(verify(&old_secret, id, ts, hook.body.as_bytes(), sig));
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_are_visible_only_to_their_client() {
    let app = TestApp::spawn().await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;
    let id = app.create(CLIENT, &seed_request()).await;
    let mine = app.deliveries(CLIENT, &id).await;
    let channels: Vec<&str> = mine
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(
        channels,
        vec!["email", "webhook"],
        "one email and one webhook planned"
    );
    assert!(
        mine.iter().all(|d| d["status"] == "pending"),
        "this worker does not dispatch"
    );
    let theirs = app
        .get(
            &app.token("someone_else"),
            &format!("/v2/biometric-validations/{id}/deliveries"),
        )
        .await;
    assert_eq!(theirs.status(), 404);
}

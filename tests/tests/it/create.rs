//! The create path over HTTP: the seed's example, reads, idempotency, async mode.

use bv_e2e::{TestApp, seed_request};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_example_returns_201_with_the_seed_response_and_get_returns_it() {
    let app = TestApp::spawn().await;
    app.seed(
        "client_123456789",
        "project_123456789",
        "flow_123456789",
        "login",
    )
    .await;
    let token = app.token("client_123456789");

    let response = app.post(&token, &seed_request()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    let data = &body["data"];

    // Every field of the seed's response example is present.
    let expected_keys = [
        "_id",
        "client",
        "project",
        "projectFlow",
        "status",
        "identifier",
        "type",
        "expiresAt",
        "redirectUrl",
        "webhookUrl",
        "requires2FA",
        "ipAddress",
        "sendViaEmail",
        "email",
        "language",
        "createdAt",
        "updatedAt",
        // Added after the seed's fields: the hosted page's session.
        "token",
        "url",
    ];
    let keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys, expected_keys,
        "the seed's fields in its order, then the session"
    );

    let request = seed_request();
    for field in [
        "project",
        "projectFlow",
        "identifier",
        "type",
        "expiresAt",
        "redirectUrl",
        "webhookUrl",
        "requires2FA",
        "ipAddress",
        "sendViaEmail",
        "email",
        "language",
    ] {
        assert_eq!(data[field], request[field], "{field} echoes the request");
    }
    assert_eq!(data["status"], "new");
    assert_eq!(data["client"], "client_123456789");
    let id = data["_id"].as_str().unwrap();
    let uuid = uuid::Uuid::parse_str(id).expect("_id is a UUID");
    assert_eq!(uuid.get_version_num(), 7, "_id is a UUIDv7");
    for ts in ["createdAt", "updatedAt"] {
        let t = data[ts].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with('Z'),
            "{ts} = {t}"
        );
    }

    let fetched = app
        .get(&token, &format!("/v2/biometric-validations/{id}"))
        .await;
    assert_eq!(fetched.status(), 200);
    let fetched: Value = fetched.json().await.unwrap();
    // The same object, with its attempts (none yet).
    let mut expected = body.clone();
    expected["data"]["attempts"] = serde_json::json!([]);
    assert_eq!(fetched, expected, "GET returns the same object");
    assert_eq!(app.count().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_yields_the_same_id_and_a_different_body_is_422() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let token = app.token("c1");
    let key = [("Idempotency-Key", "order-42")];

    let first = app.post_with(&token, &seed_request(), &key).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let second = app.post_with(&token, &seed_request(), &key).await;
    assert_eq!(second.status(), 201);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["data"]["_id"], first["data"]["_id"]);
    assert_eq!(second, first, "a retry returns the original validation");

    let mut other = seed_request();
    other["identifier"] = json!("someone-else");
    let reused = app.post_with(&token, &other, &key).await;
    assert_eq!(reused.status(), 422);
    let reused: Value = reused.json().await.unwrap();
    assert_eq!(reused["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.count().await, 1);

    // The same key from another client is another validation.
    app.seed("c2", "project_2", "flow_2", "login").await;
    let mut theirs = seed_request();
    theirs["project"] = json!("project_2");
    theirs["projectFlow"] = json!("flow_2");
    let response = app.post_with(&app.token("c2"), &theirs, &key).await;
    assert_eq!(response.status(), 201);
    let theirs: Value = response.json().await.unwrap();
    assert_ne!(theirs["data"]["_id"], first["data"]["_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn prefer_respond_async_answers_202_with_a_location_that_resolves() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "onboarding")
        .await;
    let token = app.token("c1");

    let response = app
        .post_with(&token, &seed_request(), &[("Prefer", "respond-async")])
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["status"], "queued");
    let id = body["data"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v2/biometric-validations/{id}"));

    let found = bv_e2e::eventually(std::time::Duration::from_secs(10), || async {
        app.get(&token, &location).await.status() == 200
    })
    .await;
    assert!(found, "the queued validation is persisted and readable");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_worker_the_request_is_accepted_with_202_after_the_timeout() {
    let app = TestApp::spawn_with(
        bv_e2e::Options::default()
            .without_worker()
            .with("ingress.reply_timeout", "300ms"),
    )
    .await;
    let token = app.token("c1");
    let response = app.post(&token, &seed_request()).await;
    assert_eq!(
        response.status(),
        202,
        "confirmed by the broker, answer late"
    );
    assert!(response.headers().contains_key("location"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broker_that_is_unreachable_gives_503_with_retry_after() {
    let app = TestApp::spawn_with(bv_e2e::Options::default().without_worker()).await;
    // A second ingress whose broker URL points at a closed port.
    let mut overrides = app.overrides.clone();
    overrides.push(("amqp.url", "amqp://guest:guest@127.0.0.1:1/%2f".into()));
    let settings: bv_ingress::Settings =
        bv_runtime::settings::load_from(bv_runtime::settings::DEFAULTS, None, Some(&overrides))
            .unwrap();
    let shutdown = bv_runtime::Shutdown::new();
    let ingress = bv_ingress::Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let base = format!("http://{}", ingress.local_addr().unwrap());
    let task = tokio::spawn(ingress.run());

    let response = app
        .http
        .post(format!("{base}/v2/biometric-validations"))
        .bearer_auth(app.token("c1"))
        .json(&seed_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");

    let health = app
        .http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the broker"
    );
    let ready = app.http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    shutdown.trigger();
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_expired_while_queued_is_stored_as_expired() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let mut request = seed_request();
    request["expiresAt"] = json!("2020-01-01T00:00:00Z");
    let mut body = request.as_object().unwrap().clone();
    body.insert("client".into(), json!("c1"));
    let id = uuid::Uuid::now_v7().to_string();
    app.publish_raw(Some(&id), &serde_json::to_vec(&body).unwrap())
        .await;

    let token = app.token("c1");
    let path = format!("/v2/biometric-validations/{id}");
    assert!(
        bv_e2e::eventually(std::time::Duration::from_secs(10), || async {
            app.get(&token, &path).await.status() == 200
        })
        .await
    );
    let got: Value = app.get(&token, &path).await.json().await.unwrap();
    assert_eq!(got["data"]["status"], "expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validation_left_new_past_its_expiry_becomes_expired() {
    let app = TestApp::spawn_with(
        bv_e2e::Options::default().with("worker.expiry_sweep_interval", "200ms"),
    )
    .await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let token = app.token("c1");
    let mut request = seed_request();
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    request["expiresAt"] = json!(soon.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let created: Value = app.post(&token, &request).await.json().await.unwrap();
    assert_eq!(created["data"]["status"], "new");
    let path = format!(
        "/v2/biometric-validations/{}",
        created["data"]["_id"].as_str().unwrap()
    );
    let expired = bv_e2e::eventually(std::time::Duration::from_secs(10), || async {
        let got: Value = app.get(&token, &path).await.json().await.unwrap();
        got["data"]["status"] == "expired"
    })
    .await;
    assert!(expired, "the sweep marks it expired");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_retry_after_the_originals_expiry_returns_the_original() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let token = app.token("c1");
    let key = [("Idempotency-Key", "short-lived")];
    let mut request = seed_request();
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    request["expiresAt"] = json!(soon.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));

    let first = app.post_with(&token, &request, &key).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;

    let retry = app.post_with(&token, &request, &key).await;
    assert_eq!(
        retry.status(),
        201,
        "a retry, not a new request with a past expiresAt"
    );
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["data"]["_id"], first["data"]["_id"]);

    let mut other = request.clone();
    other["identifier"] = json!("someone-else");
    let reused = app.post_with(&token, &other, &key).await;
    assert_eq!(reused.status(), 422);
    // Without the key, a past expiresAt is still an error.
    let fresh = app.post(&token, &request).await;
    assert_eq!(fresh.status(), 400);
    assert_eq!(app.count().await, 1);
}

//! Every error path answers with its code (and the field, where one is at fault).

use bv_e2e::{TestApp, seed_request, token, token_signed};
use serde_json::{Value, json};

async fn expect(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], code, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    body
}

fn with(field: &str, value: Value) -> Value {
    let mut v = seed_request();
    v[field] = value;
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn database_rules_reject_bad_projects_and_flows() {
    let app = TestApp::spawn().await;
    app.seed("client_a", "project_123456789", "flow_123456789", "login")
        .await;
    app.seed_flow("project_123456789", "flow_paused", "login", "paused")
        .await;
    app.seed_flow("project_123456789", "flow_draft", "login", "draft")
        .await;
    app.seed_flow(
        "project_123456789",
        "flow_onboarding",
        "onboarding",
        "active",
    )
    .await;
    app.seed("client_b", "project_b", "flow_b", "login").await;
    app.seed("client_a", "project_a2", "flow_a2", "login").await;
    let t = app.token("client_a");

    // A deactivated project takes no new validations, even with an active flow.
    app.seed("client_a", "project_inactive", "flow_inactive", "login")
        .await;
    bv_store::projects::set_status(
        &app.db,
        "project_inactive",
        bv_contract::ProjectStatus::Inactive,
    )
    .await
    .unwrap();
    let mut inactive = seed_request();
    inactive["project"] = json!("project_inactive");
    inactive["projectFlow"] = json!("flow_inactive");
    let err = expect(app.post(&t, &inactive).await, 400, "INVALID_PROJECT").await;
    assert_eq!(err["field"], "project");

    let cases = [
        (
            with("project", json!("project_unknown")),
            "INVALID_PROJECT",
            "project",
        ),
        (
            with("project", json!("project_b")),
            "INVALID_PROJECT",
            "project",
        ),
        (
            with("projectFlow", json!("flow_unknown")),
            "INVALID_PROJECT_FLOW",
            "projectFlow",
        ),
        (
            with("projectFlow", json!("flow_b")),
            "INVALID_PROJECT_FLOW",
            "projectFlow",
        ),
        (
            with("projectFlow", json!("flow_a2")),
            "INVALID_PROJECT_FLOW",
            "projectFlow",
        ),
        (
            with("projectFlow", json!("flow_paused")),
            "INVALID_PROJECT_FLOW",
            "projectFlow",
        ),
        (
            with("projectFlow", json!("flow_draft")),
            "INVALID_PROJECT_FLOW",
            "projectFlow",
        ),
    ];
    for (body, code, field) in cases {
        let err = expect(app.post(&t, &body).await, 400, code).await;
        assert_eq!(err["field"], field);
    }

    // Type fit: login needs a login flow, onboarding an onboarding flow.
    let mut login_on_onboarding = with("projectFlow", json!("flow_onboarding"));
    login_on_onboarding["type"] = json!("login");
    let err = expect(
        app.post(&t, &login_on_onboarding).await,
        400,
        "INVALID_PROJECT_FLOW",
    )
    .await;
    assert!(err["error"].as_str().unwrap().contains("login"), "{err}");
    let mut onboarding_on_login = seed_request();
    onboarding_on_login["type"] = json!("onboarding");
    expect(
        app.post(&t, &onboarding_on_login).await,
        400,
        "INVALID_PROJECT_FLOW",
    )
    .await;
    // validation and oneTimeLink take either type.
    for kind in ["validation", "oneTimeLink"] {
        let mut ok = with("projectFlow", json!("flow_onboarding"));
        ok["type"] = json!(kind);
        assert_eq!(app.post(&t, &ok).await.status(), 201, "{kind}");
    }
    assert_eq!(app.count().await, 2, "nothing else was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_fields_are_named() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let t = app.token("c1");

    for field in ["project", "projectFlow", "identifier", "type"] {
        let mut missing = seed_request();
        missing.as_object_mut().unwrap().remove(field);
        let err = expect(app.post(&t, &missing).await, 400, "MISSING_FIELD").await;
        assert_eq!(err["field"], field);
    }

    for (field, value) in [
        ("type", json!("selfie")),
        ("expiresAt", json!("next week")),
        ("expiresAt", json!("2001-01-01T00:00:00Z")),
        ("redirectUrl", json!("not a url")),
        ("webhookUrl", json!("ftp://example.com/hook")),
        ("requires2FA", json!("yes")),
        ("ipAddress", json!("300.1.1.1")),
        ("sendViaEmail", json!("true")),
        ("email", json!("nobody")),
        ("language", json!("de")),
        ("project", json!("")),
    ] {
        let err = expect(
            app.post(&t, &with(field, value)).await,
            400,
            "INVALID_FIELD",
        )
        .await;
        assert_eq!(err["field"], field);
    }

    let mut no_email = seed_request();
    no_email.as_object_mut().unwrap().remove("email");
    let err = expect(app.post(&t, &no_email).await, 400, "EMAIL_REQUIRED").await;
    assert_eq!(err["field"], "email");

    let err = expect(
        app.post(&t, &with("projectflow", json!("flow_123456789")))
            .await,
        400,
        "UNKNOWN_FIELD",
    )
    .await;
    assert_eq!(err["field"], "projectflow");
    assert!(err["error"].as_str().unwrap().contains("projectflow"));

    let malformed = app
        .http
        .post(format!("{}/v2/biometric-validations", app.base_url))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"project\": ")
        .send()
        .await
        .unwrap();
    expect(malformed, 400, "INVALID_JSON").await;
    assert_eq!(app.count().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_expired_and_forged_tokens_are_401() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let url = format!("{}/v2/biometric-validations", app.base_url);

    let none = app
        .http
        .post(&url)
        .json(&seed_request())
        .send()
        .await
        .unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    expect(none, 401, "UNAUTHORIZED").await;

    let expired = app.post(&token("c1", -3600), &seed_request()).await;
    let err = expect(expired, 401, "UNAUTHORIZED").await;
    assert!(err["error"].as_str().unwrap().contains("expired"));

    let forged = token_signed("c1", 3600, "another-secret-of-at-least-32-characters!!");
    let err = expect(
        app.post(&forged, &seed_request()).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
    assert!(err["error"].as_str().unwrap().contains("signature"));

    let garbage = app.post("not.a.jwt", &seed_request()).await;
    expect(garbage, 401, "UNAUTHORIZED").await;

    let read = app
        .get(&token("c1", -3600), "/v2/biometric-validations")
        .await;
    expect(read, 401, "UNAUTHORIZED").await;
    assert_eq!(app.count().await, 0);
}

//! The API document against the service (issue 19): every operation of
//! `crates/ingress/openapi.json` driven at least once, with its success and
//! its usual refusals, and every answer checked against the document by
//! `bv_e2e::openapi` (a JSON Schema 2020-12 validator, not a string compare);
//! the webhooks the worker sends are checked against the document's
//! `webhooks`. The other tests' answers are checked too, through the
//! harness's request helpers; this one is what makes sure that each
//! operation is, including those the other tests send without the helpers.

use std::time::Duration;

use bv_e2e::journey::{Started, jpeg};
use bv_e2e::openapi::{self, checked};
use bv_e2e::{Options, Receiver, TestApp, eventually, token};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use crate::support::spawn_worker;

const CLIENT: &str = "client_123456789";
const PROJECT: &str = "project_123456789";
const FLOW: &str = "flow_123456789";

/// `method path` with an optional bearer token, JSON body and headers; the
/// answer checked against the document.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.base_url));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    checked(method, request.send().await.expect(path)).await
}

/// The status and JSON body of a checked answer.
async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// A create request for `identifier` whose webhooks go to `hooks`.
fn request(identifier: &str, hooks: &str) -> Value {
    json!({
        "project": PROJECT,
        "projectFlow": FLOW,
        "identifier": identifier,
        "type": "onboarding",
        "expiresAt": "2099-01-15T11:30:00Z",
        "redirectUrl": "https://example.com/success",
        "webhookUrl": hooks,
        "requires2FA": false,
        "sendViaEmail": false,
        "language": "en"
    })
}

fn started(body: &Value) -> Started {
    let data = &body["data"];
    Started {
        id: data["_id"].as_str().expect("_id").to_owned(),
        token: data["token"].as_str().expect("token").to_owned(),
        url: data["url"].as_str().expect("url").to_owned(),
    }
}

/// The frames that answer `challenge` (its body) with a sandbox-passing JPEG.
fn answer(challenge: &Value) -> Value {
    let data = &challenge["data"];
    let image = jpeg();
    let frames: Vec<Value> = data["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| json!({"step": step, "image": image}))
        .collect();
    json!({"os": "web", "challengeId": data["challengeId"], "frames": frames})
}

fn signal(which: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([which, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {which} {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_answers_as_the_document_says() {
    // The worker runs as a process of its own, so that it can be paused for
    // the `202` answers.
    let app = TestApp::spawn_with(
        Options::dispatching()
            .without_worker()
            .with("ingress.reply_timeout", "1s"),
    )
    .await;
    let mut worker = spawn_worker(&app, &[]);
    assert!(
        eventually(Duration::from_secs(20), || async {
            app.consumers().await > 0
        })
        .await,
        "the worker consumes"
    );
    app.seed(CLIENT, PROJECT, FLOW, "onboarding").await;
    let receiver = Receiver::start().await;
    let hooks = receiver.url("/hooks");
    let client = app.token(CLIENT);
    let client = client.as_str();

    // Operations.
    let ops = |path: &'static str| send(&app, "GET", path, None, None, &[]);
    assert_eq!(ops("/healthz").await.text().await.unwrap(), "ok");
    assert_eq!(ops("/readyz").await.status(), 200);
    assert!(
        ops("/metrics")
            .await
            .text()
            .await
            .unwrap()
            .ends_with("# EOF\n")
    );
    let served = ops("/openapi.json").await.text().await.unwrap();
    assert_eq!(served, openapi::DOCUMENT, "the served document is the file");
    let jwks = ops("/.well-known/jwks.json").await;
    assert_eq!(jwks.status(), 200);
    // The fallback, for a path that is no route.
    let (status, body) = status_json(ops("/v2/nothing-here").await).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    assert_eq!(ops("/v2/biometric-validations/").await.status(), 404);

    // Create: 201, 400, 401, 413, 422.
    let expiring_at = (chrono::Utc::now() + chrono::Duration::seconds(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut expiring = request("soon@example.com", &hooks);
    expiring["expiresAt"] = json!(expiring_at);
    let post = |bearer: &str, body: Value, headers: Vec<(&'static str, String)>| {
        let bearer = bearer.to_owned();
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = send(
                app,
                "POST",
                "/v2/biometric-validations",
                Some(&bearer),
                Some(&body),
                &headers,
            )
            .await;
            status_json(response).await
        }
    };
    let (status, body) = post(client, expiring, vec![]).await;
    assert_eq!(status, 201, "{body}");
    let expiring = started(&body);
    let (status, body) = post(client, request("ana@example.com", &hooks), vec![]).await;
    assert_eq!(status, 201, "{body}");
    let ana = started(&body);
    let (status, body) = post(client, request("bob@example.com", &hooks), vec![]).await;
    assert_eq!(status, 201, "{body}");
    let bob = started(&body);
    let (status, body) = post(client, request("cy@example.com", &hooks), vec![]).await;
    assert_eq!(status, 201, "{body}");
    let cy = started(&body);
    let (status, body) = post(client, request("hal@example.com", &hooks), vec![]).await;
    assert_eq!(status, 201, "{body}");
    let hal = started(&body);
    let (status, body) = post(client, request("ivy@example.com", &hooks), vec![]).await;
    assert_eq!(status, 201, "{body}");
    let ivy = started(&body);
    let key = vec![("Idempotency-Key", "openapi-key-1".to_owned())];
    let (status, _) = post(client, request("dee@example.com", &hooks), key.clone()).await;
    assert_eq!(status, 201);
    let (status, body) = post(client, request("eve@example.com", &hooks), key).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("IDEMPOTENCY_KEY_REUSED"))
    );
    let mut unknown = request("x@example.com", &hooks);
    unknown["projectflow"] = json!(FLOW);
    let (status, body) = post(client, unknown, vec![]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("UNKNOWN_FIELD"))
    );
    let mut large = request("x@example.com", &hooks);
    large["identifier"] = json!("x".repeat(70_000));
    let (status, _) = post(client, large, vec![]).await;
    assert_eq!(status, 413);
    let expired_token = token(CLIENT, -3600);
    let (status, body) = post(&expired_token, request("x@example.com", &hooks), vec![]).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHORIZED")));
    let (status, _) = post(&ana.token, request("x@example.com", &hooks), vec![]).await;
    assert_eq!(status, 403);

    // List: every filter, both spellings of `in_status`; 400, 401, 403.
    let get = |bearer: Option<&str>, path: String| {
        let bearer = bearer.map(str::to_owned);
        let app = &app;
        async move { status_json(send(app, "GET", &path, bearer.as_deref(), None, &[]).await).await }
    };
    let (status, body) = get(
        Some(client),
        format!(
            "/v2/biometric-validations?in_status=new&in_status%5B%5D=pending,validated&where_status=new\
             &where_type=onboarding&where_project={PROJECT}&where_projectFlow={FLOW}\
             &where_identifier=ana@example.com&where%3E_createdAt=2020-01-01T00:00:00Z\
             &where%3C_createdAt=2100-01-01T00:00:00Z&sort=createdAt&page=1&perPage=5"
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["_id"], ana.id.as_str());
    let (status, body) = get(
        Some(client),
        "/v2/biometric-validations?in_status=done".into(),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("in_status")));
    let (status, _) = get(None, "/v2/biometric-validations".into()).await;
    assert_eq!(status, 401);
    let (status, _) = get(Some(&ana.token), "/v2/biometric-validations".into()).await;
    assert_eq!(status, 403);

    // Read: both views, 403, 404.
    let one = |id: &str| format!("/v2/biometric-validations/{id}");
    let (status, body) = get(Some(client), one(&ana.id)).await;
    assert_eq!(status, 200);
    assert!(
        body["data"].get("client").is_some(),
        "the full view: {body}"
    );
    let (status, body) = get(Some(&ana.token), one(&ana.id)).await;
    assert_eq!(status, 200);
    assert!(
        body["data"].get("liveness").is_some(),
        "the page's view: {body}"
    );
    assert!(
        body["data"].get("client").is_none(),
        "the page's view: {body}"
    );
    let (status, _) = get(Some(&ana.token), one(&bob.id)).await;
    assert_eq!(status, 403);
    let (status, _) = get(Some(client), one(&uuid::Uuid::new_v4().to_string())).await;
    assert_eq!(status, 404);

    // The hosted page, before anything is decided: 200, 404.
    let page = send(
        &app,
        "GET",
        &format!("/validate/{}", ana.id),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(page.status(), 200);
    let unknown_page = format!("/validate/{}", uuid::Uuid::new_v4());
    let page = send(&app, "GET", &unknown_page, None, None, &[]).await;
    assert_eq!(page.status(), 404);

    // Challenge and validate: 200, 400, 404, 409, 403.
    let (status, challenge) = app.challenge(&ana.token, &ana.id).await;
    assert_eq!(status, 200, "{challenge}");
    let (status, body) = app.validate(&ana.token, &json!({"os": "web"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app.validate(&ana.token, &answer(&challenge)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "validated", "{body}");
    let (status, body) = app.validate(&ana.token, &answer(&challenge)).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = app.challenge(&ana.token, &ana.id).await;
    assert_eq!(status, 409);
    let (status, _) = app.challenge(client, &ana.id).await;
    assert_eq!(status, 403);
    let (status, body) = get(Some(client), one(&ana.id)).await;
    assert_eq!(status, 200);
    assert!(body["data"].get("signature").is_some(), "{body}");
    let (status, _) = get(Some(&ana.token), one(&ana.id)).await;
    assert_eq!(status, 200);
    let decided_page = format!("/validate/{}", ana.id);
    assert_eq!(
        send(&app, "GET", &decided_page, None, None, &[])
            .await
            .status(),
        200
    );
    // Bob enrols too (his person is deleted while the worker is paused).
    let (status, body) = app.pass_challenge(&bob, &jpeg()).await;
    assert_eq!(
        (status, &body["data"]["status"]),
        (200, &json!("validated"))
    );

    // Deliveries: 200, 404; redeliver: 200, 404.
    let deliveries = app
        .settled_deliveries(CLIENT, &ana.id, Duration::from_secs(20))
        .await;
    let delivery = deliveries[0]["_id"].as_str().unwrap().to_owned();
    let (status, _) = get(
        Some(client),
        format!(
            "/v2/biometric-validations/{}/deliveries",
            uuid::Uuid::new_v4()
        ),
    )
    .await;
    assert_eq!(status, 404);
    let response = app.redeliver(CLIENT, &ana.id, &delivery).await;
    assert_eq!(response.status(), 200);
    let unknown_delivery = uuid::Uuid::new_v4().to_string();
    let response = app.redeliver(CLIENT, &ana.id, &unknown_delivery).await;
    assert_eq!(response.status(), 404);

    // Delete a person: 200, then 404 (nobody enrolled any more).
    let person = |id: String| {
        let app = &app;
        async move {
            let path = format!("/v2/biometric-validations/{id}/person");
            status_json(send(app, "DELETE", &path, Some(client), None, &[]).await).await
        }
    };
    let (status, body) = person(ana.id.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = person(ana.id.clone()).await;
    assert_eq!(status, 404);

    // The worker paused: the answers that do not wait for it (202), and a
    // challenge that needs it (503).
    let (status, cy_challenge) = app.challenge(&cy.token, &cy.id).await;
    assert_eq!(status, 200, "{cy_challenge}");
    let pid = worker.id().expect("the worker runs").to_string();
    signal("-STOP", &pid);
    let (status, body) = app.validate(&cy.token, &answer(&cy_challenge)).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post(client, request("fay@example.com", &hooks), vec![]).await;
    assert_eq!(status, 202, "{body}");
    let prefer = vec![("Prefer", "respond-async".to_owned())];
    let (status, body) = post(client, request("gus@example.com", &hooks), prefer).await;
    assert_eq!(status, 202, "{body}");
    let response = app.redeliver(CLIENT, &ana.id, &delivery).await;
    assert_eq!(response.status(), 202);
    let (status, body) = person(bob.id.clone()).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = app.challenge(&hal.token, &hal.id).await;
    assert_eq!(status, 503, "{body}");
    signal("-CONT", &pid);

    // Past its expiresAt: the page's 410.
    let expired_page = format!("/validate/{}", expiring.id);
    let gone = eventually(Duration::from_secs(10), || async {
        send(&app, "GET", &expired_page, None, None, &[])
            .await
            .status()
            == 410
    })
    .await;
    assert!(gone, "the expired validation's page is 410");

    // One session over its limit (the default burst of 30): 429.
    let mut limited = false;
    for _ in 0..100 {
        let (status, body) = get(Some(&ivy.token), one(&ivy.id)).await;
        if status == 429 {
            assert_eq!(body["code"], "RATE_LIMITED");
            limited = true;
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    assert!(limited, "the session's limit was reached");

    // The webhooks the worker sent, against the document's `webhooks`.
    let hooks_received = receiver.wait_for(6, Duration::from_secs(20)).await;
    assert!(hooks_received.len() >= 6, "{}", hooks_received.len());
    for hook in &hooks_received {
        let event: Value = serde_json::from_str(&hook.body).expect("a JSON webhook");
        let kind = event["type"].as_str().expect("type");
        let pointer = format!(
            "/webhooks/{}/post/requestBody/content/application~1json/schema",
            openapi::escape(kind)
        );
        let problems = openapi::errors(&pointer, &event);
        assert!(problems.is_empty(), "webhook {kind}: {problems:?}");
    }

    // Every documented operation was driven and its answers checked.
    let covered = openapi::covered();
    let missing: Vec<_> = openapi::operations()
        .into_iter()
        .filter(|op| !covered.iter().any(|(id, _)| id == op))
        .collect();
    assert!(missing.is_empty(), "operations not exercised: {missing:?}");
    let _ = worker.kill().await;
}

/// Every example of every documented response is valid against its schema.
#[test]
fn every_documented_example_is_valid() {
    let doc = openapi::document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (status, response) in responses {
                let mut pointer = format!(
                    "/paths/{}/{method}/responses/{status}",
                    openapi::escape(path)
                );
                let mut response = response;
                if let Some(target) = response.get("$ref").and_then(Value::as_str) {
                    pointer = target.trim_start_matches('#').to_owned();
                    response = doc.pointer(&pointer).unwrap();
                }
                let contents = response.get("content").and_then(Value::as_object);
                for (media, content) in contents.into_iter().flatten() {
                    let schema = format!("{pointer}/content/{}/schema", openapi::escape(media));
                    let examples = content.get("examples").and_then(Value::as_object);
                    for (name, example) in examples.into_iter().flatten() {
                        let problems = openapi::errors(&schema, &example["value"]);
                        assert!(problems.is_empty(), "{schema} {name}: {problems:?}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} examples");
}

/// The check fails on what the document does not say: a body that breaks
/// the schema, an undocumented status, method or path, a wrong content
/// type, a header that breaks its schema, a body where none is documented.
#[test]
fn a_response_the_document_does_not_describe_is_refused() {
    let json_type = |ct: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, ct.parse().unwrap());
        headers
    };
    let json = json_type("application/json");
    let ready = br#"{"broker":true,"database":true}"#;
    openapi::check("GET", "/readyz", 200, &json, ready).unwrap();

    let problems = openapi::check(
        "GET",
        "/readyz",
        200,
        &json,
        br#"{"broker":"yes","database":true}"#,
    )
    .unwrap_err();
    assert!(problems[0].contains("/broker"), "{problems:?}");
    assert!(openapi::check("GET", "/readyz", 418, &json, ready).is_err());
    assert!(openapi::check("PUT", "/readyz", 200, &json, ready).is_err());
    assert!(openapi::check("GET", "/readyz", 200, &json_type("text/html"), ready).is_err());
    assert!(openapi::check("GET", "/healthz", 200, &json_type("text/plain"), b"ok").is_ok());
    assert!(openapi::check("GET", "/healthz", 200, &json_type("text/plain"), b"KO").is_err());
    // A route that is not documented answers the fallback's 404, nothing else.
    assert!(openapi::check("GET", "/nope", 200, &json, ready).is_err());
    let not_found = br#"{"success":false,"error":"No such route","code":"NOT_FOUND"}"#;
    assert!(openapi::check("GET", "/nope", 404, &json, not_found).is_ok());
    // The page's view with a field the client view has: neither of the oneOf.
    let view = json!({"success": true, "data": {
        "_id": "01a2283e-b7c3-76d4-a5b2-d4548ebc7cc7", "status": "pending",
        "type": "validation", "language": "en", "liveness": "active",
        "attemptsLeft": 2, "client": "client_123456789"}});
    let path = "/v2/biometric-validations/01a2283e-b7c3-76d4-a5b2-d4548ebc7cc7";
    let body = serde_json::to_vec(&view).unwrap();
    assert!(openapi::check("GET", path, 200, &json, &body).is_err());
    // A 429 whose Retry-After is not a number of seconds.
    let mut limited = json.clone();
    limited.insert("retry-after", "soon".parse().unwrap());
    let error = br#"{"success":false,"error":"Too many","code":"RATE_LIMITED"}"#;
    let problems =
        openapi::check("GET", "/v2/biometric-validations", 429, &limited, error).unwrap_err();
    assert!(problems[0].contains("Retry-After"), "{problems:?}");
}

//! Completing a validation over the API (README, "Completing a validation"):
//! the session token and link, challenges, validate, the rules per type,
//! attempts, events, signed results, token scopes, image checks and deleting a
//! person.

use std::time::Duration;

use bv_contract::webhook::verify;
use bv_e2e::journey::{bomb_png, jpeg};
use bv_e2e::{Options, Receiver, TestApp, seed_request};
use serde_json::{Value, json};

const CLIENT: &str = "client_123456789";
const PROJECT: &str = "project_123456789";
const FLOW: &str = "flow_123456789";

/// The seed's request for `identifier`, without email or webhook.
fn request(kind: &str, identifier: &str) -> Value {
    let mut body = seed_request();
    body["type"] = json!(kind);
    body["identifier"] = json!(identifier);
    body["sendViaEmail"] = json!(false);
    let map = body.as_object_mut().unwrap();
    map.remove("email");
    map.remove("webhookUrl");
    body
}

async fn app_with(flow_type: &str) -> TestApp {
    let app = TestApp::spawn().await;
    app.seed(CLIENT, PROJECT, FLOW, flow_type).await;
    app
}

async fn set_flow(
    app: &TestApp,
    liveness: Option<bv_contract::LivenessMode>,
    max_attempts: Option<i32>,
) {
    bv_store::flows::set_settings(&app.db, FLOW, liveness, None, max_attempts)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_create_answer_carries_the_pages_link_with_a_session_token() {
    let app = app_with("login").await;
    let response = app.post(&app.token(CLIENT), &seed_request()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let data = &body["data"];
    let id = data["_id"].as_str().unwrap();
    let token = data["token"].as_str().unwrap();
    // The link is the configured page with the token in the fragment, which
    // a browser never sends to a server.
    assert_eq!(
        data["url"],
        format!("http://127.0.0.1:8080/validate/{id}#token={token}")
    );
    // Everything else is the seed's answer, as before.
    for (field, value) in seed_request().as_object().unwrap() {
        assert_eq!(&data[field], value, "{field}");
    }
    assert_eq!(data["status"], "new");

    // The token opens the page's view of its own validation, and no more.
    let own = app
        .get(token, &format!("/v2/biometric-validations/{id}"))
        .await;
    assert_eq!(own.status(), 200);
    let view: Value = own.json().await.unwrap();
    assert_eq!(view["data"]["_id"], id);
    assert_eq!(view["data"]["redirectUrl"], "https://example.com/success");
    assert_eq!(view["data"]["attemptsLeft"], 3);
    assert!(view["data"].get("identifier").is_none() && view["data"].get("email").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn session_and_client_tokens_each_open_only_their_own_doors() {
    let app = app_with("login").await;
    let a = app
        .start(CLIENT, &request("validation", "a@example.com"))
        .await;
    let b = app
        .start(CLIENT, &request("validation", "b@example.com"))
        .await;
    let client = app.token(CLIENT);

    // A session token cannot list, create, or read the full view.
    let list = app.get(&a.token, "/v2/biometric-validations").await;
    assert_eq!(list.status(), 403);
    let body: Value = list.json().await.unwrap();
    assert_eq!(body["code"], "FORBIDDEN");
    assert_eq!(app.post(&a.token, &seed_request()).await.status(), 403);
    let deliveries = app
        .get(
            &a.token,
            &format!("/v2/biometric-validations/{}/deliveries", a.id),
        )
        .await;
    assert_eq!(deliveries.status(), 403);
    // …nor another validation's page.
    let (status, body) = app.challenge(&a.token, &b.id).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")));
    let other = app
        .get(&a.token, &format!("/v2/biometric-validations/{}", b.id))
        .await;
    assert_eq!(other.status(), 403);
    // A client token cannot validate or take a challenge.
    let (status, body) = app
        .validate(&client, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")));
    let (status, _) = app.challenge(&client, &a.id).await;
    assert_eq!(status, 403);
    // A forged session token (signed by another key) is refused.
    let forged = bv_signing::KeySet::parse(&bv_signing::KeySet::generate_entry("test-1").unwrap())
        .unwrap()
        .issue_session(
            &a.id,
            chrono::Utc::now().timestamp(),
            chrono::Utc::now().timestamp() + 600,
        );
    let (status, body) = app.challenge(&forged, &a.id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_challenge_answered_in_time_validates_with_a_signed_result() {
    let app = TestApp::spawn_with(Options::dispatching()).await;
    let project = app.seed_project(CLIENT, PROJECT).await;
    app.seed_flow(PROJECT, FLOW, "login", "active").await;
    let receiver = Receiver::start().await;
    let mut body = request("validation", "person@example.com");
    body["webhookUrl"] = json!(receiver.url("/hooks"));
    let s = app.start(CLIENT, &body).await;

    let (status, challenge) = app.challenge(&s.token, &s.id).await;
    assert_eq!(status, 200, "{challenge}");
    assert_eq!(
        challenge["data"]["steps"],
        json!(["front", "left", "right"])
    );
    let read = app
        .get(
            &app.token(CLIENT),
            &format!("/v2/biometric-validations/{}", s.id),
        )
        .await;
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["data"]["status"], "pending", "the user started");

    let frames: Vec<Value> = ["front", "left", "right"]
        .iter()
        .map(|step| json!({"step": step, "image": jpeg()}))
        .collect();
    let answer =
        json!({"os": "web", "challengeId": challenge["data"]["challengeId"], "frames": frames});
    let (status, result) = app.validate(&s.token, &answer).await;
    assert_eq!(status, 200, "{result}");
    let data = &result["data"];
    assert_eq!(data["status"], "validated");
    assert_eq!(data["attempt"]["decision"], "pass");
    assert_eq!(data["attempt"]["reasons"], json!([]));
    assert_eq!(data["attempt"]["engine"], "sandbox");
    assert_eq!(data["attempt"]["scores"]["liveness"], json!(0.97));
    assert_eq!(data["attemptsLeft"], 0);
    let signature = data["signature"].as_str().unwrap();

    // The client's GET shows the attempt and the same signature.
    let read = app
        .get(
            &app.token(CLIENT),
            &format!("/v2/biometric-validations/{}", s.id),
        )
        .await;
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["data"]["status"], "validated");
    assert_eq!(read["data"]["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(read["data"]["signature"], signature);
    assert!(
        read["data"].get("token").is_none(),
        "no session once decided"
    );

    // Someone else's JOSE library checks it against the published keys.
    let jwks: Value = app
        .get("", "/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let claims = verify_with_joserfc(&jwks, signature);
    assert_eq!(claims["_id"], s.id);
    assert_eq!(claims["client"], CLIENT);
    assert_eq!(claims["identifier"], "person@example.com");
    assert_eq!(claims["status"], "validated");
    assert_eq!(claims["type"], "validation");

    // Webhooks: created, pending, validated, each once, signed, no image.
    // They are sent concurrently (not in order); each event's timestamp
    // orders them, as the README tells consumers.
    let mut got = receiver.wait_for(3, Duration::from_secs(15)).await;
    let event = |h: &bv_e2e::Received| serde_json::from_str::<Value>(&h.body).unwrap();
    got.sort_by_key(|h| event(h)["timestamp"].as_str().unwrap().to_owned());
    let kinds: Vec<String> = got
        .iter()
        .map(|h| event(h)["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "biometric_validation.created",
            "biometric_validation.pending",
            "biometric_validation.validated"
        ]
    );
    for hook in &got {
        let timestamp: i64 = hook.header("webhook-timestamp").parse().unwrap();
        assert!(verify(
            &project.webhook_secret,
            hook.header("webhook-id"),
            timestamp,
            hook.body.as_bytes(),
            hook.header("webhook-signature")
        ));
        assert!(!hook.body.contains(&jpeg()), "never an image in a webhook");
    }
    let validated: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(validated["data"]["attempts"][0]["decision"], "pass");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3, "each event once");

    // The challenge is used: answering it again is refused.
    let (status, again) = app.validate(&s.token, &answer).await;
    assert_eq!(status, 409, "{again}");
}

/// Verifies a compact JWS with Python's joserfc against a JWKS: the payload.
fn verify_with_joserfc(jwks: &Value, jws: &str) -> Value {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/jose/verify_jws.py");
    let mut child = std::process::Command::new(bv_e2e::python::python())
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let input = json!({"jwks": jwks, "jws": jws}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "joserfc refused: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_attempts_leave_it_pending_until_the_last_one() {
    let app = app_with("login").await;
    set_flow(&app, None, Some(2)).await;
    let s = app
        .start(CLIENT, &request("validation", "sandbox-spoof@example.com"))
        .await;

    let (status, first) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["status"], "pending");
    assert_eq!(
        first["data"]["attempt"]["reasons"],
        json!(["LIVENESS_FAILED"])
    );
    assert_eq!(first["data"]["attemptsLeft"], 1);
    assert!(first["data"].get("signature").is_none(), "not decided yet");
    // The page's view tells why, without scores, for an answer it did not wait for.
    let view = app
        .get(&s.token, &format!("/v2/biometric-validations/{}", s.id))
        .await;
    let view: Value = view.json().await.unwrap();
    assert_eq!(
        view["data"]["lastAttempt"],
        json!({"decision": "fail", "reasons": ["LIVENESS_FAILED"]})
    );

    let (_, last) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(last["data"]["status"], "failed");
    assert_eq!(last["data"]["attemptsLeft"], 0);
    assert!(last["data"]["signature"].is_string());

    let (status, closed) = app.challenge(&s.token, &s.id).await;
    assert_eq!(
        (status, closed["code"].as_str()),
        (409, Some("VALIDATION_CLOSED"))
    );
    let (status, _) = app
        .validate(&s.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_link_works_for_one_decided_attempt() {
    let app = app_with("login").await;
    let s = app
        .start(CLIENT, &request("oneTimeLink", "sandbox-spoof@example.com"))
        .await;
    let (_, first) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(
        first["data"]["status"], "failed",
        "no second try on a one-time link"
    );
    let (status, body) = app.challenge(&s.token, &s.id).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("VALIDATION_CLOSED"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn onboarding_enrols_login_matches_and_a_deleted_person_is_forgotten() {
    let app = app_with("onboarding").await;
    bv_store::flows::create(
        &app.db,
        bv_store::flows::NewFlow {
            id: Some("flow_login".into()),
            project: PROJECT.into(),
            kind: bv_contract::FlowType::Login,
            status: bv_contract::FlowStatus::Active,
            name: None,
            settings: Default::default(),
        },
    )
    .await
    .unwrap();
    let login = |identifier: &str| {
        let mut body = request("login", identifier);
        body["projectFlow"] = json!("flow_login");
        body
    };

    // Login before anyone is enrolled.
    let s = app.start(CLIENT, &login("ana@example.com")).await;
    let (_, before) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(
        before["data"]["attempt"]["reasons"],
        json!(["PERSON_NOT_ENROLLED"])
    );

    let s = app
        .start(CLIENT, &request("onboarding", "ana@example.com"))
        .await;
    let (_, enrolled) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(enrolled["data"]["status"], "validated", "{enrolled}");
    assert_eq!(enrolled["data"]["person"]["enrolled"], true);
    let person = enrolled["data"]["person"]["_id"].clone();

    let s = app.start(CLIENT, &login("ana@example.com")).await;
    let (_, matched) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(matched["data"]["status"], "validated", "{matched}");
    assert_eq!(
        matched["data"]["person"],
        json!({"_id": person, "enrolled": false})
    );
    assert_eq!(matched["data"]["attempt"]["scores"]["match"], json!(0.94));

    // An impostor under the same identifier does not match.
    let mut impostor = login("ana@example.com");
    impostor["identifier"] = json!("sandbox-impostor ana@example.com");
    let s = app.start(CLIENT, &impostor).await;
    let (_, other) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(
        other["data"]["attempt"]["reasons"],
        json!(["PERSON_NOT_ENROLLED"]),
        "another identifier, nobody enrolled"
    );

    // Deleting the person (client token) forgets the face.
    let delete = |id: String, token: String| {
        let http = app.http.clone();
        let url = format!("{}/v2/biometric-validations/{id}/person", app.base_url);
        async move { http.delete(url).bearer_auth(token).send().await.unwrap() }
    };
    let deleted = delete(s.id.clone(), app.token("another_client")).await;
    assert_eq!(
        deleted.status(),
        404,
        "another client's validation is not found"
    );
    let deleted = delete(s.id.clone(), app.token(CLIENT)).await;
    assert_eq!(deleted.status(), 404, "no person under that identifier");
    let enrolment = app.start(CLIENT, &login("ana@example.com")).await;
    let deleted = delete(enrolment.id.clone(), app.token(CLIENT)).await;
    assert_eq!(deleted.status(), 200);
    let body: Value = deleted.json().await.unwrap();
    assert_eq!(body["data"]["_id"], person);
    let (_, after) = app.pass_challenge(&enrolment, &jpeg()).await;
    assert_eq!(
        after["data"]["attempt"]["reasons"],
        json!(["PERSON_NOT_ENROLLED"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn images_are_checked_before_anything_is_queued() {
    let app =
        TestApp::spawn_with(Options::default().with("biometrics.max_image_bytes", "20000")).await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    set_flow(&app, Some(bv_contract::LivenessMode::Passive), None).await;
    let s = app
        .start(CLIENT, &request("validation", "img@example.com"))
        .await;
    let check = |image: String| {
        let token = s.token.clone();
        let app = &app;
        async move {
            app.validate(&token, &json!({"os": "ios", "image": image}))
                .await
        }
    };

    let (status, body) = check("bm90IGFuIGltYWdl".into()).await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (400, Some("INVALID_IMAGE"), Some("image")),
        "{body}"
    );
    let (status, body) = check("%%%".into()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_IMAGE")),
        "{body}"
    );
    let (status, body) = check(bomb_png(30_000, 30_000)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_IMAGE")),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains("30000"), "{body}");
    let big = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        vec![0u8; 30_000],
    );
    let (status, body) = check(big).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{body}"
    );
    let (status, body) = app
        .validate(&s.token, &json!({"os": "windows", "image": jpeg()}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("os")),
        "{body}"
    );
    let (status, body) = app
        .validate(
            &s.token,
            &json!({"os": "web", "image": jpeg(), "selfie": 1}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("UNKNOWN_FIELD")),
        "{body}"
    );

    // Nothing was attempted; Verifik's body then passes on a passive flow.
    let (status, body) = check(jpeg()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "validated");
    assert_eq!(body["data"]["attempt"]["os"], "ios");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_active_flow_needs_a_challenge_and_a_late_answer_fails() {
    let app = TestApp::spawn_with(Options::default().with("biometrics.challenge_ttl", "1s")).await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    let s = app
        .start(CLIENT, &request("validation", "late@example.com"))
        .await;

    let (status, body) = app
        .validate(&s.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("challengeId")),
        "{body}"
    );
    let unknown = json!({"os": "web", "challengeId": uuid::Uuid::now_v7(), "frames": [{"step": "front", "image": jpeg()}]});
    let (status, body) = app.validate(&s.token, &unknown).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("CHALLENGE_NOT_FOUND")),
        "{body}"
    );

    let (_, challenge) = app.challenge(&s.token, &s.id).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let frames: Vec<Value> = challenge["data"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| json!({"step": st, "image": jpeg()}))
        .collect();
    let late =
        json!({"os": "web", "challengeId": challenge["data"]["challengeId"], "frames": frames});
    let (status, body) = app.validate(&s.token, &late).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["attempt"]["reasons"],
        json!(["CHALLENGE_EXPIRED"])
    );
    assert_eq!(body["data"]["status"], "pending");

    // Frames out of the challenge's order fail too.
    let (_, challenge) = app.challenge(&s.token, &s.id).await;
    let shuffled = json!({"os": "web", "challengeId": challenge["data"]["challengeId"],
        "frames": [{"step": "right", "image": jpeg()}, {"step": "left", "image": jpeg()}, {"step": "front", "image": jpeg()}]});
    let (_, body) = app.validate(&s.token, &shuffled).await;
    assert_eq!(
        body["data"]["attempt"]["reasons"],
        json!(["CHALLENGE_MISMATCH"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_validation_sends_its_event_and_closes_its_page() {
    let app =
        TestApp::spawn_with(Options::dispatching().with("worker.expiry_sweep_interval", "200ms"))
            .await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    let receiver = Receiver::start().await;
    let mut body = request("validation", "slow@example.com");
    body["webhookUrl"] = json!(receiver.url("/hooks"));
    body["expiresAt"] = json!(bv_contract::format_timestamp(
        chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0) + chrono::Duration::seconds(2)
    ));
    let s = app.start(CLIENT, &body).await;
    let got = receiver.wait_for(2, Duration::from_secs(15)).await;
    let last: Value = serde_json::from_str(&got.last().unwrap().body).unwrap();
    assert_eq!(last["type"], "biometric_validation.expired");
    assert_eq!(last["data"]["status"], "expired");
    let (status, body) = app.challenge(&s.token, &s.id).await;
    assert!(status == 409 || status == 401, "{status} {body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "created and expired, each once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn captures_are_kept_only_when_the_project_asks_and_only_as_long() {
    let app = app_with("login").await;
    set_flow(&app, Some(bv_contract::LivenessMode::Passive), None).await;
    let image = jpeg();
    let s = app
        .start(CLIENT, &request("validation", "a@example.com"))
        .await;
    let (status, _) = app
        .validate(&s.token, &json!({"os": "web", "image": image}))
        .await;
    assert_eq!(status, 200);
    let kept = "(SELECT id FROM validation_attempts WHERE images IS NOT NULL) k";
    assert_eq!(
        bv_e2e::count_rows(&app.db, kept).await,
        0,
        "not stored by default"
    );

    bv_store::projects::set_biometrics(&app.db, PROJECT, None, Some(Some(7)))
        .await
        .unwrap()
        .unwrap();
    let s = app
        .start(CLIENT, &request("validation", "b@example.com"))
        .await;
    let (status, _) = app
        .validate(&s.token, &json!({"os": "web", "image": image}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(bv_e2e::count_rows(&app.db, kept).await, 1, "kept for audit");
    // The sweeper's purge removes them when their time has come, not before.
    let now = chrono::Utc::now();
    assert_eq!(
        bv_store::biometrics::purge_images(&app.db, now)
            .await
            .unwrap(),
        0
    );
    let later = now + chrono::Duration::days(8);
    assert_eq!(
        bv_store::biometrics::purge_images(&app.db, later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(bv_e2e::count_rows(&app.db, kept).await, 0);
    // The client's view never carries images.
    let read = app
        .get(
            &app.token(CLIENT),
            &format!("/v2/biometric-validations/{}", s.id),
        )
        .await;
    let text = read.text().await.unwrap();
    assert!(!text.contains(&image[..40]));
}

//! Whoever holds a validation's link cannot take the service down: each
//! attack here was tried against the service as it was, and made a process
//! grow by gigabytes, crash-loop, or fill a queue. Each now runs against
//! real processes (bv-ingress and bv-worker as separate binaries, their
//! peak RSS read from /proc), next to the genuine request it must not stop.
//!
//! The budgets (README, "Limits"): a validate request grows the ingress by
//! at most [`INGRESS_BUDGET_MIB`], a validate command the worker by at most
//! [`WORKER_BUDGET_MIB`], at the default limits.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bv_contract::amqp::{Names, VALIDATE_MESSAGE_TYPE, VALIDATE_ROUTING_KEY};
use bv_e2e::journey::{Started, jpeg, uniform_png};
use bv_e2e::slow_body::SlowValidate;
use bv_e2e::{Options, TestApp, amqp_connect, count_rows, eventually, seed_request};
use futures::StreamExt;
use image::ExtendedColorType;
use lapin::BasicProperties;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use serde_json::{Value, json};

use crate::support::{spawn_ingress, spawn_worker};

const CLIENT: &str = "client_123456789";
const PROJECT: &str = "project_123456789";
const FLOW: &str = "flow_123456789";

/// Most a validate request may grow the ingress by (default limits).
const INGRESS_BUDGET_MIB: u64 = 64;
/// Most a validate command may grow the worker by (default limits).
const WORKER_BUDGET_MIB: u64 = 96;

/// A process's memory, from /proc.
struct Memory {
    pid: u32,
    before_kib: u64,
}

impl Memory {
    /// Starts measuring `pid`: its peak is reset to what it holds now.
    fn watch(pid: u32) -> Memory {
        // Writing 5 to clear_refs resets VmHWM to the current RSS.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS");
        Memory {
            pid,
            before_kib: status_kib(pid, "VmRSS:"),
        }
    }

    /// How much the peak grew above what the process held at the start, MiB.
    fn growth_mib(&self) -> u64 {
        status_kib(self.pid, "VmHWM:").saturating_sub(self.before_kib) / 1024
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a memory figure")
}

/// The rate limits and per-validation slots off: these tests measure what
/// each request costs when nothing refuses it first.
fn unlimited() -> Vec<(&'static str, String)> {
    vec![
        ("rate_limits.session_rate", "off".into()),
        ("rate_limits.ip_rate", "off".into()),
        ("rate_limits.validate_in_flight_per_session", "16".into()),
    ]
}

/// The client's project and a `login` flow whose liveness is `passive`: one
/// capture per attempt, no challenge.
async fn seed_passive(app: &TestApp) {
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    app.make_passive(FLOW).await;
}

/// The seed's request for a `validation` without email or webhook.
fn request(identifier: &str) -> Value {
    let mut body = seed_request();
    body["type"] = json!("validation");
    body["identifier"] = json!(identifier);
    body["sendViaEmail"] = json!(false);
    let map = body.as_object_mut().unwrap();
    map.remove("email");
    map.remove("webhookUrl");
    body
}

/// 16-bit RGBA zeros (8 bytes a pixel), base64.
fn deep_png(width: u32, height: u32) -> String {
    uniform_png(width, height, ExtendedColorType::Rgba16, 0)
}

/// 8-bit RGB grey: within the limits, decoded to `width × height × 3` bytes.
fn large_png(width: u32, height: u32) -> String {
    uniform_png(width, height, ExtendedColorType::Rgb8, 128)
}

async fn post_validate(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = http
        .post(format!("{base}/v2/biometric-validations/validate"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST validate");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A body just under `size` bytes: `{"os":"web","frames":[E,E,…]}`.
fn flood_body(element: &str, size: usize) -> Vec<u8> {
    let head = r#"{"os":"web","frames":["#;
    let count = (size - head.len() - 2) / (element.len() + 1);
    let mut body = String::with_capacity(size);
    body.push_str(head);
    body.push_str(&vec![element; count].join(","));
    body.push_str("]}");
    body.into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_of_millions_of_elements_costs_the_ingress_no_more_than_its_size() {
    let app = TestApp::spawn().await;
    seed_passive(&app).await;
    let port = bv_e2e::ports::reserve_port();
    let mut ingress = spawn_ingress(&app, port, &unlimited(), &[]).await;
    let base = format!("http://127.0.0.1:{port}");
    let s = app.start(CLIENT, &request("flooder")).await;
    // Just under the default limit (biometrics.max_request_bytes, 8 MiB).
    let max = 8 * 1024 * 1024 - 1024;

    let memory = Memory::watch(ingress.id().expect("pid"));
    for element in ["0", "{}", "[]"] {
        let (status, body) =
            post_validate(&app.http, &base, &s.token, flood_body(element, max)).await;
        assert_eq!(status, 400, "{element}: {body}");
        assert_eq!(
            body["field"].as_str().map(|f| f.starts_with("frames[0]")),
            Some(true),
            "{body}"
        );
    }
    let one = memory.growth_mib();
    assert!(
        one <= INGRESS_BUDGET_MIB,
        "one request grew the ingress by {one} MiB"
    );

    // Four at once: each costs its own size, no more.
    let memory = Memory::watch(ingress.id().expect("pid"));
    let floods = (0..4).map(|_| post_validate(&app.http, &base, &s.token, flood_body("0", max)));
    for (status, _) in futures::future::join_all(floods).await {
        assert_eq!(status, 400);
    }
    let four = memory.growth_mib();
    assert!(
        four <= 4 * INGRESS_BUDGET_MIB,
        "four grew the ingress by {four} MiB"
    );

    // Still up, and another user is served.
    let other = app.start(CLIENT, &request("genuine")).await;
    let (status, body) = post_validate(
        &app.http,
        &base,
        &other.token,
        json!({"os": "web", "image": jpeg()})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert!(status == 200 || status == 202, "{status} {body}");
    eprintln!("ingress growth: one flood {one} MiB, four at once {four} MiB");
    ingress.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn heavy_frames_are_refused_before_they_are_decoded_and_a_closed_validation_costs_nothing() {
    let app = TestApp::spawn().await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    let port = bv_e2e::ports::reserve_port();
    let mut ingress = spawn_ingress(&app, port, &unlimited(), &[]).await;
    let base = format!("http://127.0.0.1:{port}");
    let heavy = deep_png(4000, 4000);
    let s = app.start(CLIENT, &request("heavy")).await;
    let (status, challenge) = app.challenge(&s.token, &s.id).await;
    assert_eq!(status, 200, "{challenge}");
    let steps = challenge["data"]["steps"].as_array().unwrap().len();

    let memory = Memory::watch(ingress.id().expect("pid"));
    // Eight frames for a challenge of fewer steps: refused by their count.
    let frames: Vec<Value> = (0..8)
        .map(|_| json!({"step": "front", "image": heavy}))
        .collect();
    let body =
        json!({"os": "web", "challengeId": challenge["data"]["challengeId"], "frames": frames});
    let (status, answer) =
        post_validate(&app.http, &base, &s.token, body.to_string().into_bytes()).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("frames")),
        "{answer}"
    );
    // As many frames as steps, each decoding to 128 MB: refused from the header.
    let frames: Vec<Value> = challenge["data"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| json!({"step": step, "image": heavy}))
        .collect();
    let body =
        json!({"os": "web", "challengeId": challenge["data"]["challengeId"], "frames": frames});
    let (status, answer) =
        post_validate(&app.http, &base, &s.token, body.to_string().into_bytes()).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("INVALID_IMAGE")),
        "{answer}"
    );
    assert!(
        answer["error"].as_str().unwrap().contains("8 bytes each"),
        "{answer}"
    );
    let growth = memory.growth_mib();
    assert!(
        growth <= INGRESS_BUDGET_MIB,
        "heavy frames grew the ingress by {growth} MiB"
    );

    // Decided: then every further request is a 409, refused before any
    // image is looked at.
    let (status, body) = app.pass_challenge(&s, &jpeg()).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (200, Some("validated")),
        "{body}"
    );
    let memory = Memory::watch(ingress.id().expect("pid"));
    let frames: Vec<Value> = (0..steps)
        .map(|_| json!({"step": "front", "image": heavy}))
        .collect();
    let body =
        json!({"os": "web", "challengeId": challenge["data"]["challengeId"], "frames": frames})
            .to_string();
    let closed =
        (0..8).map(|_| post_validate(&app.http, &base, &s.token, body.clone().into_bytes()));
    for (status, answer) in futures::future::join_all(closed).await {
        assert_eq!(
            (status, answer["code"].as_str()),
            (409, Some("VALIDATION_CLOSED")),
            "{answer}"
        );
    }
    let growth = memory.growth_mib();
    assert!(
        growth <= INGRESS_BUDGET_MIB,
        "closed-validation floods grew the ingress by {growth} MiB"
    );
    // No command reached the queue for them, so none was dead-lettered.
    assert_eq!(
        queue_length(&app.prefix.names().validate_dead_queue).await,
        0
    );
    ingress.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_capture_is_invalid_and_uses_no_attempt() {
    let app = TestApp::spawn().await;
    seed_passive(&app).await;
    let s = app.start(CLIENT, &request("truncated")).await;
    let whole = STANDARD.decode(jpeg()).unwrap();
    let cut = STANDARD.encode(&whole[..whole.len() - 60]);
    let (status, body) = app
        .validate(&s.token, &json!({"os": "web", "image": cut}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_IMAGE")),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("incomplete"),
        "{body}"
    );
    let view: Value = app
        .get(&s.token, &format!("/v2/biometric-validations/{}", s.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["data"]["attemptsLeft"], 3, "{view}");
    // The whole image is judged.
    let (status, body) = app
        .validate(&s.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (200, Some("validated")),
        "{body}"
    );
}

/// Publishes a validate command for the worker (no reply asked).
async fn publish_validate(names: &Names, id: uuid::Uuid, body: &[u8]) {
    let conn = amqp_connect().await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let props = BasicProperties::default()
        .with_message_id(id.to_string().into())
        .with_type(VALIDATE_MESSAGE_TYPE.into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
    let confirm = ch
        .basic_publish(
            names.commands_exchange.as_str().into(),
            VALIDATE_ROUTING_KEY.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    let _ = conn.close(200, "bye".into()).await;
}

/// Messages ready in `queue`.
async fn queue_length(queue: &str) -> u32 {
    let conn = amqp_connect().await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = ch.close(200, "bye".into()).await;
    let _ = conn.close(200, "bye".into()).await;
    q.message_count()
}

/// Takes one message from `queue` and gives it back unacknowledged, as a
/// worker that died holding it would: the broker redelivers it.
async fn take_and_drop(queue: &str) {
    let conn = amqp_connect().await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.basic_qos(1, Default::default()).await.unwrap();
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "dies-holding-it".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("a message to take")
        .unwrap()
        .unwrap();
    assert!(!delivery.data.is_empty());
    let _ = conn.close(200, "died".into()).await;
}

/// The validate command of one capture for `s` (a flow without challenge).
fn command(s: &Started, image: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"validation": s.id, "os": "web", "frames": [{"image": image}]}))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worker_decodes_one_reduced_frame_at_a_time_within_its_budget() {
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    seed_passive(&app).await;
    let mut worker = spawn_worker(&app, &[]);
    assert!(
        eventually(Duration::from_secs(20), || async {
            app.consumers().await > 0
        })
        .await
    );
    let names = app.prefix.names();

    // The largest capture the limits allow, 4000×4000 of RGB (48 MB decoded).
    let large = large_png(4000, 4000);
    assert!(large.len() < 1024 * 1024, "{} bytes of base64", large.len());
    let s = app.start(CLIENT, &request("large")).await;
    let memory = Memory::watch(worker.id().expect("pid"));
    publish_validate(&names, uuid::Uuid::now_v7(), &command(&s, &large)).await;
    let decided = eventually(Duration::from_secs(60), || async {
        count_rows(&app.db, "validation_attempts").await == 1
    })
    .await;
    assert!(decided, "the large capture is decided");
    let growth = memory.growth_mib();
    assert!(
        growth <= WORKER_BUDGET_MIB,
        "one large capture grew the worker by {growth} MiB"
    );

    // Eight frames of 16-bit RGBA 4000×4000 (1 GiB decoded together) for
    // a validation that takes one: refused before one is decoded.
    let heavy = deep_png(4000, 4000);
    let t = app.start(CLIENT, &request("heavy")).await;
    let frames: Vec<Value> = (0..8).map(|_| json!({"image": heavy})).collect();
    let body =
        serde_json::to_vec(&json!({"validation": t.id, "os": "web", "frames": frames})).unwrap();
    let memory = Memory::watch(worker.id().expect("pid"));
    publish_validate(&names, uuid::Uuid::now_v7(), &body).await;
    // One frame of it: refused from its header.
    publish_validate(&names, uuid::Uuid::now_v7(), &command(&t, &heavy)).await;
    // And a closed validation's commands are answers, not dead letters.
    for _ in 0..5 {
        publish_validate(&names, uuid::Uuid::now_v7(), &command(&s, &jpeg())).await;
    }
    let drained = eventually(Duration::from_secs(30), || async {
        queue_length(&names.validate_queue).await == 0
    })
    .await;
    assert!(drained);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let growth = memory.growth_mib();
    assert!(
        growth <= WORKER_BUDGET_MIB,
        "heavy frames grew the worker by {growth} MiB"
    );
    assert_eq!(
        count_rows(&app.db, "validation_attempts").await,
        1,
        "no attempt used"
    );
    assert_eq!(
        queue_length(&names.validate_dead_queue).await,
        0,
        "nothing dead-lettered"
    );
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is still running"
    );
    eprintln!("worker growth: large capture within limits and heavy frames, peak {growth} MiB");
    worker.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_keeps_stopping_workers_is_refused_without_its_images() {
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    seed_passive(&app).await;
    let names = app.prefix.names();
    // Creates go through a worker that is then stopped.
    let mut setup = spawn_worker(&app, &[]);
    assert!(
        eventually(Duration::from_secs(20), || async {
            app.consumers().await > 0
        })
        .await
    );
    let poison = app.start(CLIENT, &request("poison")).await;
    let genuine = app.start(CLIENT, &request("genuine")).await;
    setup.start_kill().unwrap();
    let _ = setup.wait().await;

    // A command whose first worker died holding it, with one try allowed:
    // the next worker refuses it rather than start it again.
    let image = jpeg();
    publish_validate(&names, uuid::Uuid::now_v7(), &command(&poison, &image)).await;
    take_and_drop(&names.validate_queue).await;
    let mut worker = spawn_worker(&app, &[("worker.validate_max_tries", "1".into())]);
    let refused = eventually(Duration::from_secs(30), || async {
        queue_length(&names.validate_dead_queue).await == 1
    })
    .await;
    assert!(refused, "the command is dead-lettered");
    assert_eq!(count_rows(&app.db, "validation_attempts").await, 0);
    worker.start_kill().unwrap();
    let _ = worker.wait().await;

    // The dead letter keeps what was sent, never the image.
    let conn = amqp_connect().await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let dead = ch
        .basic_get(
            names.validate_dead_queue.as_str().into(),
            Default::default(),
        )
        .await
        .unwrap()
        .expect("the dead letter");
    let kept = String::from_utf8_lossy(&dead.delivery.data).into_owned();
    assert!(
        kept.contains("[image removed") && !kept.contains(&image[..40]),
        "{kept}"
    );
    assert!(kept.contains(&poison.id), "{kept}");
    let _ = conn.close(200, "bye".into()).await;

    // Paired with the genuine case: redelivered once, within two tries, a
    // command is decided as usual.
    publish_validate(&names, uuid::Uuid::now_v7(), &command(&genuine, &image)).await;
    take_and_drop(&names.validate_queue).await;
    let mut worker = spawn_worker(&app, &[("worker.validate_max_tries", "2".into())]);
    let decided = eventually(Duration::from_secs(30), || async {
        count_rows(&app.db, "validation_attempts").await == 1
    })
    .await;
    assert!(decided, "a redelivered command within its tries is decided");
    // Each redelivered command's start was counted, the refused one's too.
    assert_eq!(count_rows(&app.db, "validate_starts").await, 2);
    worker.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letter_queues_keep_a_bounded_number_of_messages() {
    let app =
        TestApp::spawn_with(Options::default().with("amqp.dead_letter_max_length", "3")).await;
    let names = app.prefix.names();
    for _ in 0..6 {
        publish_validate(&names, uuid::Uuid::now_v7(), b"{not json").await;
    }
    let full = eventually(Duration::from_secs(20), || async {
        queue_length(&names.validate_queue).await == 0
            && queue_length(&names.validate_dead_queue).await == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(full, "six unreadable commands, three kept");
    assert_eq!(queue_length(&names.validate_dead_queue).await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_challenge_retires_the_open_one() {
    // Above the per-session rate limit, which would stop the flood first.
    let app =
        TestApp::spawn_with(Options::default().with("rate_limits.session_burst", "100")).await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    let s = app.start(CLIENT, &request("asker")).await;
    let (_, first) = app.challenge(&s.token, &s.id).await;
    for _ in 0..20 {
        let (status, _) = app.challenge(&s.token, &s.id).await;
        assert_eq!(status, 200);
    }
    let (_, last) = app.challenge(&s.token, &s.id).await;
    assert_eq!(
        count_rows(&app.db, "challenges").await,
        1,
        "one open challenge"
    );
    let answer = |challenge: &Value| {
        let frames: Vec<Value> = challenge["data"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|step| json!({"step": step, "image": jpeg()}))
            .collect();
        json!({"os": "web", "challengeId": challenge["data"]["challengeId"], "frames": frames})
    };
    let (status, body) = app.validate(&s.token, &answer(&first)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("CHALLENGE_NOT_FOUND")),
        "{body}"
    );
    let (status, body) = app.validate(&s.token, &answer(&last)).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (200, Some("validated")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_tokens_are_unauthorised_and_nbf_is_honoured() {
    let app = TestApp::spawn().await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    let s = app.start(CLIENT, &request("forged")).await;
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({"sub": s.id, "aud": "bv-session", "iat": 0, "exp": 4_000_000_000i64});
    let none = format!(
        "{}.{}.",
        part(json!({"alg": "none", "typ": "JWT"})),
        part(claims.clone())
    );
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"a secret that is not the service's one"),
    )
    .unwrap();
    let body = json!({"os": "web", "image": jpeg()});
    for forged in [&none, &hs256] {
        let (status, answer) = app.validate(forged, &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{answer}"
        );
    }
    // A genuine token of the other kind is the wrong door: 403.
    let (status, answer) = app.validate(&app.token(CLIENT), &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{answer}"
    );

    // A client token before its nbf does not open the API yet.
    let now = chrono::Utc::now().timestamp();
    let early = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"client": CLIENT, "iat": now, "nbf": now + 3600, "exp": now + 7200}),
        &jsonwebtoken::EncodingKey::from_secret(bv_e2e::JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let response = app.post(&early, &request("early")).await;
    assert_eq!(response.status(), 401);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("nbf"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_carrying_tokens_or_signatures_are_not_cached() {
    let app = TestApp::spawn().await;
    seed_passive(&app).await;
    let created = app.post(&app.token(CLIENT), &request("cached")).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let body: Value = created.json().await.unwrap();
    let (id, token) = (
        body["data"]["_id"].as_str().unwrap(),
        body["data"]["token"].as_str().unwrap(),
    );
    let read = app
        .get(
            &app.token(CLIENT),
            &format!("/v2/biometric-validations/{id}"),
        )
        .await;
    assert_eq!(read.headers()["cache-control"], "no-store");
    let validated = app
        .http
        .post(format!(
            "{}/v2/biometric-validations/validate",
            app.base_url
        ))
        .bearer_auth(token)
        .json(&json!({"os": "web", "image": jpeg()}))
        .send()
        .await
        .unwrap();
    assert_eq!(validated.headers()["cache-control"], "no-store");
    let body: Value = validated.json().await.unwrap();
    assert!(body["data"]["signature"].is_string(), "{body}");
    // Errors too; the published keys may be cached.
    let unauthorised = app.get("nope", "/v2/biometric-validations").await;
    assert_eq!(unauthorised.headers()["cache-control"], "no-store");
    let jwks = app.get("", "/.well-known/jwks.json").await;
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_link_cannot_hold_every_validate_slot_nor_hold_one_forever() {
    let app = TestApp::spawn_with(
        Options::default()
            .with("rate_limits.validate_in_flight", "2")
            .with("rate_limits.validate_in_flight_per_session", "1")
            .with("rate_limits.validate_body_timeout", "2s"),
    )
    .await;
    seed_passive(&app).await;
    let attacker = app.start(CLIENT, &request("slowloris")).await;
    let other = app.start(CLIENT, &request("genuine")).await;

    // A slow body takes the link's one slot: its next request is refused
    // (429) rather than given the last slot. (A probe that arrives before
    // the slow one is counted is a 400: it has no image, and decides
    // nothing.)
    let mut slow = SlowValidate::start(&app.base_url, &attacker.token).await;
    let refused = eventually(Duration::from_secs(10), || async {
        app.validate(&attacker.token, &json!({"os": "web"})).await.0 == 429
    })
    .await;
    assert!(refused, "a second request of one validation is refused");
    let (status, body) = app
        .validate(&attacker.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("in progress"),
        "{body}"
    );
    // Another user is served meanwhile, on the other slot.
    let (status, body) = app
        .validate(&other.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (200, Some("validated")),
        "{body}"
    );

    // The slow body runs out of time: 408, and its slot is free again.
    use tokio::io::AsyncReadExt;
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        slow.stream.read_to_string(&mut answer),
    )
    .await
    .expect("answered within the body deadline")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
    let (status, body) = app
        .validate(&attacker.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (200, Some("validated")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_deletes_challenges_an_hour_past_their_expiry_and_keeps_the_others() {
    use bv_store::entity::challenge;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let app =
        TestApp::spawn_with(Options::default().with("worker.expiry_sweep_interval", "200ms")).await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    let s = app.start(CLIENT, &request("swept")).await;
    let validation = uuid::Uuid::parse_str(&s.id).unwrap();
    let now = chrono::Utc::now();
    // Never answered, expired two hours ago; expired ten minutes ago; open.
    for expired_ago in [120, 10, -2] {
        challenge::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            validation_id: Set(validation),
            steps: Set(r#"["front"]"#.into()),
            expires_at: Set(now - chrono::Duration::minutes(expired_ago)),
            used_at: Set(None),
            created_at: Set(now - chrono::Duration::minutes(expired_ago + 2)),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    let swept = eventually(Duration::from_secs(10), || async {
        count_rows(&app.db, "challenges").await == 2
    })
    .await;
    assert!(
        swept,
        "{} challenges left",
        count_rows(&app.db, "challenges").await
    );
    // The recent ones stay (answering one that just expired still says so).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(count_rows(&app.db, "challenges").await, 2);
}

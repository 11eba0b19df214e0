//! The hosted page in a real browser (Debian's headless Chromium over
//! WebDriver, sized like a phone): what a person sees for each state of a
//! link, the headers every page carries, and the whole journey with a fake
//! camera or with photos chosen in file inputs. Screenshots of the key
//! moments land in `target/screenshots/`.

use std::time::Duration;

use bv_e2e::browser::{
    Browser, TestMedia, click, heading_contains, screenshot, shown_heading, visible,
};
use bv_e2e::fault::FaultProxy;
use bv_e2e::journey::Started;
use bv_e2e::{Options, TestApp, eventually, seed_request};
use chrono::{SecondsFormat, Utc};
use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::spawn_worker;

const CLIENT: &str = "c1";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
    form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const SHORT: Duration = Duration::from_secs(10);
/// A whole attempt: challenge, three countdowns, the engine's decision.
const ATTEMPT: Duration = Duration::from_secs(60);

/// An app whose client has the seed's project and an `onboarding` flow
/// (a `validation` request takes a flow of either type).
async fn app_with_flow() -> TestApp {
    let app = TestApp::spawn().await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "onboarding")
        .await;
    app
}

/// The seed's request with `changes` applied.
fn request(changes: Value) -> Value {
    let mut body = seed_request();
    for (key, value) in changes.as_object().expect("an object") {
        body[key] = value.clone();
    }
    body
}

fn page(app: &TestApp, id: &str) -> String {
    format!("{}/validate/{id}", app.base_url)
}

/// The link as the email carries it, on this app's address.
fn link(app: &TestApp, started: &Started) -> String {
    format!("{}#token={}", page(app, &started.id), started.token)
}

fn assert_page_headers(response: &reqwest::Response) {
    let h = response.headers();
    assert_eq!(h["content-security-policy"], CSP);
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["permissions-policy"], "camera=(self)");
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/html"),
        "{h:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_speaks_the_validations_language_and_drops_the_token_from_the_address() {
    let app = app_with_flow().await;
    let id = app
        .create(CLIENT, &request(json!({"language": "es"})))
        .await;
    let browser = Browser::start().await;
    let client = browser.session(None).await;

    client
        .goto(&format!("{}#token=read-only-on-start", page(&app, &id)))
        .await
        .unwrap();
    heading_contains(&client, "Confirmemos que eres tú", SHORT).await;
    let html = client.find(Locator::Css("html")).await.unwrap();
    assert_eq!(html.attr("lang").await.unwrap().as_deref(), Some("es"));
    let start = client.find(Locator::Id("start")).await.unwrap();
    assert_eq!(start.text().await.unwrap(), "Comenzar");
    let body = client.find(Locator::Css("main")).await.unwrap();
    let text = body.text().await.unwrap();
    assert!(
        text.contains("Las fotos se usan solo para verificar tu identidad"),
        "{text}"
    );
    assert!(text.contains("Usar una foto en su lugar"), "{text}");
    let url = client.current_url().await.unwrap();
    assert_eq!(
        url.fragment(),
        None,
        "the token left the address bar: {url}"
    );
    assert_eq!(url.path(), format!("/validate/{id}"));
    screenshot(&client, "intro-es").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_without_its_token_says_it_is_incomplete() {
    let app = app_with_flow().await;
    let id = app.create(CLIENT, &seed_request()).await;
    let browser = Browser::start().await;
    let client = browser.session(None).await;

    client.goto(&page(&app, &id)).await.unwrap();
    heading_contains(&client, "This link is incomplete", SHORT).await;
    let start = client.find(Locator::Id("start")).await.unwrap();
    assert!(
        !start.is_displayed().await.unwrap(),
        "no Start without a token"
    );
    screenshot(&client, "incomplete-en").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_link_answers_410_and_says_so() {
    let app = app_with_flow().await;
    let expires = Utc::now() + chrono::Duration::seconds(2);
    let at = expires.to_rfc3339_opts(SecondsFormat::Millis, true);
    let id = app.create(CLIENT, &request(json!({"expiresAt": at}))).await;
    let open = app.http.get(page(&app, &id)).send().await.unwrap();
    assert_eq!(open.status(), 200, "open before its expiry");

    let wait = (expires - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let response = app.http.get(page(&app, &id)).send().await.unwrap();
    assert_eq!(response.status(), 410);
    assert_page_headers(&response);
    let text = response.text().await.unwrap();
    assert!(text.contains("This link has expired"), "{text}");
    assert!(
        !text.contains("capture.js"),
        "no capture on an expired link"
    );

    let browser = Browser::start().await;
    let client = browser.session(None).await;
    client
        .goto(&format!("{}#token=irrelevant", page(&app, &id)))
        .await
        .unwrap();
    heading_contains(&client, "This link has expired", SHORT).await;
    let main = client.find(Locator::Css("main")).await.unwrap();
    let shown = main.text().await.unwrap();
    assert!(
        shown.contains("Ask the service that sent you this link for a new one"),
        "{shown}"
    );
    screenshot(&client, "expired-en").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_link_is_not_valid_in_the_readers_language() {
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    let unknown = page(&app, &uuid::Uuid::now_v7().to_string());
    for url in [unknown.clone(), page(&app, "not-a-uuid")] {
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 404, "{url}");
        assert_page_headers(&response);
        let text = response.text().await.unwrap();
        assert!(text.contains("This link is not valid"), "{text}");
        assert!(text.contains("<html lang=\"en\""), "{text}");
    }
    let spanish = app
        .http
        .get(&unknown)
        .header("accept-language", "es-CO,es;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(spanish.status(), 404);
    let text = spanish.text().await.unwrap();
    assert!(text.contains("Este enlace no es válido"), "{text}");
    assert!(text.contains("<html lang=\"es\""), "{text}");

    let browser = Browser::start().await;
    let client = browser.session(None).await;
    client.goto(&unknown).await.unwrap();
    heading_contains(&client, "This link is not valid", SHORT).await;
    screenshot(&client, "not-found-en").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_a_strict_csp_that_their_own_script_and_style_live_with() {
    let app = app_with_flow().await;
    let id = app.create(CLIENT, &seed_request()).await;
    let response = app.http.get(page(&app, &id)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_page_headers(&response);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("<script src=\"/validate/assets/capture.js?v="),
        "{html}"
    );
    assert!(
        html.contains(&format!("data-validation-id=\"{id}\"")),
        "{html}"
    );
    assert!(!html.contains(" style="), "no inline style: {html}");

    for (asset, kind) in [
        ("capture.js", "text/javascript"),
        ("capture.css", "text/css"),
        ("face.svg", "image/svg+xml"),
        ("done.svg", "image/svg+xml"),
        ("alert.svg", "image/svg+xml"),
    ] {
        let url = format!("{}/validate/assets/{asset}?v=1", app.base_url);
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let h = response.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{asset}: {h:?}"
        );
        assert!(
            h["cache-control"].to_str().unwrap().contains("max-age="),
            "{asset}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
    }

    // Under that CSP the page's own script runs and its stylesheet applies.
    let browser = Browser::start().await;
    let client = browser.session(None).await;
    client
        .goto(&format!("{}#token=read-only-on-start", page(&app, &id)))
        .await
        .unwrap();
    let start = visible(&client, "#start", SHORT).await;
    assert_eq!(
        start.css_value("background-color").await.unwrap(),
        "rgba(24, 73, 169, 1)"
    );
    assert_eq!(
        client.current_url().await.unwrap().fragment(),
        None,
        "the script ran: it took the token out of the address"
    );
    screenshot(&client, "intro-en").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decided_link_says_so_and_continues_to_the_integrator() {
    let app = app_with_flow().await;
    let id = app
        .create(
            CLIENT,
            &request(json!({"redirectUrl": "https://example.com/back?from=email"})),
        )
        .await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE biometric_validations SET status = 'validated' WHERE id = '{id}'"
        ))
        .await
        .unwrap();

    let response = app.http.get(page(&app, &id)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_page_headers(&response);

    let browser = Browser::start().await;
    let client = browser.session(None).await;
    client.goto(&page(&app, &id)).await.unwrap();
    heading_contains(&client, "This verification is already complete", SHORT).await;
    let main = client.find(Locator::Css("main")).await.unwrap();
    assert!(main.text().await.unwrap().contains("You were verified"));
    let next = client.find(Locator::LinkText("Continue")).await.unwrap();
    assert_eq!(
        next.attr("href").await.unwrap().as_deref(),
        Some(format!("https://example.com/back?from=email&id={id}&status=validated").as_str())
    );
    screenshot(&client, "complete-en").await;
    client.close().await.unwrap();
}

/// The database black-holed under the ingress: the page answers `503` with
/// `Retry-After` within the read's bound, in the reader's language.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_asks_to_try_again_when_the_database_is_away() {
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    let pg = url::Url::parse(&app.test_db.url).unwrap();
    let target = format!("{}:{}", pg.host_str().unwrap(), pg.port().unwrap_or(5432));
    let db_proxy = FaultProxy::start(target.parse().unwrap()).await;
    let mut settings = app.overrides.clone();
    settings.push(("database.url", db_proxy.url(&app.test_db.url)));
    settings.push(("database.statement_timeout", "500ms".into()));
    let ingress: bv_ingress::Settings =
        bv_runtime::settings::load_from(bv_runtime::settings::DEFAULTS, None, Some(&settings))
            .unwrap();
    let shutdown = bv_runtime::Shutdown::new();
    let server = bv_ingress::Application::build(ingress, shutdown.clone())
        .await
        .unwrap();
    let url = format!(
        "http://{}/validate/{}",
        server.local_addr().unwrap(),
        uuid::Uuid::now_v7()
    );
    let task = tokio::spawn(server.run());
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 404);

    db_proxy.black_hole();
    let started = std::time::Instant::now();
    let response = app
        .http
        .get(&url)
        .header("accept-language", "es")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(response.headers()["retry-after"], "5");
    assert_page_headers(&response);
    let text = response.text().await.unwrap();
    assert!(text.contains("Vuelve a intentarlo en un momento"), "{text}");

    db_proxy.heal();
    shutdown.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

// ---- the journey: challenge, captures, validate, the outcome ----------------

/// The integrator's page people are sent back to: its address.
pub(crate) async fn integrator_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/done",
        axum::routing::get(|| async {
            axum::response::Html(
                "<!doctype html><title>Back</title><h1>Back at the integrator</h1>",
            )
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}/done?from=test")
}

/// Waits until the browser is on the integrator's `/done`; that URL.
async fn landed(client: &Client, limit: Duration) -> url::Url {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let url = client.current_url().await.unwrap();
        if url.path() == "/done" {
            return url;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not redirected within {limit:?}: still on {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_back_with(url: &url::Url, id: &str, status: &str) {
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("from".to_owned(), "test".to_owned()),
            ("id".to_owned(), id.to_owned()),
            ("status".to_owned(), status.to_owned()),
        ],
        "{url}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_camera_a_person_is_verified_and_sent_back() {
    let app = TestApp::spawn_with(bv_e2e::Options::dispatching()).await;
    let project = app.seed_project(CLIENT, "project_123456789").await;
    app.seed_flow(
        "project_123456789",
        "flow_123456789",
        "onboarding",
        "active",
    )
    .await;
    let receiver = bv_e2e::Receiver::start().await;
    let back = integrator_page().await;
    let started = app
        .start(
            CLIENT,
            &request(json!({
                "redirectUrl": back,
                "webhookUrl": receiver.url("/hooks"),
                "sendViaEmail": false
            })),
        )
        .await;
    let media = TestMedia::make();
    let browser = Browser::start().await;
    let client = browser.session(Some(&media.camera)).await;

    client.goto(&link(&app, &started)).await.unwrap();
    click(&client, "#start", SHORT).await;
    visible(&client, "#view-camera", SHORT).await;
    let prompt = shown_heading(&client).await;
    assert!(
        prompt.contains("camera") || prompt.contains("head"),
        "{prompt}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    screenshot(&client, "camera-step-1").await;
    // The first photo at once with "Take photo"; the others when their
    // countdown ends.
    click(&client, "#shoot", SHORT).await;
    heading_contains(&client, "You're verified", ATTEMPT).await;
    screenshot(&client, "verified-en").await;
    let url = landed(&client, SHORT).await;
    assert_back_with(&url, &started.id, "validated");
    client.close().await.unwrap();

    // The integrator hears it too: a signed `validated` event.
    let hooks = receiver.wait_for(3, SHORT).await;
    let validated = hooks
        .iter()
        .find(|h| h.body.contains("\"biometric_validation.validated\""))
        .expect("a validated event");
    let timestamp: i64 = validated.header("webhook-timestamp").parse().unwrap();
    assert!(bv_contract::webhook::verify(
        &project.webhook_secret,
        validated.header("webhook-id"),
        timestamp,
        validated.body.as_bytes(),
        validated.header("webhook-signature"),
    ));
    let event: Value = serde_json::from_str(&validated.body).unwrap();
    assert_eq!(event["data"]["_id"], started.id);
    assert_eq!(event["data"]["attempts"][0]["decision"], "pass");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_camera_photos_from_files_verify_a_person() {
    let app = app_with_flow().await;
    let back = integrator_page().await;
    let started = app
        .start(CLIENT, &request(json!({"redirectUrl": back})))
        .await;
    let media = TestMedia::make();
    let browser = Browser::start().await;
    let client = browser.session(None).await;

    client.goto(&link(&app, &started)).await.unwrap();
    click(&client, "#start", SHORT).await;
    // The camera is refused: the file inputs, saying why.
    let note = visible(&client, "#upload-note", SHORT).await;
    assert!(
        note.text()
            .await
            .unwrap()
            .contains("could not use your camera")
    );
    screenshot(&client, "upload-empty").await;
    let inputs = client
        .find_all(Locator::Css("#upload-list input[type=file]"))
        .await
        .unwrap();
    assert!(!inputs.is_empty());
    for input in &inputs {
        input
            .send_keys(&media.jpeg.display().to_string())
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + SHORT;
    loop {
        let thumbs = client.find_all(Locator::Css(".thumb")).await.unwrap();
        let mut shown = 0;
        for thumb in &thumbs {
            shown += usize::from(thumb.is_displayed().await.unwrap());
        }
        if shown == inputs.len() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "previews: {shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(&client, "upload-filled").await;
    client
        .find(Locator::Id("send-uploads"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    heading_contains(&client, "You're verified", ATTEMPT).await;
    let url = landed(&client, SHORT).await;
    assert_back_with(&url, &started.id, "validated");
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoof_is_asked_to_try_again_then_fails_on_the_last_attempt() {
    let app = app_with_flow().await;
    let back = integrator_page().await;
    let started = app
        .start(
            CLIENT,
            &request(json!({"identifier": "sandbox-spoof", "redirectUrl": back})),
        )
        .await;
    let media = TestMedia::make();
    let browser = Browser::start().await;
    let client = browser.session(Some(&media.camera)).await;

    client.goto(&link(&app, &started)).await.unwrap();
    click(&client, "#start", SHORT).await;
    let mut retries = 0;
    loop {
        let heading = one_of(&client, &["Let's try that again", "We couldn't verify you"]).await;
        if heading.contains("We couldn't verify you") {
            break;
        }
        retries += 1;
        assert!(retries < 10, "never failed for good");
        let hint = client.find(Locator::Id("message-text")).await.unwrap();
        assert!(!hint.text().await.unwrap().is_empty());
        if retries == 1 {
            screenshot(&client, "try-again-en").await;
        }
        let again = visible(&client, "#message-action", SHORT).await;
        assert_eq!(again.text().await.unwrap(), "Try again");
        again.click().await.unwrap();
        visible(&client, "#view-camera", SHORT).await;
    }
    assert!(retries >= 1, "a spoof is first asked to try again");
    screenshot(&client, "failed-en").await;
    let url = landed(&client, SHORT).await;
    assert_back_with(&url, &started.id, "failed");
    client.close().await.unwrap();
}

/// Keyboard alone: Tab reaches Start, then "Use a photo instead"; Enter
/// on it asks for a challenge, which a token that is not (or no longer)
/// valid is refused: the page says so plainly and moves focus to it.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_link_is_told_plainly_with_the_keyboard_alone() {
    let app = app_with_flow().await;
    let id = app.create(CLIENT, &seed_request()).await;
    let browser = Browser::start().await;
    let client = browser.session(None).await;
    client
        .goto(&format!("{}#token=not-a-session-token", page(&app, &id)))
        .await
        .unwrap();
    visible(&client, "#start", SHORT).await;

    press(&client, Key::Tab).await;
    assert_eq!(focused(&client).await, "start");
    press(&client, Key::Tab).await;
    assert_eq!(focused(&client).await, "use-photo");
    press(&client, Key::Enter).await;
    heading_contains(&client, "This link no longer works", SHORT).await;
    assert_eq!(
        focused(&client).await,
        "message-title",
        "focus follows the news"
    );
    let text = client.find(Locator::Id("message-text")).await.unwrap();
    assert!(
        text.text()
            .await
            .unwrap()
            .contains("Ask the service that sent it for a new one"),
        "plain words, not the API's"
    );
    let action = client.find(Locator::Id("message-action")).await.unwrap();
    assert!(
        !action.is_displayed().await.unwrap(),
        "retrying cannot help"
    );
    screenshot(&client, "stale-link-en").await;
    client.close().await.unwrap();
}

async fn press(client: &Client, key: Key) {
    let keys = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() });
    client.perform_actions(keys).await.unwrap();
}

/// The `id` of the focused element.
async fn focused(client: &Client) -> String {
    let element = client.active_element().await.unwrap();
    element.attr("id").await.unwrap().unwrap_or_default()
}

/// A validate the worker does not answer in time is `202`: the page polls
/// the validation until the (paused, then resumed) worker decides it.
#[tokio::test(flavor = "multi_thread")]
async fn a_queued_attempt_is_polled_until_decided() {
    let app = TestApp::spawn_with(
        Options::default()
            .without_worker()
            .with("ingress.reply_timeout", "2s"),
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
    app.seed(CLIENT, "project_123456789", "flow_123456789", "onboarding")
        .await;
    let back = integrator_page().await;
    let started = app
        .start(CLIENT, &request(json!({"redirectUrl": back})))
        .await;
    let media = TestMedia::make();
    let browser = Browser::start().await;
    let client = browser.session(Some(&media.camera)).await;

    client.goto(&link(&app, &started)).await.unwrap();
    click(&client, "#start", SHORT).await;
    visible(&client, "#view-camera", SHORT).await;
    // The challenge is issued; now the worker stops answering.
    let pid = worker.id().expect("the worker runs").to_string();
    signal("-STOP", &pid);
    click(&client, "#shoot", SHORT).await;
    heading_contains(&client, "Checking your photos", ATTEMPT).await;
    // Past the reply timeout: the page got its 202 and is polling.
    tokio::time::sleep(Duration::from_secs(4)).await;
    screenshot(&client, "checking-en").await;
    assert!(
        shown_heading(&client)
            .await
            .contains("Checking your photos")
    );
    signal("-CONT", &pid);
    heading_contains(&client, "You're verified", ATTEMPT).await;
    let url = landed(&client, SHORT).await;
    assert_back_with(&url, &started.id, "validated");
    client.close().await.unwrap();
    let _ = worker.kill().await;
}

fn signal(which: &str, pid: &str) {
    let status = std::process::Command::new("kill")
        .args([which, pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {which} {pid}");
}

/// Waits (for one attempt) until the heading says one of `texts`; which.
async fn one_of(client: &Client, texts: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + ATTEMPT;
    loop {
        let heading = shown_heading(client).await;
        if texts.iter().any(|t| heading.contains(t)) {
            return heading;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the heading says {heading:?}, none of {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_going_too_fast_is_told_to_wait_in_their_language() {
    // One validation may make 2 calls at once, then one a minute.
    let app = TestApp::spawn_with(
        Options::default()
            .with("rate_limits.session_burst", "2")
            .with("rate_limits.session_rate", "1/min"),
    )
    .await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "onboarding")
        .await;
    let started = app.start(CLIENT, &request(json!({"language": "es"}))).await;
    // The link's allowance spent (as a page reloaded again and again would).
    for _ in 0..2 {
        let path = format!("/v2/biometric-validations/{}", started.id);
        assert_eq!(app.get(&started.token, &path).await.status(), 200);
    }
    let browser = Browser::start().await;
    let client = browser.session(None).await;
    client.goto(&link(&app, &started)).await.unwrap();
    visible(&client, "#use-photo", SHORT).await;
    client
        .find(Locator::Id("use-photo"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    heading_contains(&client, "Ve un poco más despacio", SHORT).await;
    let text = client
        .find(Locator::Id("message-text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("Fueron demasiados intentos en poco tiempo. Espera")
            && text.contains("segundos y vuelve a intentarlo"),
        "{text}"
    );
    let action = client.find(Locator::Id("message-action")).await.unwrap();
    assert!(
        !action.is_enabled().await.unwrap(),
        "the action waits for the allowance to come back"
    );
    screenshot(&client, "too-fast-es").await;
    client.close().await.unwrap();
}

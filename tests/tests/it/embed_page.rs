//! The capture page embedded in an integrator's own page, in a real browser:
//! a host page served on another origin mounts it with `/validate/embed.js`;
//! an allowed origin gets the whole flow inside the iframe (fake camera
//! included) and hears its progress and outcome by `postMessage`, never the
//! token; an origin the project does not name is refused by the browser.

use std::time::Duration;

use bv_contract::EmbedOrigin;
use bv_e2e::browser::{Browser, TestMedia, click, heading_contains, screenshot, visible};
use bv_e2e::{TestApp, seed_request};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

const CLIENT: &str = "c1";
const PROJECT: &str = "project_123456789";
const SHORT: Duration = Duration::from_secs(10);
/// A whole attempt: challenge, three countdowns, the engine's decision.
const ATTEMPT: Duration = Duration::from_secs(60);

/// The integrator's page, on its own origin: it loads the service's
/// `embed.js` and mounts the link given in its query, keeping every event
/// (and every raw message the window receives) for the test to read.
const HOST_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Integrator</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>Acme onboarding</h1>
<p>Outcome: <b id="outcome">waiting</b></p>
<div id="verify"></div>
<script src="SERVICE/validate/embed.js"></script>
<script>
  window.events = [];
  window.raw = [];
  window.addEventListener('message', (m) => window.raw.push({ origin: m.origin, data: m.data }));
  BiometricValidation.mount(document.getElementById('verify'), {
    url: new URLSearchParams(location.search).get('link'),
    height: '560px',
    onEvent: (event) => window.events.push(event),
    onOutcome: (event) => { document.getElementById('outcome').textContent = event.status; },
  });
</script>
</body></html>"#;

/// Serves [`HOST_PAGE`] at `/host` on 127.0.0.1 (another port: another
/// origin than the service's); its origin.
async fn host_page(service: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let html = HOST_PAGE.replace("SERVICE", service);
    let router = axum::Router::new().route(
        "/host",
        axum::routing::get(move || async move { axum::response::Html(html) }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

async fn app_allowing(origins: &[&str]) -> TestApp {
    let app = TestApp::spawn().await;
    app.seed(CLIENT, PROJECT, "flow_123456789", "onboarding")
        .await;
    let origins: Vec<EmbedOrigin> = origins
        .iter()
        .map(|o| EmbedOrigin::parse(o).unwrap())
        .collect();
    bv_store::projects::set_embed_origins(&app.db, PROJECT, &origins)
        .await
        .unwrap()
        .expect("the project");
    app
}

/// The host page showing `link`.
fn hosting(host: &str, link: &str) -> String {
    let mut url = url::Url::parse(&format!("{host}/host")).unwrap();
    url.query_pairs_mut().append_pair("link", link);
    url.into()
}

async fn events(client: &Client, which: &str) -> Vec<Value> {
    let got = client
        .execute(&format!("return window.{which};"), vec![])
        .await
        .unwrap();
    got.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_site_runs_the_capture_in_a_frame_and_hears_the_outcome() {
    let app = TestApp::spawn().await;
    app.seed(CLIENT, PROJECT, "flow_123456789", "onboarding")
        .await;
    let host = host_page(&app.base_url).await;
    let back = crate::browser::integrator_page().await;
    let mut body = seed_request();
    body["redirectUrl"] = back.into();
    let started = app.start(CLIENT, &body).await;
    let page = format!("{}/validate/{}", app.base_url, started.id);

    // Framed by no one until the project names the host's origin.
    let headers = app.http.get(&page).send().await.unwrap();
    let csp = headers.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let origin = EmbedOrigin::parse(&host).unwrap();
    bv_store::projects::set_embed_origins(&app.db, PROJECT, &[origin])
        .await
        .unwrap();
    let response = app.http.get(&page).send().await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains(&format!("frame-ancestors {host};")), "{csp}");
    let script = app
        .http
        .get(format!("{}/validate/embed.js", app.base_url))
        .send()
        .await
        .unwrap();
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    let media = TestMedia::make();
    let browser = Browser::start().await;
    let client = browser.session(Some(&media.camera)).await;
    let link = format!("{page}#token={}", started.token);
    client.goto(&hosting(&host, &link)).await.unwrap();
    let frame = visible(&client, "#verify iframe", SHORT).await;
    assert_eq!(
        frame.attr("allow").await.unwrap().as_deref(),
        Some(format!("camera {}", app.base_url).as_str())
    );
    frame.enter_frame().await.unwrap();
    click(&client, "#start", SHORT).await;
    visible(&client, "#view-camera", SHORT).await;
    client.enter_parent_frame().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    screenshot(&client, "embedded-camera").await;
    let frame = client.find(Locator::Css("#verify iframe")).await.unwrap();
    frame.enter_frame().await.unwrap();
    click(&client, "#shoot", SHORT).await;
    heading_contains(&client, "You're verified", ATTEMPT).await;
    // Inside the frame it stays on the page: no redirect, no continue link.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // (WebDriver's current URL is the top window's: ask the frame.)
    let inside = client
        .execute("return location.pathname;", vec![])
        .await
        .unwrap();
    assert_eq!(inside, json!(format!("/validate/{}", started.id)));
    assert!(
        !client
            .find(Locator::Css("#continue"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    client.enter_parent_frame().await.unwrap();

    // The host page heard every step and the outcome, from the service's
    // origin, about this validation only; the token never left the frame.
    let outcome = client.find(Locator::Id("outcome")).await.unwrap();
    assert_eq!(outcome.text().await.unwrap(), "validated");
    assert_eq!(client.current_url().await.unwrap().path(), "/host");
    screenshot(&client, "embedded-verified").await;
    let heard = events(&client, "events").await;
    let names: Vec<&str> = heard.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names.first(), Some(&"ready"), "{names:?}");
    for expected in ["started", "step", "sending", "outcome"] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    assert_eq!(names.last(), Some(&"outcome"), "{names:?}");
    assert_eq!(heard.last().unwrap()["status"], "validated");
    for event in &heard {
        assert_eq!(event["validationId"], started.id.as_str(), "{event}");
        assert_eq!(event["source"], "biometric-validation");
    }
    let raw = events(&client, "raw").await;
    assert_eq!(raw.len(), heard.len(), "every message came from the frame");
    for message in &raw {
        assert_eq!(message["origin"], app.base_url.as_str(), "{message}");
        let text = message.to_string();
        assert!(
            !text.contains(&started.token),
            "the token was posted: {text}"
        );
        assert!(!text.contains("base64") && text.len() < 1000, "{text}");
    }
    let steps = heard.iter().filter(|e| e["event"] == "step").count();
    assert_eq!(
        heard.iter().find(|e| e["event"] == "step").unwrap()["of"],
        json!(steps),
        "one step event per step of the challenge"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_the_project_does_not_name_cannot_frame_the_page() {
    let app = app_allowing(&["https://app.example.com"]).await;
    let host = host_page(&app.base_url).await;
    let started = app.start(CLIENT, &seed_request()).await;
    let link = format!(
        "{}/validate/{}#token={}",
        app.base_url, started.id, started.token
    );
    let response = app
        .http
        .get(link.split('#').next().unwrap())
        .send()
        .await
        .unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors https://app.example.com;"),
        "{csp}"
    );

    let browser = Browser::start().await;
    let client = browser.session(None).await;
    client.goto(&hosting(&host, &link)).await.unwrap();
    let frame = visible(&client, "#verify iframe", SHORT).await;
    // Long enough for the page to load and say `ready` were it allowed
    // (the allowed case above says it within a second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    screenshot(&client, "embedded-refused").await;
    assert!(
        events(&client, "raw").await.is_empty(),
        "the refused frame posted nothing"
    );
    frame.enter_frame().await.unwrap();
    assert!(
        client.find(Locator::Css("#start")).await.is_err(),
        "the browser showed the page to a site the project does not name"
    );
    client.close().await.unwrap();
}

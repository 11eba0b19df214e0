//! Rate limits and load shedding (README "Rate limits"): per session, per
//! client address (the trusted proxy header only when configured), per
//! client, validate requests in flight, the metric that counts them, and a
//! bad setting stopping the ingress. Limits are made small by settings
//! ("N/h" refills nothing within a test), so no test floods or times anything.

use std::time::Duration;

use bv_e2e::journey::jpeg;
use bv_e2e::slow_body::SlowValidate;
use bv_e2e::{Options, SIGNING_KEYS, TestApp, reserve_port, seed_request};
use reqwest::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metrics::{family, sample, scrape};
use crate::support::spawn_ingress;

const CLIENT: &str = "client_123456789";
const PROJECT: &str = "project_123456789";
const FLOW: &str = "flow_123456789";

/// The seed's request for `identifier`, without email or webhook.
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

async fn app_with(settings: &[(&'static str, &str)]) -> TestApp {
    let mut options = Options::default();
    for (key, value) in settings {
        options = options.with(key, *value);
    }
    let app = TestApp::spawn_with(options).await;
    app.seed(CLIENT, PROJECT, FLOW, "login").await;
    app
}

/// `GET <base>/v2/biometric-validations/{id}` (the page's view) with
/// `token` and extra headers.
async fn view(
    app: &TestApp,
    base: &str,
    token: &str,
    id: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = app
        .http
        .get(format!("{base}/v2/biometric-validations/{id}"))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn challenge(app: &TestApp, token: &str, id: &str) -> Response {
    app.get(token, &format!("/v2/biometric-validations/{id}/challenge"))
        .await
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

/// A `429` with the service's error body, `Retry-After` and the
/// `RateLimit-*` fields of a limit of `burst` refilled one an hour; the
/// error sentence.
async fn assert_limited(response: Response, burst: u32) -> String {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((3000..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&response, "ratelimit-limit"), burst.to_string());
    assert_eq!(header(&response, "ratelimit-remaining"), "0");
    assert_eq!(
        header(&response, "ratelimit-reset"),
        retry_after.to_string()
    );
    assert_eq!(
        header(&response, "ratelimit-policy"),
        format!("{burst};w={}", burst * 3600)
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "RATE_LIMITED", "{body}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    body["error"].as_str().unwrap().to_owned()
}

/// `bv_ingress_rate_limited_total{scope}` as the reference parser reads it.
async fn limited(base: &str, scope: &str) -> f64 {
    let families = scrape(&format!("{base}/metrics")).await;
    let counter = family(&families, "bv_ingress_rate_limited", "counter");
    sample(
        counter,
        "bv_ingress_rate_limited_total",
        &[("scope", scope)],
    )
    .unwrap_or_else(|| panic!("no sample for scope {scope}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_sessions_flood_is_refused_while_another_user_is_served() {
    let app = app_with(&[
        ("rate_limits.session_rate", "1/h"),
        ("rate_limits.session_burst", "3"),
        ("rate_limits.ip_rate", "off"),
    ])
    .await;
    let flooder = app.start(CLIENT, &request("flood@example.com")).await;
    let other = app.start(CLIENT, &request("other@example.com")).await;

    // The burst is served, each answer saying what is left of it.
    for left in ["2", "1", "0"] {
        let response = challenge(&app, &flooder.token, &flooder.id).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "ratelimit-limit"), "3");
        assert_eq!(header(&response, "ratelimit-remaining"), left);
        assert_eq!(header(&response, "ratelimit-policy"), "3;w=10800");
    }
    // Then every end user's endpoint of that validation is refused…
    let error = assert_limited(challenge(&app, &flooder.token, &flooder.id).await, 3).await;
    assert!(
        error.starts_with("Too many requests for this biometric validation; retry in "),
        "{error}"
    );
    let validate = app
        .http
        .post(format!(
            "{}/v2/biometric-validations/validate",
            app.base_url
        ))
        .bearer_auth(&flooder.token)
        .json(&json!({"os": "web", "image": jpeg()}))
        .send()
        .await
        .unwrap();
    assert_limited(validate, 3).await;
    assert_limited(
        view(&app, &app.base_url, &flooder.token, &flooder.id, &[]).await,
        3,
    )
    .await;
    // …also with another token for the same validation: the limit is the
    // verified session's, not the token text's.
    let now = chrono::Utc::now().timestamp();
    let minted = bv_signing::KeySet::parse(SIGNING_KEYS)
        .unwrap()
        .issue_session(&flooder.id, now - 5, now + 600);
    assert_ne!(minted, flooder.token);
    assert_limited(challenge(&app, &minted, &flooder.id).await, 3).await;

    // Another person's validation is served throughout.
    let (status, answer) = app.pass_challenge(&other, &jpeg()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["status"], "validated");
    // A token that does not verify counts for no session: the handler says why.
    let forged = bv_signing::KeySet::parse(&bv_signing::KeySet::generate_entry("test-1").unwrap())
        .unwrap()
        .issue_session(&flooder.id, now - 5, now + 600);
    let (status, body) = app.challenge(&forged, &flooder.id).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHORIZED")));

    assert_eq!(limited(&app.base_url, "session").await, 4.0);
    assert_eq!(limited(&app.base_url, "ip").await, 0.0);
    assert_eq!(limited(&app.base_url, "in_flight").await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_address_is_the_trusted_headers_rightmost_one() {
    let app = app_with(&[
        ("http.client_ip_header", "X-Forwarded-For"),
        ("rate_limits.ip_rate", "1/h"),
        ("rate_limits.ip_burst", "2"),
        ("rate_limits.session_rate", "off"),
    ])
    .await;
    let s = app.start(CLIENT, &request("ip@example.com")).await;
    let base = &app.base_url;
    let xff = |value: &'static str| [("x-forwarded-for", value)];

    for _ in 0..2 {
        let response = view(
            &app,
            base,
            &s.token,
            &s.id,
            &xff("198.51.100.7, 203.0.113.1"),
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    // The proxy appended 203.0.113.1: what the caller wrote before it is not believed.
    let spoofed = view(&app, base, &s.token, &s.id, &xff("192.0.2.99, 203.0.113.1")).await;
    let error = assert_limited(spoofed, 2).await;
    assert!(
        error.starts_with("Too many requests from this address"),
        "{error}"
    );
    // Another address (the same session) has a bucket of its own, and so
    // has the proxy's own address when it sends no header.
    let other = view(&app, base, &s.token, &s.id, &xff("203.0.113.2")).await;
    assert_eq!(other.status(), 200);
    assert_eq!(header(&other, "ratelimit-remaining"), "1");
    assert_eq!(view(&app, base, &s.token, &s.id, &[]).await.status(), 200);
    // The challenge is counted per address too; a client token's read is not.
    assert_limited(
        app.http
            .get(format!(
                "{base}/v2/biometric-validations/{}/challenge",
                s.id
            ))
            .bearer_auth(&s.token)
            .header("x-forwarded-for", "203.0.113.1")
            .send()
            .await
            .unwrap(),
        2,
    )
    .await;
    let client_read = view(&app, base, &app.token(CLIENT), &s.id, &xff("203.0.113.1")).await;
    assert_eq!(client_read.status(), 200);
    assert_eq!(limited(base, "ip").await, 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_refused_per_validation_spends_nothing_of_its_address() {
    let app = app_with(&[
        ("rate_limits.session_rate", "1/h"),
        ("rate_limits.session_burst", "1"),
        ("rate_limits.ip_rate", "1/h"),
        ("rate_limits.ip_burst", "2"),
    ])
    .await;
    let first = app.start(CLIENT, &request("first@example.com")).await;
    let second = app.start(CLIENT, &request("second@example.com")).await;
    let base = &app.base_url;
    assert_eq!(
        view(&app, base, &first.token, &first.id, &[])
            .await
            .status(),
        200
    );
    // Refused by its validation's limit, before the address's is touched…
    let error = assert_limited(view(&app, base, &first.token, &first.id, &[]).await, 1).await;
    assert!(error.contains("for this biometric validation"), "{error}");
    // …so another person at the same address still has its second request.
    let other = view(&app, base, &second.token, &second.id, &[]).await;
    assert_eq!(other.status(), 200);
    assert_eq!(header(&other, "ratelimit-remaining"), "0");
    let third = challenge(&app, &first.token, &first.id).await;
    let error = assert_limited(third, 1).await;
    assert!(error.contains("for this biometric validation"), "{error}");
    // A token that does not verify counts for its address only.
    let forged = bv_signing::KeySet::parse(&bv_signing::KeySet::generate_entry("test-1").unwrap())
        .unwrap()
        .issue_session(&second.id, 0, 4_000_000_000);
    let error = assert_limited(challenge(&app, &forged, &second.id).await, 2).await;
    assert!(error.contains("from this address"), "{error}");
    assert_eq!(limited(base, "session").await, 2.0);
    assert_eq!(limited(base, "ip").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_setting_the_header_is_not_believed() {
    // The real bv-ingress binary, beside the app's own ingress.
    let app = app_with(&[]).await;
    let s = app.start(CLIENT, &request("noheader@example.com")).await;
    let port = reserve_port();
    let _ingress = spawn_ingress(
        &app,
        port,
        &[
            ("rate_limits.ip_rate", "1/h".into()),
            ("rate_limits.ip_burst", "2".into()),
        ],
        &[],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let xff = |value: &'static str| [("x-forwarded-for", value)];
    // Every caller here is 127.0.0.1, whatever it writes in the header.
    for address in ["203.0.113.1", "203.0.113.2"] {
        let response = view(&app, &base, &s.token, &s.id, &xff(address)).await;
        assert_eq!(response.status(), 200);
    }
    let third = view(&app, &base, &s.token, &s.id, &xff("203.0.113.3")).await;
    assert_limited(third, 2).await;
    assert_eq!(limited(&base, "ip").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_api_is_limited_per_client() {
    let app = app_with(&[
        ("rate_limits.client_rate", "1/h"),
        ("rate_limits.client_burst", "2"),
    ])
    .await;
    app.seed("another_client", "project_other", "flow_other", "login")
        .await;
    let token = app.token(CLIENT);
    assert_eq!(
        app.post(&token, &request("a@example.com")).await.status(),
        201
    );
    let list = app.get(&token, "/v2/biometric-validations").await;
    assert_eq!(list.status(), 200);
    assert_eq!(header(&list, "ratelimit-remaining"), "0");
    let error = assert_limited(app.post(&token, &request("b@example.com")).await, 2).await;
    assert!(
        error.starts_with("Too many requests for this client"),
        "{error}"
    );
    // Another client is served.
    let mut body = request("c@example.com");
    body["project"] = json!("project_other");
    body["projectFlow"] = json!("flow_other");
    assert_eq!(
        app.post(&app.token("another_client"), &body).await.status(),
        201
    );
    assert_eq!(limited(&app.base_url, "client").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_requests_past_the_in_flight_limit_are_shed() {
    let app = app_with(&[
        ("rate_limits.validate_in_flight", "1"),
        ("rate_limits.session_rate", "off"),
    ])
    .await;
    app.make_passive(FLOW).await;
    let held = app.start(CLIENT, &request("held@example.com")).await;
    let probe = app.start(CLIENT, &request("probe@example.com")).await;

    // One validate whose body arrives slowly: half of it now, and the
    // request holds the only slot while it waits for the rest.
    let mut slow = SlowValidate::start(&app.base_url, &held.token).await;

    // Once the ingress has it, another validate is shed before its body is
    // read. (Until then a probe is served: an incomplete body is a 400.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let shed = loop {
        let response = app
            .http
            .post(format!(
                "{}/v2/biometric-validations/validate",
                app.base_url
            ))
            .bearer_auth(&probe.token)
            .json(&json!({"os": "web"}))
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            break response;
        }
        assert_eq!(response.status(), 400);
        assert!(
            tokio::time::Instant::now() < deadline,
            "a second validate was never shed"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(header(&shed, "retry-after"), "5");
    let error: Value = shed.json().await.unwrap();
    assert_eq!(error["code"], "SERVICE_UNAVAILABLE", "{error}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("too many validate requests"),
        "{error}"
    );

    // The held request completes, and its slot is free again.
    slow.stream.write_all(&slow.rest).await.unwrap();
    let mut answer = String::new();
    slow.stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (status, decided) = app
        .validate(&probe.token, &json!({"os": "web", "image": jpeg()}))
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(limited(&app.base_url, "in_flight").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_rate_limit_setting_stops_the_ingress_naming_it() {
    let base = bv_e2e::overrides("postgres://postgres@127.0.0.1:5432/unused", "rlunused");
    for (key, value, named) in [
        (
            "rate_limits.session_rate",
            "fast",
            "BV__RATE_LIMITS__SESSION_RATE",
        ),
        ("rate_limits.ip_burst", "0", "BV__RATE_LIMITS__IP_BURST"),
        (
            "rate_limits.validate_in_flight",
            "0",
            "BV__RATE_LIMITS__VALIDATE_IN_FLIGHT",
        ),
        (
            "http.client_ip_header",
            "x forwarded for",
            "BV__HTTP__CLIENT_IP_HEADER",
        ),
        ("rate_limits.client_bursts", "10", "client_bursts"),
    ] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bv-ingress"));
        for (k, v) in &base {
            command.env(bv_runtime::settings::env_var(k), v);
        }
        let output = tokio::time::timeout(
            Duration::from_secs(20),
            command
                .env(bv_runtime::settings::env_var(key), value)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("the ingress stops at once")
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(named), "{key}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosted_page_is_limited_per_address_and_says_so_in_the_readers_language() {
    let app = app_with(&[
        ("rate_limits.ip_burst", "3"),
        ("rate_limits.ip_rate", "1/min"),
        ("http.client_ip_header", "x-forwarded-for"),
    ])
    .await;
    let id = app.create(CLIENT, &request("paged@example.com")).await;
    let page = |address: &'static str| {
        app.http
            .get(format!("{}/validate/{id}", app.base_url))
            .header("x-forwarded-for", address)
            .header("accept-language", "es")
            .send()
    };
    for _ in 0..3 {
        assert_eq!(page("198.51.100.7").await.unwrap().status(), 200);
    }
    let refused = page("198.51.100.7").await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        header(&refused, "content-type").starts_with("text/html"),
        "a page, not the API's JSON"
    );
    let text = refused.text().await.unwrap();
    assert!(text.contains("Vuelve a intentarlo en un momento"), "{text}");
    // Another reader is served.
    assert_eq!(page("203.0.113.9").await.unwrap().status(), 200);
}

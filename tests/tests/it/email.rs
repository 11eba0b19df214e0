//! The validation email, through a real SMTP server.

use std::time::Duration;

use bv_e2e::{Options, SmtpServer, TestApp, eventually, reserve_port, seed_request};
use serde_json::{Value, json};

const CLIENT: &str = "client_123456789";

fn email_request(email: &str, language: &str) -> Value {
    let mut body = seed_request();
    body.as_object_mut().unwrap().remove("webhookUrl");
    body["email"] = json!(email);
    body["language"] = json!(language);
    body
}

async fn app_with_smtp(port: u16) -> TestApp {
    let app = TestApp::spawn_with(
        Options::dispatching()
            .with("email.transport", "smtp")
            .with("email.smtp_url", format!("smtp://127.0.0.1:{port}"))
            .with("email.from", "Verifications <verify@example.com>"),
    )
    .await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn the_email_arrives_in_the_requests_language_with_the_pages_link() {
    let smtp = SmtpServer::start_on(reserve_port()).await;
    let app = app_with_smtp(smtp.port).await;

    let es = app
        .start(CLIENT, &email_request("ana@example.com", "es"))
        .await;
    let en = app
        .start(CLIENT, &email_request("bob@example.com", "en"))
        .await;
    let mail = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(mail.len(), 2);
    let to = |m: &Value| m["to"][0].as_str().unwrap().to_owned();
    let ana = mail
        .iter()
        .find(|m| to(m) == "ana@example.com")
        .expect("ana's email");
    let bob = mail
        .iter()
        .find(|m| to(m) == "bob@example.com")
        .expect("bob's email");

    assert_eq!(ana["subject"], "Verifica tu identidad");
    assert_eq!(bob["subject"], "Verify your identity");
    assert_eq!(ana["from"], "verify@example.com");
    for (m, started) in [(ana, &es), (bob, &en)] {
        // The create answer's `url`: the page, with the session token.
        let (id, link) = (&started.id, &started.url);
        assert_eq!(
            link,
            &format!("https://verify.example.com/bv/{id}#token={}", started.token)
        );
        assert!(m["text"].as_str().unwrap().contains(link), "{}", m["text"]);
        assert!(
            m["html"]
                .as_str()
                .unwrap()
                .contains(&format!("href=\"{link}\"")),
            "{}",
            m["html"]
        );
        let d = app
            .settled_deliveries(CLIENT, id, Duration::from_secs(5))
            .await;
        assert_eq!(d[0]["channel"], "email");
        assert_eq!(d[0]["status"], "succeeded");
        assert_eq!(d[0]["history"][0]["responseStatus"], 250);
        assert!(
            m["message_id"]
                .as_str()
                .unwrap()
                .contains(d[0]["_id"].as_str().unwrap())
        );
    }
    assert!(ana["text"].as_str().unwrap().contains("Hola"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_server_that_is_down_then_up_gets_the_email() {
    let port = reserve_port();
    let app = app_with_smtp(port).await;
    let id = app
        .create(CLIENT, &email_request("ana@example.com", "en"))
        .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.deliveries(CLIENT, &id).await[0]["attempts"]
                .as_i64()
                .unwrap_or(0)
                >= 2
        })
        .await,
        "retried while the SMTP server was down"
    );
    let smtp = SmtpServer::start_on(port).await;
    let mail = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(mail.len(), 1);
    let d = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(5))
        .await;
    assert_eq!(d[0]["status"], "succeeded");
    assert!(
        d[0]["history"][0]["error"]
            .as_str()
            .unwrap()
            .contains("SMTP")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_smtp_rejection_ends_retries() {
    let smtp = SmtpServer::start_on(reserve_port()).await;
    let app = app_with_smtp(smtp.port).await;
    let id = app
        .create(CLIENT, &email_request("reject@example.com", "en"))
        .await;
    let d = app
        .settled_deliveries(CLIENT, &id, Duration::from_secs(10))
        .await;
    assert_eq!(d[0]["status"], "failed");
    assert_eq!(d[0]["attempts"], 1, "a 5xx is not retried");
    assert_eq!(d[0]["lastStatus"], 550);
    assert!(smtp.messages().is_empty());
}

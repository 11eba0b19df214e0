//! Commands published straight to RabbitMQ, as upstream services do.

use std::time::Duration;

use bv_contract::amqp::{DEAD_CODE_HEADER, DEAD_REASON_HEADER};
use bv_e2e::{AMQP_URL, TestApp, eventually, seed_request};
use lapin::options::BasicGetOptions;
use lapin::{Connection, ConnectionProperties};
use serde_json::{Value, json};

fn command(client: &str) -> Vec<u8> {
    let mut body = seed_request().as_object().unwrap().clone();
    body.insert("client".into(), json!(client));
    serde_json::to_vec(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_published_without_the_ingress_is_persisted_and_readable() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let id = uuid::Uuid::now_v7().to_string();
    app.publish_raw(Some(&id), &command("c1")).await;

    let token = app.token("c1");
    let path = format!("/v2/biometric-validations/{id}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.get(&token, &path).await.status() == 200
        })
        .await
    );
    let got: Value = app.get(&token, &path).await.json().await.unwrap();
    assert_eq!(got["data"]["_id"], id.as_str());
    assert_eq!(got["data"]["client"], "c1");
    assert_eq!(got["data"]["identifier"], "user@example.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_message_id_delivered_twice_yields_one_row() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let names = app.prefix.names();
    let id = uuid::Uuid::now_v7().to_string();

    let first = bv_e2e::request_reply(&names, &id, &command("c1"))
        .await
        .unwrap();
    assert_eq!(first.outcome, "created");
    assert_eq!(
        first.body["type"], "created",
        "the body names its outcome too"
    );
    let second = bv_e2e::request_reply(&names, &id, &command("c1"))
        .await
        .unwrap();
    assert_eq!(
        second.outcome, "replayed",
        "the second copy was recognised as a redelivery"
    );
    assert_eq!(second.body["type"], "replayed");
    assert_eq!(
        second.body["data"], first.body["data"],
        "answered with the stored record"
    );

    assert_eq!(app.count().await, 1);
    assert_eq!(
        bv_e2e::count_rows(&app.db, "deliveries").await,
        2,
        "one email and one webhook, none for the duplicate"
    );
    assert_eq!(
        dead_letters(&app).await.len(),
        0,
        "a redelivery is not poison"
    );

    // The same id with another body is a reuse, not a retry.
    let mut other = seed_request().as_object().unwrap().clone();
    other.insert("client".into(), json!("c1"));
    other.insert("identifier".into(), json!("someone-else"));
    let reused = bv_e2e::request_reply(&names, &id, &serde_json::to_vec(&other).unwrap())
        .await
        .unwrap();
    assert_eq!(reused.outcome, "rejected");
    assert_eq!(reused.body["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(app.count().await, 1);
}

/// Drains the app's dead-letter queue: (code, reason, body) of each message.
async fn dead_letters(app: &TestApp) -> Vec<(String, String, Vec<u8>)> {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut out = Vec::new();
    let queue = app.prefix.names().create_dead_queue;
    while let Some(msg) = ch
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        let headers = msg.delivery.properties.headers().as_ref();
        let code = bv_runtime::amqp::header_str(headers, DEAD_CODE_HEADER).unwrap_or_default();
        let reason = bv_runtime::amqp::header_str(headers, DEAD_REASON_HEADER).unwrap_or_default();
        out.push((code, reason, msg.delivery.data.clone()));
    }
    let _ = conn.close(200, "bye".into()).await;
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_are_dead_lettered_with_their_reason_and_later_messages_still_work() {
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;

    app.publish_raw(Some(&uuid::Uuid::now_v7().to_string()), b"{not json")
        .await;
    app.publish_raw(None, &command("c1")).await;
    app.publish_raw(Some("not-a-uuid"), &command("c1")).await;
    let mut unknown_field = seed_request().as_object().unwrap().clone();
    unknown_field.insert("client".into(), json!("c1"));
    unknown_field.insert("projectflow".into(), json!("x"));
    app.publish_raw(
        Some(&uuid::Uuid::now_v7().to_string()),
        &serde_json::to_vec(&unknown_field).unwrap(),
    )
    .await;
    app.publish_raw(
        Some(&uuid::Uuid::now_v7().to_string()),
        &command("someone-else"),
    )
    .await;

    let good = uuid::Uuid::now_v7().to_string();
    app.publish_raw(Some(&good), &command("c1")).await;
    let token = app.token("c1");
    let path = format!("/v2/biometric-validations/{good}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.get(&token, &path).await.status() == 200
        })
        .await,
        "the consumer kept going after the poison"
    );

    let mut dead = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while dead.len() < 5 && tokio::time::Instant::now() < deadline {
        dead.extend(dead_letters(&app).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Consumers work in parallel: compare as sets, not in publishing order.
    let mut codes: Vec<&str> = dead.iter().map(|(c, _, _)| c.as_str()).collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        vec![
            "INVALID_FIELD",
            "INVALID_JSON",
            "INVALID_PROJECT",
            "MISSING_FIELD",
            "UNKNOWN_FIELD"
        ]
    );
    let reason = |code: &str| dead.iter().find(|(c, _, _)| c == code).unwrap().1.clone();
    let body = |code: &str| dead.iter().find(|(c, _, _)| c == code).unwrap().2.clone();
    assert!(
        reason("MISSING_FIELD").contains("message_id"),
        "{}",
        reason("MISSING_FIELD")
    );
    assert!(
        reason("UNKNOWN_FIELD").contains("projectflow"),
        "{}",
        reason("UNKNOWN_FIELD")
    );
    assert!(
        reason("INVALID_FIELD").contains("not-a-uuid"),
        "{}",
        reason("INVALID_FIELD")
    );
    assert_eq!(
        body("INVALID_JSON"),
        b"{not json",
        "the original body is kept"
    );
    assert_eq!(app.count().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_is_retried_with_backoff_and_loses_nothing() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    // The table disappears: every attempt to persist fails until it is back.
    app.db
        .execute_unprepared("ALTER TABLE deliveries RENAME TO deliveries_away")
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    app.publish_raw(Some(&id), &command("c1")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.count().await,
        0,
        "nothing half-written while the outbox is unavailable"
    );
    app.db
        .execute_unprepared("ALTER TABLE deliveries_away RENAME TO deliveries")
        .await
        .unwrap();

    assert!(
        eventually(Duration::from_secs(15), || async { app.count().await == 1 }).await,
        "persisted once the database is back"
    );
    assert_eq!(bv_e2e::count_rows(&app.db, "deliveries").await, 2);
    assert!(
        dead_letters(&app).await.is_empty(),
        "an outage is not poison"
    );
}

fn incoming(identifier: &str) -> bv_worker::persist::Incoming {
    let mut body = seed_request().as_object().unwrap().clone();
    body.insert("client".into(), json!("c1"));
    body.insert("identifier".into(), json!(identifier));
    let command = bv_contract::CreateCommand::decode(
        &serde_json::to_vec(&body).unwrap(),
        bv_contract::request::Expiry::AnyTime,
    )
    .unwrap();
    bv_worker::persist::Incoming {
        id: uuid::Uuid::now_v7(),
        fingerprint: bv_contract::idempotency::fingerprint(&command.client, &command.request),
        command,
        trace: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_the_database_refuses_fails_alone_not_its_batch() {
    use bv_worker::persist::{Outcome, persist_isolating};
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn_with(bv_e2e::Options::default().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    // A rule only the database knows, refusing one of the commands.
    app.db
        .execute_unprepared(
            "ALTER TABLE biometric_validations ADD CONSTRAINT refuses_poison CHECK (identifier <> 'poison')",
        )
        .await
        .unwrap();

    let batch = [incoming("a"), incoming("poison"), incoming("b")];
    let outcomes = persist_isolating(&app.db, &batch, chrono::Utc::now())
        .await
        .unwrap();
    assert!(matches!(outcomes[0], Outcome::Created(_)));
    // A fault, not the client's: its detail is for operators (log, dead letter) only.
    assert!(
        matches!(&outcomes[1], Outcome::Failed(detail) if detail.contains("refuses_poison")),
        "{:?}",
        outcomes[1]
    );
    assert!(matches!(outcomes[2], Outcome::Created(_)));
    assert_eq!(app.count().await, 2, "the others were stored");
    assert_eq!(bv_e2e::count_rows(&app.db, "deliveries").await, 4);

    // When every command is refused, the database is at fault: the batch is retried.
    let all_refused = [incoming("poison"), incoming("poison")];
    assert!(
        persist_isolating(&app.db, &all_refused, chrono::Utc::now())
            .await
            .is_err()
    );
    assert_eq!(app.count().await, 2);
}

//! The bare baselines: the same I/O as the service, without the service.
//!
//! - [`persist`]: what bv-worker's create path does to the broker and the
//!   database, with plain lapin and plain SQL, shaped like the worker
//!   ([`Shape`]: as many consumers, batches and prefetch): each consumer
//!   takes a batch of messages, reads the fields out of each JSON body,
//!   writes them with one multi-row `INSERT … SELECT … FROM UNNEST(…) ON
//!   CONFLICT (id) DO NOTHING` into `biometric_validations` of a fresh
//!   database (the same columns, indexes and foreign keys, since it is the
//!   same migration), and acks the batch with one `multiple` ack. No
//!   checks, no replies, no tracing, no metrics.
//! - [`confirmed_publish`]: one publisher-confirmed message at a time per
//!   task, as the ingress publishes one create command per request.
//! - [`sink`]: a plain HTTP client posting signed-size bodies to the same
//!   receiver the dispatcher sends to, at the dispatcher's concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bv_contract::amqp::Names;
use bv_e2e::AMQP_URL;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use serde_json::Value as Json;

const INSERT: &str = r#"
INSERT INTO biometric_validations (id, client, project, project_flow, status, identifier,
    type, expires_at, redirect_url, webhook_url, requires_2fa, ip_address, send_via_email,
    email, language, request_hash, attempts, created_at, updated_at)
SELECT v.id, v.client, v.project, v.project_flow, 'new', v.identifier, v.type,
    NULLIF(v.expires_at, 'epoch'::timestamptz), NULLIF(v.redirect_url, ''),
    NULLIF(v.webhook_url, ''), v.requires_2fa, NULLIF(v.ip_address, ''),
    v.send_via_email, NULLIF(v.email, ''), v.language, v.request_hash, 0, now(), now()
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::timestamptz[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::bool[],
    $13::text[], $14::text[], $15::text[])
    AS v(id, client, project, project_flow, identifier, type, expires_at, redirect_url,
        webhook_url, requires_2fa, ip_address, send_via_email, email, language, request_hash)
ON CONFLICT (id) DO NOTHING
"#;

/// Columns of one batch, as the statement takes them.
#[derive(Default)]
struct Columns {
    id: Vec<uuid::Uuid>,
    client: Vec<String>,
    project: Vec<String>,
    flow: Vec<String>,
    identifier: Vec<String>,
    kind: Vec<String>,
    /// The epoch where absent (arrays of parameters cannot hold NULLs).
    expires_at: Vec<chrono::DateTime<chrono::Utc>>,
    /// "" where absent, likewise.
    redirect_url: Vec<String>,
    webhook_url: Vec<String>,
    requires_2fa: Vec<bool>,
    ip_address: Vec<String>,
    send_via_email: Vec<bool>,
    email: Vec<String>,
    language: Vec<String>,
    request_hash: Vec<String>,
}

impl Columns {
    fn push(&mut self, id: uuid::Uuid, body: &Json) {
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        let opt = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        self.id.push(id);
        self.client.push(text("client"));
        self.project.push(text("project"));
        self.flow.push(text("projectFlow"));
        self.identifier.push(text("identifier"));
        self.kind.push(text("type"));
        self.expires_at.push(
            body["expiresAt"]
                .as_str()
                .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .unwrap_or_default(),
        );
        self.redirect_url.push(opt("redirectUrl"));
        self.webhook_url.push(opt("webhookUrl"));
        self.requires_2fa
            .push(body["requires2FA"].as_bool().unwrap_or(false));
        self.ip_address.push(opt("ipAddress"));
        self.send_via_email
            .push(body["sendViaEmail"].as_bool().unwrap_or(false));
        self.email.push(opt("email"));
        self.language
            .push(body["language"].as_str().unwrap_or("en").to_owned());
        self.request_hash.push(String::new());
    }

    fn values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.client.into(),
            self.project.into(),
            self.flow.into(),
            self.identifier.into(),
            self.kind.into(),
            self.expires_at.into(),
            self.redirect_url.into(),
            self.webhook_url.into(),
            self.requires_2fa.into(),
            self.ip_address.into(),
            self.send_via_email.into(),
            self.email.into(),
            self.language.into(),
            self.request_hash.into(),
        ]
    }
}

/// How the bare consumer consumes: bv-worker's own `worker.concurrency`,
/// `worker.batch_size` and `worker.prefetch`, so the two do the same I/O.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub channels: usize,
    pub batch: usize,
    pub prefetch: u16,
}

/// Drains `n` create commands from `names.create_queue` into `db`; msg/s.
pub async fn persist(
    names: &Names,
    db: &DatabaseConnection,
    n: usize,
    shape: Shape,
) -> anyhow::Result<f64> {
    let Shape {
        channels,
        batch: batch_size,
        prefetch,
    } = shape;
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..channels {
        let ch = conn.create_channel().await?;
        ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
        let mut consumer = ch
            .basic_consume(
                names.create_queue.as_str().into(),
                format!("bare-persist-{c}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let (db, done, ch) = (db.clone(), done.clone(), ch.clone());
        tasks.spawn(async move {
            let mut batch = Columns::default();
            let mut last_tag = None;
            loop {
                let next = if batch.id.is_empty() {
                    consumer.next().await.map(Some)
                } else {
                    // A part batch is written after 20 ms without news.
                    match tokio::time::timeout(Duration::from_millis(20), consumer.next()).await {
                        Ok(next) => next.map(Some),
                        Err(_) => Some(None),
                    }
                };
                match next {
                    None => break,
                    Some(Some(delivery)) => {
                        let delivery = delivery?;
                        let id = delivery
                            .properties
                            .message_id()
                            .as_ref()
                            .and_then(|m| m.as_str().parse().ok())
                            .unwrap_or_else(uuid::Uuid::now_v7);
                        let body: Json = serde_json::from_slice(&delivery.data)?;
                        batch.push(id, &body);
                        last_tag = Some(delivery.delivery_tag);
                        if batch.id.len() < batch_size {
                            continue;
                        }
                    }
                    Some(None) => {}
                }
                let count = batch.id.len();
                let values = std::mem::take(&mut batch).values();
                db.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    INSERT,
                    values,
                ))
                .await?;
                if let Some(tag) = last_tag.take() {
                    ch.basic_ack(tag, BasicAckOptions { multiple: true })
                        .await?;
                }
                if done.fetch_add(count, Ordering::SeqCst) + count >= n {
                    break;
                }
            }
            anyhow::Ok(())
        });
    }
    loop {
        if done.load(Ordering::SeqCst) >= n {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "bare persist stalled"
        );
        if let Some(joined) = tasks.try_join_next() {
            joined??;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    tasks.abort_all();
    conn.close(200, "bye".into()).await?;
    Ok(rate)
}

/// `n` messages, each published and confirmed before its task publishes the
/// next, by `concurrency` tasks on one connection (a channel each): msg/s.
/// The ingress's publish without the ingress.
pub async fn confirmed_publish(
    names: &Names,
    body: &[u8],
    n: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let setup = conn.create_channel().await?;
    bv_runtime::amqp::declare_topology(
        &setup,
        names,
        &bv_runtime::amqp::QueueLimits::with_delivery_limit(20),
    )
    .await?;
    let left = Arc::new(AtomicUsize::new(n));
    let body: Arc<[u8]> = body.into();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let ch = conn.create_channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default()).await?;
        let (left, body, exchange) = (left.clone(), body.clone(), names.commands_exchange.clone());
        tasks.spawn(async move {
            while left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                .is_ok()
            {
                let props = BasicProperties::default()
                    .with_message_id(uuid::Uuid::now_v7().to_string().into())
                    .with_content_type("application/json".into())
                    .with_delivery_mode(2)
                    .with_type(bv_contract::amqp::CREATE_MESSAGE_TYPE.into());
                let confirm = ch
                    .basic_publish(
                        exchange.as_str().into(),
                        bv_contract::amqp::CREATE_ROUTING_KEY.into(),
                        BasicPublishOptions::default(),
                        &body,
                        props,
                    )
                    .await?;
                anyhow::ensure!(confirm.await?.is_ack(), "publish not confirmed");
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = conn.close(200, "bye".into()).await;
    Ok(rate)
}

/// `n` POSTs of `body` to `url` by `concurrency` tasks over one pooled
/// client: requests/s. The receiver's own rate, for the dispatcher's row.
pub async fn sink(url: &str, body: &str, n: usize, concurrency: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let left = Arc::new(AtomicUsize::new(n));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, left, url, body) = (
            client.clone(),
            left.clone(),
            url.to_owned(),
            body.to_owned(),
        );
        tasks.spawn(async move {
            while left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                .is_ok()
            {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", "msg_bench")
                    .header("webhook-timestamp", "0")
                    .header("webhook-signature", "v1,bench")
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "{}", response.status());
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

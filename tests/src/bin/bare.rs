//! `make bench`'s bare baselines that run as processes of their own: the
//! I/O of bv-ingress, of bv-worker's create role and of its dispatcher,
//! with nothing else (no authentication, validation, tracing, metrics,
//! idempotency, outbox, signatures, retries policy or rate limits).
//!
//! ```text
//! e2e-bare http --addr 127.0.0.1:P --exchange E
//! e2e-bare consume --queue Q --database-url URL [--channels 8 --batch 250 --prefetch 500]
//! e2e-bare dispatch --database-url URL [--concurrency 32]
//! ```
//!
//! - `http`: `POST /v2/biometric-validations` parses the JSON body,
//!   publishes it (persistent, `mandatory`) to the commands exchange with the
//!   create routing key on one confirm-mode channel that also consumes the
//!   direct reply-to pseudo-queue (as the ingress does), waits for the
//!   broker's confirm, then up to 2 s for the reply, and answers `201` with
//!   it (`202` without one, `503` when the broker refuses).
//! - `consume`: as many channels as bv-worker's `worker.concurrency`, each
//!   taking what the broker has already delivered (up to the batch size, never
//!   waiting for more), writing the batch with one multi-row `INSERT`
//!   ([`bv_e2e::bare_insert`]), replying to each command that asked, then
//!   acking the batch with one `multiple` ack.
//! - `dispatch`: the outbox's bookkeeping at the dispatcher's concurrency:
//!   claims due `pending` deliveries with a lease (one `UPDATE … WHERE id IN
//!   (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING`, when half the
//!   slots are free), POSTs each payload to its target, and records the
//!   attempts together (one `UPDATE … FROM UNNEST` moving each delivery on
//!   while its lease holds, one multi-row `INSERT` of the attempts, in one
//!   transaction of up to 256).
//!
//! The queues are declared by the caller (the bench, with the service's own
//! topology).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bv_contract::amqp::{CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY, DIRECT_REPLY_TO};
use bv_e2e::AMQP_URL;
use bv_e2e::bare_insert::{Columns, INSERT};
use clap::{Parser, Subcommand};
use futures::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::Value as Json;
use tokio::sync::oneshot;

#[derive(Parser)]
#[command(about = "The bare create chain (make bench's HTTP baseline)")]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// The ingress's part: HTTP in, a confirmed publish, the reply out.
    Http {
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// The commands exchange.
        #[arg(long)]
        exchange: String,
    },
    /// The create worker's part: consume, insert, reply, ack.
    Consume {
        #[arg(long)]
        queue: String,
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 8)]
        channels: usize,
        #[arg(long, default_value_t = 250)]
        batch: usize,
        #[arg(long, default_value_t = 500)]
        prefetch: u16,
    },
    /// The dispatcher's part: claim, send, record.
    Dispatch {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Args::parse().role {
        Role::Http { addr, exchange } => http(addr, exchange).await,
        Role::Consume {
            queue,
            database_url,
            channels,
            batch,
            prefetch,
        } => consume(&queue, &database_url, channels, batch, prefetch).await,
        Role::Dispatch {
            database_url,
            concurrency,
        } => dispatch(&database_url, concurrency).await,
    }
}

/// Requests waiting for their reply, by correlation id.
type Waiting = Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>;

struct Chain {
    channel: Channel,
    exchange: String,
    waiting: Waiting,
}

async fn http(addr: std::net::SocketAddr, exchange: String) -> anyhow::Result<()> {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut replies = channel
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "bare-replies".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let chain = Arc::new(Chain {
        channel,
        exchange,
        waiting: Mutex::new(HashMap::new()),
    });
    let router = chain.clone();
    tokio::spawn(async move {
        while let Some(Ok(delivery)) = replies.next().await {
            let Some(id) = delivery.properties.correlation_id() else {
                continue;
            };
            let waiter = router
                .waiting
                .lock()
                .ok()
                .and_then(|mut w| w.remove(id.as_str()));
            if let Some(tx) = waiter {
                let _ = tx.send(delivery.data);
            }
        }
    });
    let app = Router::new()
        .route("/v2/biometric-validations", post(create))
        .route("/readyz", axum::routing::get(|| async { "ready" }))
        .with_state(chain);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn create(State(chain): State<Arc<Chain>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Json>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Ok(command) = serde_json::to_vec(&request) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let id = uuid::Uuid::now_v7().to_string();
    let (tx, rx) = oneshot::channel();
    if let Ok(mut waiting) = chain.waiting.lock() {
        waiting.insert(id.clone(), tx);
    }
    let props = BasicProperties::default()
        .with_message_id(id.as_str().into())
        .with_correlation_id(id.as_str().into())
        .with_reply_to(DIRECT_REPLY_TO.into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_type(CREATE_MESSAGE_TYPE.into());
    let confirmed = async {
        chain
            .channel
            .basic_publish(
                chain.exchange.as_str().into(),
                CREATE_ROUTING_KEY.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &command,
                props,
            )
            .await?
            .await
    }
    .await;
    if !matches!(confirmed, Ok(c) if c.is_ack()) {
        chain.waiting.lock().ok().map(|mut w| w.remove(&id));
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match tokio::time::timeout(Duration::from_secs(2), rx).await {
        Ok(Ok(reply)) => (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            reply,
        )
            .into_response(),
        _ => {
            chain.waiting.lock().ok().map(|mut w| w.remove(&id));
            StatusCode::ACCEPTED.into_response()
        }
    }
}

async fn consume(
    queue: &str,
    database_url: &str,
    channels: usize,
    batch_size: usize,
    prefetch: u16,
) -> anyhow::Result<()> {
    let db = sea_orm::Database::connect(database_url).await?;
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..channels {
        let (ch, mut consumer) =
            bv_e2e::bare_insert::consumer(&conn, queue, prefetch, &format!("bare-chain-{c}"))
                .await?;
        let db = db.clone();
        tasks.spawn(async move {
            while let Some(first) = consumer.next().await {
                let mut batch = vec![first?];
                // What is already here, never waiting for more.
                while batch.len() < batch_size {
                    match consumer.next().now_or_never() {
                        Some(Some(delivery)) => batch.push(delivery?),
                        _ => break,
                    }
                }
                let mut columns = Columns::default();
                for delivery in &batch {
                    columns.push_delivery(delivery)?;
                }
                let ids = columns.id.clone();
                db.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    INSERT,
                    columns.values(),
                ))
                .await?;
                for (delivery, id) in batch.iter().zip(&ids) {
                    let (Some(to), Some(correlation)) = (
                        delivery.properties.reply_to(),
                        delivery.properties.correlation_id(),
                    ) else {
                        continue;
                    };
                    let reply = serde_json::to_vec(&serde_json::json!({ "id": id }))?;
                    ch.basic_publish(
                        "".into(),
                        to.as_str().into(),
                        BasicPublishOptions::default(),
                        &reply,
                        BasicProperties::default().with_correlation_id(correlation.clone()),
                    )
                    .await?;
                }
                if let Some(last) = batch.last() {
                    ch.basic_ack(last.delivery_tag, BasicAckOptions { multiple: true })
                        .await?;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}

const CLAIM: &str = r#"
UPDATE deliveries SET lease_owner = $1, lease_expires_at = now() + interval '60 seconds'
WHERE id IN (
    SELECT id FROM deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
        AND (lease_owner IS NULL OR lease_expires_at < now())
    ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING id, target, payload, attempts, schedule_attempts
"#;

const MOVE: &str = r#"
UPDATE deliveries AS d SET status = u.status, attempts = u.attempts,
    schedule_attempts = u.schedule_attempts, next_attempt_at = NULL,
    lease_owner = NULL, lease_expires_at = NULL, last_error = NULL,
    last_status = u.status_code, updated_at = now()
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::int4[])
    AS u(id, lease_owner, status, attempts, schedule_attempts, status_code)
WHERE d.id = u.id AND d.lease_owner = u.lease_owner
"#;

const ATTEMPTS: &str = r#"
INSERT INTO delivery_attempts (id, delivery_id, attempt, started_at, duration_ms, outcome,
    response_status, worker)
SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::timestamptz[], $5::int8[],
    $6::text[], $7::int4[], $8::text[])
"#;

/// One finished attempt, to record.
struct Sent {
    id: uuid::Uuid,
    attempt: i32,
    schedule_attempts: i32,
    started_at: chrono::DateTime<chrono::Utc>,
    duration_ms: i64,
    status: i32,
}

async fn dispatch(database_url: &str, concurrency: usize) -> anyhow::Result<()> {
    use sea_orm::TransactionTrait;
    let db = sea_orm::Database::connect(database_url).await?;
    let http = reqwest::Client::new();
    let owner = format!("bare/{}", uuid::Uuid::new_v4().simple());
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let (done_tx, mut done_rx) =
        tokio::sync::mpsc::unbounded_channel::<(Sent, tokio::sync::OwnedSemaphorePermit)>();
    // The recorder: what finished, together.
    let recorder_db = db.clone();
    let recorder_owner = owner.clone();
    let recorder = tokio::spawn(async move {
        let mut batch = Vec::new();
        while let Some(first) = done_rx.recv().await {
            batch.push(first);
            while batch.len() < 256 {
                match done_rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let sent: Vec<&Sent> = batch.iter().map(|(s, _)| s).collect();
            let ok = |s: &Sent| (200..300).contains(&s.status);
            let moved = vec![
                sea_orm::Value::from(sent.iter().map(|s| s.id).collect::<Vec<_>>()),
                vec![recorder_owner.clone(); sent.len()].into(),
                sent.iter()
                    .map(|s| if ok(s) { "succeeded" } else { "pending" }.to_owned())
                    .collect::<Vec<_>>()
                    .into(),
                sent.iter().map(|s| s.attempt).collect::<Vec<_>>().into(),
                sent.iter()
                    .map(|s| s.schedule_attempts)
                    .collect::<Vec<_>>()
                    .into(),
                sent.iter().map(|s| s.status).collect::<Vec<_>>().into(),
            ];
            let attempts = vec![
                sea_orm::Value::from(
                    sent.iter()
                        .map(|_| uuid::Uuid::now_v7())
                        .collect::<Vec<_>>(),
                ),
                sent.iter().map(|s| s.id).collect::<Vec<_>>().into(),
                sent.iter().map(|s| s.attempt).collect::<Vec<_>>().into(),
                sent.iter().map(|s| s.started_at).collect::<Vec<_>>().into(),
                sent.iter()
                    .map(|s| s.duration_ms)
                    .collect::<Vec<_>>()
                    .into(),
                sent.iter()
                    .map(|s| if ok(s) { "succeeded" } else { "failed" }.to_owned())
                    .collect::<Vec<_>>()
                    .into(),
                sent.iter().map(|s| s.status).collect::<Vec<_>>().into(),
                vec![recorder_owner.clone(); sent.len()].into(),
            ];
            let txn = recorder_db.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                MOVE,
                moved,
            ))
            .await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                ATTEMPTS,
                attempts,
            ))
            .await?;
            txn.commit().await?;
            // The slots free once their attempts are recorded.
            batch.clear();
        }
        anyhow::Ok(())
    });
    loop {
        anyhow::ensure!(!recorder.is_finished(), "the recorder stopped");
        // Claim when half the slots are free.
        let free = slots.available_permits();
        if free < concurrency.div_ceil(2) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                CLAIM,
                [owner.clone().into(), (free as i64).into()],
            ))
            .await?;
        if rows.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        for row in rows {
            let permit = slots.clone().acquire_owned().await?;
            let id: uuid::Uuid = row.try_get("", "id")?;
            let target: String = row.try_get("", "target")?;
            let payload: String = row.try_get("", "payload")?;
            let attempts: i32 = row.try_get("", "attempts")?;
            let schedule_attempts: i32 = row.try_get("", "schedule_attempts")?;
            let (http, done) = (http.clone(), done_tx.clone());
            tokio::spawn(async move {
                let started_at = chrono::Utc::now();
                let clock = std::time::Instant::now();
                let status = http
                    .post(&target)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await
                    .map_or(0, |r| i32::from(r.status().as_u16()));
                let sent = Sent {
                    id,
                    attempt: attempts + 1,
                    schedule_attempts: schedule_attempts + 1,
                    started_at,
                    duration_ms: i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX),
                    status,
                };
                let _ = done.send((sent, permit));
            });
        }
    }
}

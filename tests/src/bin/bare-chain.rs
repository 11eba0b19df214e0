//! The bare create chain, `make bench`'s baseline for the HTTP create path:
//! the I/O of bv-ingress and bv-worker's create role, in two processes of
//! their own, with nothing else (no authentication, validation, tracing,
//! metrics, idempotency, outbox or rate limits).
//!
//! ```text
//! e2e-bare-chain http --addr 127.0.0.1:P --exchange E
//! e2e-bare-chain consume --queue Q --database-url URL [--channels 8 --batch 250 --prefetch 500]
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
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
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
        let ch = conn.create_channel().await?;
        ch.basic_qos(prefetch, BasicQosOptions::default()).await?;
        let mut consumer = ch
            .basic_consume(
                queue.into(),
                format!("bare-chain-{c}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
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
                    let id = delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .and_then(|m| m.as_str().parse().ok())
                        .unwrap_or_else(uuid::Uuid::now_v7);
                    let body: Json = serde_json::from_slice(&delivery.data)?;
                    columns.push(id, &body);
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

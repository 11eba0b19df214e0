//! RabbitMQ in tests: a fresh name prefix per test (its exchanges and queues
//! deleted afterwards), and publishing create commands as an upstream service
//! does: one helper, [`publish_create`], behind every publish in the suite.

use std::time::Duration;

use bv_contract::amqp::{CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY, DIRECT_REPLY_TO, Names};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, PublisherConfirm};
use serde_json::Value;
use uuid::Uuid;

use crate::db::run_blocking;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A fresh AMQP name prefix; its exchanges and queues are deleted on drop.
pub struct TestPrefix {
    pub prefix: String,
}

impl TestPrefix {
    pub fn new() -> Self {
        TestPrefix {
            prefix: format!("t{}", Uuid::new_v4().simple()),
        }
    }

    pub fn names(&self) -> Names {
        Names::new(&self.prefix)
    }
}

impl Default for TestPrefix {
    fn default() -> Self {
        TestPrefix::new()
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        let names = self.names();
        run_blocking(async move {
            let conn = amqp_connect().await?;
            let ch = conn.create_channel().await?;
            for q in [
                &names.create_queue,
                &names.create_dead_queue,
                &names.redeliver_queue,
                &names.redeliver_dead_queue,
                &names.validate_queue,
                &names.validate_dead_queue,
            ] {
                let _ = ch
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for e in [&names.commands_exchange, &names.dead_exchange] {
                let _ = ch
                    .exchange_delete(e.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            let _ = conn.close(200, "bye".into()).await;
            Ok(())
        });
    }
}

/// Connects to the test broker, failing after 10 s instead of hanging.
pub async fn amqp_connect() -> anyhow::Result<Connection> {
    let connect = Connection::connect(AMQP_URL, ConnectionProperties::default());
    Ok(tokio::time::timeout(Duration::from_secs(10), connect).await??)
}

/// Publishes one create command on `ch` (in confirm mode) as an upstream
/// service would: persistent, typed, with `message_id` when given and, with
/// `reply`, asking for an answer on direct reply-to (correlated by the
/// message id). Returns the broker's confirm, to await now or later.
pub async fn publish_create(
    ch: &Channel,
    names: &Names,
    message_id: Option<&str>,
    body: &[u8],
    reply: bool,
) -> anyhow::Result<PublisherConfirm> {
    let mut props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_type(CREATE_MESSAGE_TYPE.into());
    if let Some(id) = message_id {
        props = props.with_message_id(id.into());
    }
    if reply {
        props = props
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_correlation_id(message_id.unwrap_or("reply").into());
    }
    Ok(ch
        .basic_publish(
            names.commands_exchange.as_str().into(),
            CREATE_ROUTING_KEY.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await?)
}

/// Publishes one command with confirms (a new connection each call).
pub async fn publish_raw(
    names: &Names,
    message_id: Option<&str>,
    body: &[u8],
) -> anyhow::Result<()> {
    let conn = amqp_connect().await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    publish_create(&ch, names, message_id, body, false)
        .await?
        .await?;
    let _ = conn.close(200, "bye".into()).await;
    Ok(())
}

/// A worker's answer to a command: its `x-bv-outcome` header and body.
#[derive(Debug)]
pub struct Answer {
    /// `created`, `replayed` or `rejected` (the header).
    pub outcome: String,
    pub body: Value,
}

/// Publishes a create command with `reply_to` (direct reply-to) and waits up
/// to 10 s for the worker's answer.
pub async fn request_reply(names: &Names, message_id: &str, body: &[u8]) -> anyhow::Result<Answer> {
    use bv_contract::amqp::REPLY_OUTCOME_HEADER;
    use futures::StreamExt;
    let conn = amqp_connect().await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut replies = bv_runtime::amqp::consume_replies(&ch).await?;
    publish_create(&ch, names, Some(message_id), body, true)
        .await?
        .await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reply"))??;
    let headers = reply.properties.headers().as_ref();
    let answer = Answer {
        outcome: bv_runtime::amqp::header_str(headers, REPLY_OUTCOME_HEADER).unwrap_or_default(),
        body: serde_json::from_slice(&reply.data)?,
    };
    let _ = conn.close(200, "bye".into()).await;
    Ok(answer)
}

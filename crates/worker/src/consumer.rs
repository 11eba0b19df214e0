//! Consuming create commands: decode, persist, answer, ack.
//!
//! Each consumer owns one channel and works in batches: it takes what the
//! broker has already delivered (up to `batch_size`, without waiting for more),
//! persists the batch in one transaction, answers every command that asked for
//! an answer, dead-letters those that can never succeed (with the reason in a
//! header, confirmed before the ack), and then acks the whole batch with one
//! `multiple` ack. Nothing is acked before it is durable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use bv_contract::amqp::{
    CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY, DEAD_CODE_HEADER, DEAD_REASON_HEADER, Names,
    REPLY_MESSAGE_TYPE, REPLY_REPLAYED_HEADER, REPLY_STATUS_HEADER,
};
use bv_contract::request::Expiry;
use bv_contract::{ApiError, CreateCommand, ErrorCode, ReplyBody};
use bv_runtime::Shutdown;
use bv_runtime::amqp::set_header;
use bv_runtime::propagation::set_parent_from;
use bv_store::sea_orm::DatabaseConnection;
use chrono::{SubsecRound, Utc};
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use tracing::{Instrument, Span, field};
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::persist::{Incoming, Outcome, persist_isolating};
use crate::settings::WorkerSettings;

/// How long a publish (reply or dead letter) may take.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// What every consumer shares.
pub struct Context {
    pub db: DatabaseConnection,
    pub names: Names,
    pub settings: WorkerSettings,
    pub metrics: Arc<Metrics>,
    /// Wakes the dispatcher when new deliveries are committed.
    pub wake: Arc<tokio::sync::Notify>,
    /// `process <queue>`, the messaging span name, made once.
    process_span_name: String,
}

impl Context {
    pub fn new(
        db: DatabaseConnection,
        names: Names,
        settings: WorkerSettings,
        metrics: Arc<Metrics>,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        Context {
            process_span_name: format!("process {}", names.create_queue),
            db,
            names,
            settings,
            metrics,
            wake,
        }
    }
}

/// Runs one consumer until shutdown (`Ok`) or a broker error (`Err`).
pub async fn consume(
    ctx: Arc<Context>,
    conn: Arc<Connection>,
    index: u16,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel
        .basic_qos(ctx.settings.prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("bv-worker-{}-{index}", std::process::id());
    let mut consumer = channel
        .basic_consume(
            ctx.names.create_queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %ctx.names.create_queue, consumer = %tag, "consuming");

    let batch_size = usize::from(ctx.settings.batch_size);
    loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            next = consumer.next() => next,
        };
        let Some(first) = first else {
            anyhow::bail!("the broker cancelled consumer {tag}");
        };
        let mut batch = vec![first?];
        // Take what is already here; never wait for a batch to fill.
        while batch.len() < batch_size {
            match consumer.next().now_or_never() {
                Some(Some(Ok(delivery))) => batch.push(delivery),
                Some(Some(Err(err))) => return Err(err.into()),
                Some(None) | None => break,
            }
        }
        process_batch(&ctx, &channel, batch, &shutdown).await?;
    }

    // Stop deliveries; closing the channel returns unacked messages to the queue.
    let _ = channel
        .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
        .await;
    let _ = channel.close(200, "shutdown".into()).await;
    tracing::info!(consumer = %tag, "consumer stopped");
    Ok(())
}

/// A delivery and what is known about it so far.
struct Item {
    delivery: Delivery,
    span: Span,
    decoded: Result<Incoming, ApiError>,
}

async fn process_batch(
    ctx: &Context,
    channel: &Channel,
    deliveries: Vec<Delivery>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let Some(last_tag) = deliveries.last().map(|d| d.delivery_tag) else {
        return Ok(());
    };
    let items: Vec<Item> = deliveries
        .into_iter()
        .map(|delivery| {
            let span = process_span(ctx, &delivery);
            let decoded = span.in_scope(|| decode(&delivery)).map(|mut incoming| {
                incoming.trace_parent = bv_runtime::propagation::traceparent_of(&span);
                incoming
            });
            Item {
                delivery,
                span,
                decoded,
            }
        })
        .collect();

    let valid: Vec<Incoming> = items
        .iter()
        .filter_map(|i| i.decoded.as_ref().ok().cloned())
        .collect();
    let db_span = match items.iter().find(|i| i.decoded.is_ok()) {
        Some(first) => tracing::info_span!(
            parent: &first.span,
            "bv.db.persist_batch",
            db.system.name = ctx.db.get_database_backend().as_str(),
            db.operation.name = "INSERT",
            db.collection.name = "biometric_validations",
            bv.batch.size = valid.len()
        ),
        None => Span::none(),
    };
    let outcomes = if valid.is_empty() {
        Vec::new()
    } else {
        match persist_with_retry(ctx, &valid, shutdown)
            .instrument(db_span)
            .await
        {
            Ok(outcomes) => outcomes,
            Err(reason) => {
                // Give the whole batch back to the queue; it is redelivered later.
                tracing::warn!(%reason, size = items.len(), "returning batch to the queue");
                channel
                    .basic_nack(
                        last_tag,
                        BasicNackOptions {
                            multiple: true,
                            requeue: true,
                        },
                    )
                    .await?;
                ctx.metrics.requeued.inc_by(items.len() as u64);
                return Ok(());
            }
        }
    };

    if outcomes.iter().any(|o| matches!(o, Outcome::Created(_))) {
        ctx.wake.notify_one();
    }
    let mut outcomes = outcomes.into_iter();
    for item in &items {
        let outcome = match &item.decoded {
            Ok(_) => outcomes
                .next()
                .unwrap_or(Outcome::Rejected(ApiError::internal())),
            Err(err) => Outcome::Rejected(err.clone()),
        };
        finish(ctx, channel, item, outcome).await?;
    }
    channel
        .basic_ack(last_tag, BasicAckOptions { multiple: true })
        .await?;
    Ok(())
}

/// Answers one command and, when it can never succeed, dead-letters it.
async fn finish(
    ctx: &Context,
    channel: &Channel,
    item: &Item,
    outcome: Outcome,
) -> anyhow::Result<()> {
    let span = &item.span;
    let label = match &outcome {
        Outcome::Created(_) => "created",
        Outcome::Replayed(_) => "replayed",
        Outcome::Rejected(_) => "rejected",
    };
    span.record("bv.outcome", label);
    ctx.metrics.processed(label);

    if let Outcome::Rejected(err) = &outcome {
        span.record("error.type", err.code.as_str());
        tracing::warn!(parent: span, code = %err.code, reason = %err.error, "command dead-lettered");
        dead_letter(ctx, channel, &item.delivery, err)
            .instrument(span.clone())
            .await?;
    }
    if item.delivery.properties.reply_to().is_none() {
        return Ok(());
    }
    let (reply, replayed) = match outcome {
        Outcome::Created(m) => (ReplyBody::created(bv_store::validations::to_api(&m)), false),
        Outcome::Replayed(m) => (ReplyBody::created(bv_store::validations::to_api(&m)), true),
        Outcome::Rejected(err) => (ReplyBody::Failed(err), false),
    };
    let body = serde_json::to_vec(&reply)?;
    let to = ReplyTo {
        request: &item.delivery,
        message_type: REPLY_MESSAGE_TYPE,
    };
    publish_reply(channel, to, reply.http_status(), replayed, &body).await
}

/// The request being answered and the `type` of the answer.
pub(crate) struct ReplyTo<'a> {
    pub request: &'a Delivery,
    pub message_type: &'a str,
}

/// Answers a request that asked for it (`reply_to`), echoing its
/// `correlation_id`. Best effort: a caller that stopped waiting has its
/// answer through the API.
pub(crate) async fn publish_reply(
    channel: &Channel,
    to: ReplyTo<'_>,
    status: u16,
    replayed: bool,
    body: &[u8],
) -> anyhow::Result<()> {
    let Some(reply_to) = to.request.properties.reply_to() else {
        return Ok(());
    };
    let mut headers = FieldTable::default();
    set_header(&mut headers, REPLY_STATUS_HEADER, &status.to_string());
    set_header(
        &mut headers,
        REPLY_REPLAYED_HEADER,
        if replayed { "true" } else { "false" },
    );
    let mut props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_type(to.message_type.into())
        .with_headers(headers);
    if let Some(correlation) = to.request.properties.correlation_id() {
        props = props.with_correlation_id(correlation.clone());
    }
    let publish = channel.basic_publish(
        "".into(),
        reply_to.clone(),
        BasicPublishOptions::default(),
        body,
        props,
    );
    match tokio::time::timeout(BROKER_TIMEOUT, publish).await {
        Ok(sent) => {
            sent?;
        }
        Err(_) => {
            tracing::warn!("a reply could not be sent in time; the caller reads it via the API")
        }
    }
    Ok(())
}

/// Publishes a copy of the message to the dead-letter exchange with the
/// reason in its headers, and waits for the broker to confirm it.
async fn dead_letter(
    ctx: &Context,
    channel: &Channel,
    delivery: &Delivery,
    err: &ApiError,
) -> anyhow::Result<()> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    set_header(&mut headers, DEAD_CODE_HEADER, err.code.as_str());
    set_header(&mut headers, DEAD_REASON_HEADER, &err.error);
    let props = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let publish = async {
        channel
            .basic_publish(
                ctx.names.dead_exchange.as_str().into(),
                CREATE_ROUTING_KEY.into(),
                BasicPublishOptions::default(),
                &delivery.data,
                props,
            )
            .await?
            .await
    };
    // Unconfirmed in time: fail the consumer; its channel closes and the
    // message returns to the queue.
    let confirm = tokio::time::timeout(BROKER_TIMEOUT, publish)
        .await
        .map_err(|_| anyhow::anyhow!("no confirm for a dead letter within {BROKER_TIMEOUT:?}"))??;
    match confirm {
        Confirmation::Ack(_) => {
            ctx.metrics.dead_lettered.inc();
            Ok(())
        }
        other => anyhow::bail!("the broker did not confirm a dead letter: {other:?}"),
    }
}

/// Persists, retrying with backoff while the database is unavailable, up to
/// `db_retry_max`; `Err` says why the batch goes back to the queue instead.
async fn persist_with_retry(
    ctx: &Context,
    items: &[Incoming],
    shutdown: &Shutdown,
) -> Result<Vec<Outcome>, String> {
    let started = Instant::now();
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        let now = Utc::now().trunc_subsecs(3);
        match persist_isolating(&ctx.db, items, now).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(err) => {
                ctx.metrics.db_errors.inc();
                if started.elapsed() >= ctx.settings.db_retry_max {
                    return Err(format!(
                        "database unavailable for {:?}: {err}",
                        started.elapsed()
                    ));
                }
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(error = %err, retry_in = ?delay, "persisting a batch failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return Err("shutting down".into()),
                }
            }
        }
    }
}

fn process_span(ctx: &Context, delivery: &Delivery) -> Span {
    let queue = ctx.names.create_queue.as_str();
    let span = tracing::info_span!(
        "bv.process",
        otel.name = ctx.process_span_name.as_str(),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = queue,
        messaging.message.id = delivery.properties.message_id().as_ref().map(|m| m.as_str()).unwrap_or(""),
        messaging.rabbitmq.delivery_tag = delivery.delivery_tag,
        bv.outcome = field::Empty,
        error.type = field::Empty,
        trace_id = field::Empty,
    );
    set_parent_from(&span, delivery.properties.headers().as_ref());
    bv_runtime::propagation::record_trace_id(&span);
    span
}

/// Decodes a delivery into a command; the error says why it never can be.
fn decode(delivery: &Delivery) -> Result<Incoming, ApiError> {
    if let Some(kind) = delivery.properties.kind()
        && kind.as_str() != CREATE_MESSAGE_TYPE
    {
        return Err(ApiError::new(
            ErrorCode::InvalidField,
            format!("unsupported message type `{kind}`; expected `{CREATE_MESSAGE_TYPE}`"),
        ));
    }
    let id = delivery.properties.message_id().as_ref().ok_or_else(|| {
        ApiError::field(
            ErrorCode::MissingField,
            "message_id",
            "the message has no message_id property; set it to the validation _id (a UUID)",
        )
    })?;
    let id = Uuid::parse_str(id.as_str()).map_err(|_| {
        ApiError::field(
            ErrorCode::InvalidField,
            "message_id",
            format!("message_id `{id}` is not a UUID"),
        )
    })?;
    let command = CreateCommand::decode(&delivery.data, Expiry::AnyTime)?;
    let fingerprint = command.request.fingerprint(&command.client);
    Ok(Incoming {
        id,
        command,
        fingerprint,
        trace_parent: None,
    })
}

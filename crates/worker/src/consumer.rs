//! Consuming create commands: the batch loop.
//!
//! Each consumer owns one channel and works in batches: it takes what the
//! broker has already delivered (up to `batch_size`, without waiting for more),
//! persists the batch in one transaction (retrying while the database is
//! down, up to `db_retry_max`), answers every command that asked for an
//! answer ([`crate::reply`]), dead-letters those that can never succeed
//! ([`crate::dead_letter`]), and then acks the whole batch with one
//! `multiple` ack. Nothing is acked before it is durable.

use std::sync::Arc;
use std::time::Duration;

use bv_contract::amqp::{CREATE_ROUTING_KEY, Names};
use bv_contract::{ApiError, BiometricValidation, CreateOutcome, ErrorCode, Outcome as _, Success};
use bv_runtime::Shutdown;
use bv_runtime::propagation::set_parent_from;
use bv_runtime::retry::{Stopped, until_ok};
use bv_store::sea_orm::DatabaseConnection;
use chrono::{SubsecRound, Utc};
use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use opentelemetry::trace::TraceContextExt as _;
use tracing::{Instrument, Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::dead_letter::{self, Why};
use crate::incoming::{Incoming, decode};
use crate::metrics::Metrics;
use crate::persist::{Outcome, persist_cached};
use crate::settings::WorkerSettings;

/// What every consumer shares.
pub struct Context {
    pub db: DatabaseConnection,
    pub names: Names,
    pub settings: WorkerSettings,
    pub metrics: Arc<Metrics>,
    /// Wakes the dispatcher when new deliveries are committed.
    pub wake: Arc<tokio::sync::Notify>,
    /// The longest a unit of work may wait for the database.
    pub db_timeout: std::time::Duration,
    /// Session tokens, links and result signatures.
    pub sessions: Arc<bv_runtime::session::Sessions>,
    /// Challenge lifetime and capture limits.
    pub biometrics: bv_runtime::BiometricsSettings,
    /// Projects and flows kept between batches (verified on use).
    pub references: crate::references::References,
    /// Answers to the commands that ask for one, on their own connection.
    pub replies: crate::reply::Replier,
}

/// Runs one consumer until shutdown (`Ok`) or a broker error (`Err`).
pub async fn consume(
    ctx: Arc<Context>,
    conn: Arc<Connection>,
    index: u16,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let channel = open_channel(&conn, ctx.settings.prefetch).await?;
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
    // The messaging span name, made once.
    let span_name = format!("process {}", ctx.names.create_queue);

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
        // Everything a batch waits for is bounded: the database retries, each
        // database step, the broker's confirms. Past that, it is stuck.
        let limit = ctx.settings.db_retry_max + ctx.db_timeout * 2 + Duration::from_secs(60);
        let _busy = bv_runtime::progress::busy(
            format!("consumer {index}"),
            format!("processing a batch of {}", batch.len()),
            limit,
        );
        process_batch(&ctx, &channel, &span_name, batch, &shutdown).await?;
    }

    // Stop deliveries; closing the channel returns unacked messages to the queue.
    let _ = channel
        .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
        .await;
    let _ = channel.close(200, "shutdown".into()).await;
    tracing::info!(consumer = %tag, "consumer stopped");
    Ok(())
}

/// A consumer's channel: in confirm mode (its replies and dead letters are
/// confirmed) with `prefetch` unacked deliveries ahead.
pub async fn open_channel(conn: &Connection, prefetch: u16) -> lapin::Result<Channel> {
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    Ok(channel)
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
    span_name: &str,
    deliveries: Vec<Delivery>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let Some(last_tag) = deliveries.last().map(|d| d.delivery_tag) else {
        return Ok(());
    };
    let items: Vec<Item> = deliveries
        .into_iter()
        .map(|delivery| {
            let span = process_span(span_name, &delivery);
            let decoded = span.in_scope(|| decode(&delivery)).map(|mut incoming| {
                incoming.trace = Some(bv_runtime::propagation::span_context_of(&span));
                incoming
            });
            Item {
                delivery,
                span,
                decoded,
            }
        })
        .collect();

    let valid: Vec<&Incoming> = items
        .iter()
        .filter_map(|i| i.decoded.as_ref().ok())
        .collect();
    // A child of the first command's span, linked to every command's span:
    // each trace shows the commit its command was part of.
    let db_span = match items.iter().find(|i| i.decoded.is_ok()) {
        Some(first) => {
            let span = tracing::info_span!(
                parent: &first.span,
                "bv.db.persist_batch",
                db.system.name = bv_store::db_system_name(&ctx.db),
                db.operation.name = "INSERT",
                db.collection.name = "biometric_validations",
                db.operation.batch.size = valid.len()
            );
            for item in items.iter().filter(|i| i.decoded.is_ok()) {
                span.add_link(item.span.context().span().span_context().clone());
            }
            span
        }
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
            Ok(_) => outcomes.next().unwrap_or_else(|| {
                Outcome::Failed("the batch returned fewer outcomes than commands".into())
            }),
            Err(err) => Outcome::Rejected(err.clone()),
        };
        finish(ctx, channel, item, outcome).await?;
    }
    channel
        .basic_ack(last_tag, BasicAckOptions { multiple: true })
        .await?;
    Ok(())
}

/// A created validation as the create answer shows it: the seed's `data`
/// plus the hosted page's session `token` and `url`.
/// (A replay of a validation already decided or expired has no session.)
fn answer(ctx: &Context, m: &bv_store::entity::biometric_validation::Model) -> BiometricValidation {
    let mut view = bv_store::validations::to_api(m);
    if !m.status.is_final() {
        let session = ctx.sessions.session(&view.id, m.created_at, m.expires_at);
        view.token = Some(session.token);
        view.url = Some(session.url);
    }
    view
}

/// Answers one command and, when it can never succeed, dead-letters it.
async fn finish(
    ctx: &Context,
    channel: &Channel,
    item: &Item,
    outcome: Outcome,
) -> anyhow::Result<()> {
    let span = &item.span;
    // The answer (with its signed session token) only for a caller waiting for one.
    let wants_answer = item.delivery.properties.reply_to().is_some();
    let answer = match outcome {
        Outcome::Created(_) | Outcome::Replayed(_) if !wants_answer => {
            let kind = if matches!(outcome, Outcome::Created(_)) {
                CreateOutcome::CREATED
            } else {
                CreateOutcome::REPLAYED
            };
            span.record("bv.outcome", kind);
            ctx.metrics.processed(kind);
            return Ok(());
        }
        Outcome::Created(m) => CreateOutcome::Created(Success::new(answer(ctx, &m))),
        Outcome::Replayed(m) => CreateOutcome::Replayed(Success::new(answer(ctx, &m))),
        Outcome::Rejected(err) => {
            span.record("error.type", err.code.as_str());
            tracing::warn!(parent: span, code = %err.code, reason = %err.error, "command dead-lettered");
            let why = ctx.dead(err.code, &err.error);
            dead_letter::publish(channel, &item.delivery, why)
                .instrument(span.clone())
                .await?;
            ctx.metrics.dead_lettered.inc();
            CreateOutcome::Rejected(err)
        }
        Outcome::Failed(detail) => {
            // The detail goes to the log and the dead letter; the caller
            // gets the trace id to quote.
            let code = ErrorCode::InternalError;
            span.record("error.type", code.as_str());
            tracing::error!(parent: span, reason = %detail, "command dead-lettered");
            dead_letter::publish(channel, &item.delivery, ctx.dead(code, &detail))
                .instrument(span.clone())
                .await?;
            ctx.metrics.dead_lettered.inc();
            let trace_id = bv_runtime::propagation::trace_id_of(span);
            CreateOutcome::Rejected(ApiError::internal(trace_id))
        }
    };
    span.record("bv.outcome", answer.kind());
    ctx.metrics.processed(answer.kind());
    ctx.replies.answer(&item.delivery, &answer).await;
    Ok(())
}

impl Context {
    /// Where a create command that can never succeed goes, and why.
    fn dead<'a>(&'a self, code: ErrorCode, reason: &'a str) -> Why<'a> {
        Why {
            exchange: &self.names.dead_exchange,
            routing_key: CREATE_ROUTING_KEY,
            code,
            reason,
        }
    }
}

/// Persists, retrying while the database is unavailable, up to
/// `db_retry_max`; `Err` says why the batch goes back to the queue instead.
async fn persist_with_retry(
    ctx: &Context,
    items: &[&Incoming],
    shutdown: &Shutdown,
) -> Result<Vec<Outcome>, String> {
    let persisted = until_ok(
        "persisting a batch",
        Some(ctx.settings.db_retry_max),
        shutdown,
        || async {
            let started = std::time::Instant::now();
            let now = Utc::now().trunc_subsecs(3);
            let persist = persist_cached(&ctx.db, &ctx.references, items, now);
            let result = bv_store::bounded(ctx.db_timeout, persist).await;
            match &result {
                Ok(_) => ctx
                    .metrics
                    .batch_commit
                    .observe(started.elapsed().as_secs_f64()),
                Err(_) => {
                    ctx.metrics.db_errors.inc();
                }
            }
            result
        },
    )
    .await;
    persisted.map_err(|stopped| match stopped {
        Stopped::Shutdown => "shutting down".to_owned(),
        Stopped::GaveUp(err) => format!(
            "database unavailable for longer than {:?}: {err}",
            ctx.settings.db_retry_max
        ),
    })
}

/// The span of one command's processing (OpenTelemetry messaging
/// conventions: for RabbitMQ the destination is the exchange).
pub(crate) fn process_span(name: &str, delivery: &Delivery) -> Span {
    let span = tracing::info_span!(
        "bv.process",
        otel.name = name,
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = delivery.exchange.as_str(),
        messaging.rabbitmq.destination.routing_key = delivery.routing_key.as_str(),
        messaging.message.id = delivery.properties.message_id().as_ref().map(|m| m.as_str()).unwrap_or(""),
        messaging.rabbitmq.message.delivery_tag = delivery.delivery_tag,
        bv.outcome = field::Empty,
        error.type = field::Empty,
        trace_id = field::Empty,
    );
    set_parent_from(&span, delivery.properties.headers().as_ref());
    bv_runtime::propagation::record_trace_id(&span);
    span
}

//! Redeliver commands: the API asks (through RabbitMQ, since only the worker
//! writes) for one delivery to be sent again. The delivery is re-armed through
//! [`bv_store::deliveries::redeliver`] (the one write path, which `bvctl`
//! uses too), the dispatcher is woken, and the caller gets a
//! [`RedeliverOutcome`]: the delivery as it is now, not found, or
//! unavailable (the database could not be reached). A malformed command is
//! answered and dead-lettered.

use std::sync::Arc;

use bv_contract::amqp::REDELIVER_ROUTING_KEY;
use bv_contract::{ApiError, ErrorCode, RedeliverCommand, RedeliverOutcome, Success};
use bv_runtime::Shutdown;
use futures::StreamExt;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;

use crate::consumer::{Context, open_channel};
use crate::dead_letter::{self, Why};

/// Consumes redeliver commands until shutdown (`Ok`) or a broker error.
pub async fn consume(
    ctx: Arc<Context>,
    conn: Arc<Connection>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let channel = open_channel(&conn, 16).await?;
    let mut consumer = channel
        .basic_consume(
            ctx.names.redeliver_queue.as_str().into(),
            format!("bv-worker-{}-redeliver", std::process::id())
                .as_str()
                .into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        let next = tokio::select! {
            _ = shutdown.wait() => break,
            next = consumer.next() => next,
        };
        let Some(delivery) = next else {
            anyhow::bail!("the broker cancelled the redeliver consumer");
        };
        let delivery = delivery?;
        let _busy = bv_runtime::progress::busy(
            "redeliver consumer",
            "handling a redeliver command",
            ctx.db_timeout + std::time::Duration::from_secs(60),
        );
        let outcome = handle(&ctx, &delivery).await;
        if let RedeliverOutcome::Rejected(err) = &outcome {
            tracing::warn!(code = %err.code, reason = %err.error, "redeliver command dead-lettered");
            let why = Why {
                exchange: &ctx.names.dead_exchange,
                routing_key: REDELIVER_ROUTING_KEY,
                code: err.code,
                reason: &err.error,
            };
            dead_letter::publish(&channel, &delivery, why).await?;
            ctx.metrics.dead_lettered.inc();
        }
        ctx.replies.answer(&delivery, &outcome).await;
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    let _ = channel.close(200, "shutdown".into()).await;
    Ok(())
}

async fn handle(ctx: &Context, delivery: &Delivery) -> RedeliverOutcome {
    let command: RedeliverCommand = match serde_json::from_slice(&delivery.data) {
        Ok(c) => c,
        Err(e) => {
            return RedeliverOutcome::Rejected(ApiError::new(
                ErrorCode::InvalidJson,
                format!("invalid redeliver command: {e}"),
            ));
        }
    };
    let scope = bv_store::deliveries::Scope::Client {
        client: &command.client,
        validation: command.validation,
    };
    let redeliver = bv_store::deliveries::redeliver(&ctx.db, scope, command.delivery);
    match bv_store::bounded(ctx.db_timeout, redeliver).await {
        Ok(Some(view)) => {
            tracing::info!(delivery = %view.id, client = %command.client, "delivery re-armed on request");
            ctx.wake.notify_one();
            RedeliverOutcome::Redelivered(Success::new(view))
        }
        Ok(None) => RedeliverOutcome::NotFound,
        Err(err) => {
            // The caller is told to retry; nothing loops on the queue.
            tracing::warn!(error = %err, "redeliver failed: database unavailable");
            RedeliverOutcome::Unavailable
        }
    }
}

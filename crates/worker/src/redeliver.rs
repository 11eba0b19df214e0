//! Redeliver commands: the API asks (through RabbitMQ, since only the worker
//! writes) for one delivery to be sent again. The delivery is re-armed with a
//! fresh retry schedule, the dispatcher is woken, and the caller gets the
//! delivery back (`200`) or `DELIVERY_NOT_FOUND` (`404`).

use std::sync::Arc;

use bv_contract::amqp::REDELIVER_REPLY_MESSAGE_TYPE;
use bv_contract::{ApiError, ErrorCode, RedeliverCommand};
use bv_runtime::Shutdown;
use futures::StreamExt;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use serde_json::json;

use crate::consumer::{Context, ReplyTo, publish_reply};

/// Consumes redeliver commands until shutdown (`Ok`) or a broker error.
pub async fn consume(
    ctx: Arc<Context>,
    conn: Arc<Connection>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let channel = conn.create_channel().await?;
    channel.basic_qos(16, BasicQosOptions::default()).await?;
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
        let (status, body) = match handle(&ctx, &delivery).await {
            Ok(answer) => answer,
            Err(err) => {
                // The caller is told to retry; nothing loops on the queue.
                tracing::warn!(error = %err, "redeliver failed: database unavailable");
                let err = ApiError::unavailable("the database is unavailable");
                (err.http_status(), json!(err))
            }
        };
        let to = ReplyTo {
            request: &delivery,
            message_type: REDELIVER_REPLY_MESSAGE_TYPE,
        };
        publish_reply(&channel, to, status, false, &serde_json::to_vec(&body)?).await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    let _ = channel.close(200, "shutdown".into()).await;
    Ok(())
}

/// The answer (status and body), or a database error.
async fn handle(
    ctx: &Context,
    delivery: &Delivery,
) -> Result<(u16, serde_json::Value), bv_store::sea_orm::DbErr> {
    let command: RedeliverCommand = match serde_json::from_slice(&delivery.data) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "undecodable redeliver command answered and dropped");
            let err = ApiError::new(
                ErrorCode::InvalidJson,
                format!("invalid redeliver command: {e}"),
            );
            return Ok((err.http_status(), json!(err)));
        }
    };
    let found = bv_store::deliveries::redeliver(
        &ctx.db,
        Some(&command.client),
        Some(command.validation),
        command.delivery,
    )
    .await?;
    let Some(d) = found else {
        let err = ApiError::new(ErrorCode::DeliveryNotFound, "Delivery not found");
        return Ok((err.http_status(), json!(err)));
    };
    tracing::info!(delivery = %d.id, client = %command.client, "delivery re-armed on request");
    ctx.wake.notify_one();
    let attempts = bv_store::deliveries::attempts_of(&ctx.db, d.id).await?;
    Ok((
        200,
        json!({"success": true, "data": bv_store::deliveries::to_api(&d, &attempts)}),
    ))
}

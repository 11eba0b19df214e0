//! Redeliver commands: the API asks (through RabbitMQ, since only the worker
//! writes) for one delivery to be sent again. The delivery is re-armed with a
//! fresh retry schedule, the dispatcher is woken, and the caller gets the
//! delivery back (`200`) or `DELIVERY_NOT_FOUND` (`404`).

use std::sync::Arc;
use std::time::Duration;

use bv_contract::{ApiError, ErrorCode, RedeliverCommand};
use bv_runtime::Shutdown;
use futures::StreamExt;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use serde_json::json;

use crate::consumer::{Context, publish_reply};

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
        match handle(&ctx, &delivery).await {
            Ok((status, body)) => {
                publish_reply(
                    &channel,
                    &delivery,
                    status,
                    false,
                    &serde_json::to_vec(&body)?,
                )
                .await?;
                delivery.acker.ack(BasicAckOptions::default()).await?;
            }
            Err(err) => {
                tracing::warn!(error = %err, "redeliver failed; returning it to the queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
            }
        }
    }
    let _ = channel.close(200, "shutdown".into()).await;
    Ok(())
}

/// The answer (status and body), or a database error worth retrying.
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

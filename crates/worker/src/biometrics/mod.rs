//! The biometric commands (DESIGN §12), on their own queue so their own
//! role scales on it: `challenge` (issue a liveness challenge; the user
//! started), `validate` (decide one attempt through the engine) and
//! `person.delete` (remove an enrolled face template).
//!
//! Each consumer takes one command at a time on its own channel (prefetch
//! 1: the engine is CPU-bound, and a command waiting behind another should
//! go to an idle consumer). A command is acked only once its outcome is
//! durable; while the database is unavailable it is retried, then returned
//! to the queue. A command that can never succeed is answered and
//! dead-lettered, like a create command.

pub mod challenge;
pub mod engines;
pub mod person;
pub mod templates;
pub mod validate;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bv_contract::amqp::{CHALLENGE_ROUTING_KEY, PERSON_DELETE_ROUTING_KEY, VALIDATE_ROUTING_KEY};
use bv_contract::{
    ApiError, ChallengeOutcome, DeletePersonOutcome, ErrorCode, Outcome, ValidateOutcome,
};
use bv_runtime::Shutdown;
use bv_runtime::retry::{Stopped, until_ok};
use bv_store::sea_orm::DbErr;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tracing::Instrument;
use uuid::Uuid;

use crate::consumer::{Context, open_channel, process_span};
use crate::dead_letter::{self, Why};
use crate::reply;

/// What the biometric role holds besides the database: its engines (the
/// face models loaded once) and the keys sealing enrolled templates.
pub struct Role {
    pub engines: engines::Engines,
    pub templates: bv_signing::TemplateKeys,
}

/// An outcome that may be a rejection (answered, then dead-lettered).
pub trait Answer: Outcome {
    fn rejection(&self) -> Option<&ApiError>;
}

impl Answer for ValidateOutcome {
    fn rejection(&self) -> Option<&ApiError> {
        match self {
            ValidateOutcome::Rejected(err) => Some(err),
            _ => None,
        }
    }
}

impl Answer for ChallengeOutcome {
    fn rejection(&self) -> Option<&ApiError> {
        match self {
            ChallengeOutcome::Rejected(err) => Some(err),
            _ => None,
        }
    }
}

impl Answer for DeletePersonOutcome {
    fn rejection(&self) -> Option<&ApiError> {
        match self {
            DeletePersonOutcome::Rejected(err) => Some(err),
            _ => None,
        }
    }
}

/// Runs one biometric consumer until shutdown (`Ok`) or a broker error.
pub async fn consume(
    ctx: Arc<Context>,
    role: Arc<Role>,
    conn: Arc<Connection>,
    index: u16,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let channel = open_channel(&conn, 1).await?;
    let tag = format!("bv-worker-{}-biometrics-{index}", std::process::id());
    let mut consumer = channel
        .basic_consume(
            ctx.names.validate_queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %ctx.names.validate_queue, consumer = %tag, "consuming");
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            next = consumer.next() => next,
        };
        let Some(delivery) = next else {
            anyhow::bail!("the broker cancelled consumer {tag}");
        };
        let delivery = delivery?;
        // Bounded like a batch: the database retries, each step, the engine.
        let limit = ctx.settings.db_retry_max + ctx.db_timeout * 4 + Duration::from_secs(60);
        let _busy = bv_runtime::progress::busy(
            format!("biometrics consumer {index}"),
            "handling a biometric command",
            limit,
        );
        let span = process_span(
            &format!("process {}", delivery.routing_key.as_str()),
            &delivery,
        );
        handle(&ctx, &role, &channel, &delivery, &shutdown)
            .instrument(span)
            .await?;
    }
    let _ = channel
        .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
        .await;
    let _ = channel.close(200, "shutdown".into()).await;
    tracing::info!(consumer = %tag, "consumer stopped");
    Ok(())
}

async fn handle(
    ctx: &Context,
    role: &Role,
    channel: &Channel,
    delivery: &Delivery,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let key = delivery.routing_key.as_str();
    let served = Served {
        ctx,
        channel,
        delivery,
        shutdown,
    };
    match key {
        VALIDATE_ROUTING_KEY => {
            let started = std::time::Instant::now();
            let handled = served
                .serve("validate", || validate::handle(ctx, role, delivery))
                .await;
            ctx.metrics
                .validate_duration
                .observe(started.elapsed().as_secs_f64());
            handled
        }
        CHALLENGE_ROUTING_KEY => {
            served
                .serve("challenge", || challenge::handle(ctx, role, delivery))
                .await
        }
        PERSON_DELETE_ROUTING_KEY => {
            served
                .serve("person_delete", || person::handle(ctx, delivery))
                .await
        }
        other => {
            let reason = format!("no biometric command is routed by `{other}`");
            tracing::warn!(%reason, "command dead-lettered");
            let why = Why {
                exchange: &ctx.names.dead_exchange,
                routing_key: VALIDATE_ROUTING_KEY,
                code: ErrorCode::InvalidJson,
                reason: &reason,
            };
            dead_letter::publish(channel, delivery, why).await?;
            ctx.metrics.dead_lettered.inc();
            delivery.acker.ack(BasicAckOptions::default()).await?;
            Ok(())
        }
    }
}

/// One command being served: its handler's outcome is answered, a
/// rejection dead-lettered, and the command acked, in that order.
struct Served<'a> {
    ctx: &'a Context,
    channel: &'a Channel,
    delivery: &'a Delivery,
    shutdown: &'a Shutdown,
}

impl Served<'_> {
    async fn serve<O, F, Fut>(&self, command: &str, handler: F) -> anyhow::Result<()>
    where
        O: Answer,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<O, DbErr>>,
    {
        let (ctx, delivery) = (self.ctx, self.delivery);
        let what = format!("the {command} command");
        let outcome = match until_ok(
            &what,
            Some(ctx.settings.db_retry_max),
            self.shutdown,
            handler,
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(stopped) => {
                if let Stopped::GaveUp(err) = &stopped {
                    tracing::warn!(error = %err, "database unavailable; returning the {command} command to the queue");
                    ctx.metrics.requeued.inc();
                }
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                delivery.acker.nack(requeue).await?;
                return Ok(());
            }
        };
        ctx.metrics.biometric(command, outcome.kind());
        tracing::Span::current().record("bv.outcome", outcome.kind());
        if let Some(err) = outcome.rejection() {
            tracing::Span::current().record("error.type", err.code.as_str());
            tracing::warn!(code = %err.code, reason = %err.error, "{command} command dead-lettered");
            let why = Why {
                exchange: &ctx.names.dead_exchange,
                routing_key: delivery.routing_key.as_str(),
                code: err.code,
                reason: &err.error,
            };
            dead_letter::publish_body(self.channel, delivery, &without_images(&delivery.data), why)
                .await?;
            ctx.metrics.dead_lettered.inc();
        }
        reply::answer(self.channel, delivery, &outcome).await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }
}

/// A command body with every image replaced by its size: what a dead letter
/// keeps (an operator sees what was sent, never a face). A body that is not
/// JSON is kept as its size alone.
pub fn without_images(body: &[u8]) -> Vec<u8> {
    let removed =
        |bytes: usize| serde_json::Value::String(format!("[image removed: {bytes} bytes]"));
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return serde_json::json!({ "unreadable": removed(body.len()) })
            .to_string()
            .into_bytes();
    };
    if let Some(frames) = value.get_mut("frames").and_then(|f| f.as_array_mut()) {
        for frame in frames {
            if let Some(image) = frame.get_mut("image") {
                let len = image.as_str().map_or(0, str::len);
                *image = removed(len);
            }
        }
    }
    if let Some(image) = value.get_mut("image") {
        let len = image.as_str().map_or(0, str::len);
        *image = removed(len);
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The command's `message_id` as a UUID (the attempt's or the challenge's id).
pub fn message_id(delivery: &Delivery) -> Result<Uuid, ApiError> {
    delivery
        .properties
        .message_id()
        .as_ref()
        .and_then(|id| Uuid::parse_str(id.as_str()).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidField,
                "The command's message_id must be a UUID: it identifies what the command makes",
            )
        })
}

/// Decodes a command body, or says why it cannot be read.
pub fn decode<T: serde::de::DeserializeOwned>(
    delivery: &Delivery,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(&delivery.data).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("The {what} command's body is invalid: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_keeps_no_image() {
        let body = br#"{"validation":"v","os":"web","frames":[{"step":"front","image":"QUJD"},{"image":"REVGRw=="}]}"#;
        let kept = String::from_utf8(without_images(body)).unwrap();
        assert!(!kept.contains("QUJD") && !kept.contains("REVGRw"), "{kept}");
        assert!(
            kept.contains("[image removed: 4 bytes]") && kept.contains("\"step\":\"front\""),
            "{kept}"
        );
        let junk = String::from_utf8(without_images(b"\xff\xd8 not json")).unwrap();
        assert!(!junk.contains("not json"), "{junk}");
    }
}

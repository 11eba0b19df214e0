//! The biometric commands (README, "Completing a validation"), on their own
//! queue so their own role scales on it: `challenge` (issue a liveness
//! challenge; the user started), `validate` (decide one attempt through the
//! engine) and `person.delete` (remove an enrolled face template).
//!
//! Each consumer takes one command at a time on its own channel (prefetch
//! 1: the engine is CPU-bound, and a command waiting behind another should
//! go to an idle consumer). A command is acked only once its outcome is
//! durable; while the database is unavailable it is retried, then returned
//! to the queue.
//!
//! Every command is answered. Only what an operator must look at is also
//! dead-lettered, without its images: a command that cannot be read, a
//! fault of the service, and a validate command that was started
//! `worker.validate_max_tries` times without an outcome (each time, the
//! worker stopped while analysing it: killed for its memory, say). Counting
//! its starts is what keeps such a command from crash-looping the role
//! until the broker's delivery limit dead-letters it with its images. What
//! the end user sent (a closed validation, a used challenge, a bad image) is
//! an answer, not a dead letter.

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
    ApiError, ChallengeCommand, ChallengeOutcome, DeletePersonCommand, DeletePersonOutcome,
    ErrorCode, Outcome, ValidateCommand, ValidateOutcome,
};
use bv_runtime::Shutdown;
use bv_runtime::retry::{Stopped, until_ok};
use bv_store::bounded;
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
            if delivery.redelivered {
                match served.tries().await? {
                    Tries::Within => {}
                    Tries::Stopped => return Ok(()),
                    Tries::Exceeded(tried) => return served.refuse(tried).await,
                }
            }
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

/// Whether a redelivered validate command may be started again.
enum Tries {
    Within,
    /// Started this many times before without an outcome: refused.
    Exceeded(i32),
    /// The database gave up or the worker is stopping: returned to the queue.
    Stopped,
}

impl Served<'_> {
    /// Counts this start of a redelivered validate command (unless it has
    /// an outcome already, which the handler replays).
    async fn tries(&self) -> anyhow::Result<Tries> {
        let (ctx, delivery) = (self.ctx, self.delivery);
        let Ok(id) = message_id(delivery) else {
            return Ok(Tries::Within);
        };
        let (db, limit) = (&ctx.db, ctx.db_timeout);
        let count = || async move {
            if bounded(limit, bv_store::biometrics::attempt(db, id))
                .await?
                .is_some()
            {
                return Ok(0);
            }
            let now = chrono::Utc::now();
            bounded(limit, bv_store::biometrics::count_start(db, id, now)).await
        };
        match until_ok(
            "counting a validate command's starts",
            Some(ctx.settings.db_retry_max),
            self.shutdown,
            count,
        )
        .await
        {
            // This start counted, so `starts` earlier ones (the uncounted
            // first delivery among them) ended without an outcome.
            Ok(starts) if starts >= i32::from(ctx.settings.validate_max_tries) => {
                Ok(Tries::Exceeded(starts))
            }
            Ok(_) => Ok(Tries::Within),
            Err(_) => {
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
                Ok(Tries::Stopped)
            }
        }
    }

    /// Refuses a validate command that was started `tried` times without
    /// an outcome: answered, dead-lettered without its images, acked.
    async fn refuse(&self, tried: i32) -> anyhow::Result<()> {
        let (ctx, delivery) = (self.ctx, self.delivery);
        let err = ApiError::new(
            ErrorCode::InvalidImage,
            format!(
                "These captures could not be analysed: the service stopped while analysing them \
                 {tried} times. Take new captures and send them again"
            ),
        );
        tracing::error!(
            tried,
            max = ctx.settings.validate_max_tries,
            "a validate command stopped its worker each time it was started; refused and dead-lettered without its images"
        );
        ctx.metrics.biometric("validate", "refused");
        self.dead_letter(&err).await?;
        ctx.replies
            .answer(delivery, &ValidateOutcome::Rejected(err))
            .await;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }

    /// Dead-letters the command, its images replaced by their sizes, with
    /// the reason it was refused.
    async fn dead_letter(&self, err: &ApiError) -> anyhow::Result<()> {
        let (ctx, delivery) = (self.ctx, self.delivery);
        let why = Why {
            exchange: &ctx.names.dead_exchange,
            routing_key: delivery.routing_key.as_str(),
            code: err.code,
            reason: &err.error,
        };
        dead_letter::publish_body(self.channel, delivery, &without_images(&delivery.data), why)
            .await?;
        ctx.metrics.dead_lettered.inc();
        Ok(())
    }

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
        }
        if let Some(err) = outcome.rejection().filter(|err| for_operator(err)) {
            tracing::warn!(code = %err.code, reason = %err.error, "{command} command dead-lettered");
            self.dead_letter(err).await?;
        }
        ctx.replies.answer(delivery, &outcome).await;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }
}

/// Whether a rejected command is dead-lettered as well as answered: only
/// what an operator must look at, a command that cannot be read (its body or
/// its `message_id`) or a fault of the service. What the end user sent is
/// theirs to fix: dead-lettering it would let one link fill the queue (5,000
/// `409`s in 20 s were, before).
fn for_operator(err: &ApiError) -> bool {
    matches!(err.code, ErrorCode::InvalidJson | ErrorCode::InternalError)
        || err.field.as_deref() == Some(MESSAGE_ID)
}

/// A command body as a dead letter keeps it: a validate command with every
/// image replaced by its size (an operator sees what was sent, never a
/// face), the other biometric commands as they are. Anything else, which
/// cannot be read as one of them, is kept as its size alone: reading an
/// unknown shape to find its images would cost more than the body.
pub fn without_images(body: &[u8]) -> Vec<u8> {
    let removed = |bytes: usize| format!("[image removed: {bytes} bytes]");
    if let Ok(mut command) = serde_json::from_slice::<ValidateCommand>(body) {
        for frame in &mut command.frames {
            frame.image = removed(frame.image.len());
            for image in &mut frame.burst {
                *image = removed(image.len());
            }
        }
        if let Ok(kept) = serde_json::to_vec(&command) {
            return kept;
        }
    }
    let other = serde_json::from_slice::<ChallengeCommand>(body).is_ok()
        || serde_json::from_slice::<DeletePersonCommand>(body).is_ok();
    if other {
        return body.to_vec();
    }
    serde_json::json!({ "unreadable": format!("[{} bytes removed]", body.len()) })
        .to_string()
        .into_bytes()
}

/// The field an unreadable `message_id` is reported under.
const MESSAGE_ID: &str = "message_id";

/// The command's `message_id` as a UUID (the attempt's or the challenge's id).
pub fn message_id(delivery: &Delivery) -> Result<Uuid, ApiError> {
    delivery
        .properties
        .message_id()
        .as_ref()
        .and_then(|id| Uuid::parse_str(id.as_str()).ok())
        .ok_or_else(|| {
            ApiError::field(
                ErrorCode::InvalidField,
                MESSAGE_ID,
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
        let body = br#"{"validation":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","os":"web","challengeId":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c","frames":[{"step":"front","image":"QUJD"},{"image":"REVGRw==","burst":["SElKSw==","TE1O"]}]}"#;
        let kept = String::from_utf8(without_images(body)).unwrap();
        for image in ["QUJD", "REVGRw", "SElKSw", "TE1O"] {
            assert!(!kept.contains(image), "{kept}");
        }
        assert!(
            kept.contains("\"burst\":[\"[image removed: 8 bytes]\""),
            "{kept}"
        );
        assert!(
            kept.contains("[image removed: 4 bytes]") && kept.contains("\"step\":\"front\""),
            "{kept}"
        );
        let junk = String::from_utf8(without_images(b"\xff\xd8 not json")).unwrap();
        assert!(!junk.contains("not json"), "{junk}");
        // A shape that is no command keeps nothing but its size, whatever
        // it holds (an image under another name, say).
        let odd = br#"{"validation":"x","frames":[{"picture":"QUJD"}]}"#;
        let kept = String::from_utf8(without_images(odd)).unwrap();
        assert!(!kept.contains("QUJD"), "{kept}");
        let challenge = br#"{"validation":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}"#;
        assert_eq!(without_images(challenge), challenge.to_vec());
    }

    #[test]
    fn only_what_an_operator_must_see_is_dead_lettered() {
        assert!(for_operator(&ApiError::new(ErrorCode::InvalidJson, "x")));
        assert!(for_operator(&ApiError::internal(None)));
        assert!(for_operator(&ApiError::field(
            ErrorCode::InvalidField,
            MESSAGE_ID,
            "x"
        )));
        for answer in [
            ApiError::closed(bv_contract::ValidationStatus::Validated),
            ApiError::challenge_used(),
            ApiError::challenge_not_found(),
            ApiError::not_found(),
            ApiError::invalid_image("image", "the image is incomplete"),
        ] {
            assert!(!for_operator(&answer), "{answer:?}");
        }
    }
}

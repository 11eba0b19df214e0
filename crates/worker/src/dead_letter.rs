//! Dead-lettering a command that can never succeed: a copy goes to the dead
//! exchange (under its kind's routing key, so it lands in that kind's dead
//! queue, however it was published) with the error code and the reason in headers, and
//! the broker's confirm is awaited before the original is acked. The reason
//! is for operators: it may hold detail (a database's refusal) that a client
//! never sees.

use std::time::Duration;

use bv_contract::ErrorCode;
use bv_contract::amqp::{DEAD_CODE_HEADER, DEAD_REASON_HEADER};
use bv_runtime::amqp::set_header;
use lapin::message::Delivery;
use lapin::options::BasicPublishOptions;
use lapin::{Channel, Confirmation};

/// How long the broker may take to confirm a dead letter.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a dead command goes and why.
pub struct Why<'a> {
    /// The dead exchange.
    pub exchange: &'a str,
    /// The command kind's routing key.
    pub routing_key: &'a str,
    pub code: ErrorCode,
    /// Operators' detail, in `x-bv-error-reason`.
    pub reason: &'a str,
}

/// Publishes a copy of `delivery` to the dead exchange and waits for the
/// confirm; an error means the caller must not ack the original (its channel
/// closes and the message returns to the queue).
pub async fn publish(channel: &Channel, delivery: &Delivery, why: Why<'_>) -> anyhow::Result<()> {
    publish_body(channel, delivery, &delivery.data, why).await
}

/// The same, with `body` instead of the original's (a validate command's
/// copy without its images: nothing biometric is kept in a dead letter).
pub async fn publish_body(
    channel: &Channel,
    delivery: &Delivery,
    body: &[u8],
    why: Why<'_>,
) -> anyhow::Result<()> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    set_header(&mut headers, DEAD_CODE_HEADER, why.code.as_str());
    set_header(&mut headers, DEAD_REASON_HEADER, why.reason);
    let props = delivery
        .properties
        .clone()
        .with_headers(headers)
        .with_delivery_mode(2);
    let publish = async {
        channel
            .basic_publish(
                why.exchange.into(),
                why.routing_key.into(),
                // Unroutable (no dead queue bound) is an error, not a silent drop.
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                props,
            )
            .await?
            .await
    };
    let confirm = tokio::time::timeout(CONFIRM_TIMEOUT, publish)
        .await
        .map_err(|_| {
            anyhow::anyhow!("no confirm for a dead letter within {CONFIRM_TIMEOUT:?}")
        })??;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => anyhow::bail!("no dead-letter queue took the message"),
        other => anyhow::bail!("the broker did not confirm a dead letter: {other:?}"),
    }
}

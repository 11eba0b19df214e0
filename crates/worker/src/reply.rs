//! Answering a command that asked for an answer (`reply_to`): the outcome,
//! in domain terms, as the body (with its `type`) and as the `x-bv-outcome`
//! header, echoing the request's `correlation_id`. Both consumers answer
//! through here; what an outcome means over HTTP is the ingress's business.

use std::time::Duration;

use bv_contract::Outcome;
use bv_contract::amqp::REPLY_OUTCOME_HEADER;
use bv_runtime::amqp::set_header;
use lapin::message::Delivery;
use lapin::options::BasicPublishOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

/// How long publishing an answer may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers `request` with `outcome` if it asked for an answer. Best effort:
/// a caller that stopped waiting reads the result through the API.
pub async fn answer<O: Outcome>(
    channel: &Channel,
    request: &Delivery,
    outcome: &O,
) -> anyhow::Result<()> {
    let Some(reply_to) = request.properties.reply_to() else {
        return Ok(());
    };
    let body = serde_json::to_vec(outcome)?;
    let mut headers = FieldTable::default();
    set_header(&mut headers, REPLY_OUTCOME_HEADER, outcome.kind());
    let mut props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_type(O::MESSAGE_TYPE.into())
        .with_headers(headers);
    if let Some(correlation) = request.properties.correlation_id() {
        props = props.with_correlation_id(correlation.clone());
    }
    let publish = channel.basic_publish(
        "".into(),
        reply_to.clone(),
        BasicPublishOptions::default(),
        &body,
        props,
    );
    match tokio::time::timeout(REPLY_TIMEOUT, publish).await {
        Ok(sent) => {
            sent?;
        }
        Err(_) => {
            tracing::warn!("a reply could not be sent in time; the caller reads it via the API")
        }
    }
    Ok(())
}

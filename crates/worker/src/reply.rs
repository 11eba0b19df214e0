//! Answering a command that asked for an answer (`reply_to`): the outcome,
//! in domain terms, as the body (with its `type`) and as the `x-bv-outcome`
//! header, echoing the request's `correlation_id`. Every consumer answers
//! through here; what an outcome means over HTTP is the ingress's business.
//!
//! Answers leave on a connection of their own ([`Replier`]), never on the
//! consuming channel: RabbitMQ 3.10 closes the whole connection of a
//! publisher whose direct reply-to address names a node that has died
//! (`INTERNAL_ERROR`, seen in a three-node cluster when the ingress's node
//! was killed), and on the consuming connection that crash-looped every
//! consumer, with every redelivery of the commands in flight, until that node
//! came back. Answers are best effort: a caller that stopped waiting (or
//! whose node died) reads the result through the API; an answer that cannot
//! be sent is logged and its command still acked.

use std::time::Duration;

use bv_contract::Outcome;
use bv_contract::amqp::REPLY_OUTCOME_HEADER;
use bv_runtime::AmqpSettings;
use bv_runtime::amqp::set_header;
use lapin::message::Delivery;
use lapin::options::BasicPublishOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

/// How long publishing an answer may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends answers on a connection of its own, opened when first needed and
/// again after it was lost.
pub struct Replier {
    settings: AmqpSettings,
    open: Mutex<Option<(Connection, Channel)>>,
}

impl Replier {
    pub fn new(settings: AmqpSettings) -> Replier {
        Replier {
            settings,
            open: Mutex::new(None),
        }
    }

    /// The answers' channel, (re)connecting once if it is not open.
    async fn channel(&self) -> Option<Channel> {
        let mut open = self.open.lock().await;
        if let Some((conn, channel)) = open.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Some(channel.clone());
        }
        let name = format!("bv-worker-{}-replies", std::process::id());
        let connected = async {
            let conn = bv_runtime::amqp::connect(&self.settings, &name).await?;
            let channel = conn.create_channel().await?;
            Ok::<_, lapin::Error>((conn, channel))
        };
        match tokio::time::timeout(REPLY_TIMEOUT, connected).await {
            Ok(Ok((conn, channel))) => {
                *open = Some((conn, channel.clone()));
                Some(channel)
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot open the answers' connection; the callers read results through the API");
                None
            }
            Err(_) => None,
        }
    }

    /// Answers `request` with `outcome` if it asked for an answer. Never
    /// fails: see the module docs.
    pub async fn answer<O: Outcome>(&self, request: &Delivery, outcome: &O) {
        let Some(reply_to) = request.properties.reply_to() else {
            return;
        };
        let Ok(body) = serde_json::to_vec(outcome) else {
            return;
        };
        let mut headers = FieldTable::default();
        set_header(&mut headers, REPLY_OUTCOME_HEADER, outcome.kind());
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_type(O::MESSAGE_TYPE.into())
            .with_headers(headers);
        if let Some(correlation) = request.properties.correlation_id() {
            props = props.with_correlation_id(correlation.clone());
        }
        let Some(channel) = self.channel().await else {
            return;
        };
        let publish = channel.basic_publish(
            "".into(),
            reply_to.clone(),
            BasicPublishOptions::default(),
            &body,
            props,
        );
        match tokio::time::timeout(REPLY_TIMEOUT, publish).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "an answer could not be sent; the caller reads it through the API");
            }
            Err(_) => {
                tracing::warn!(
                    "an answer could not be sent in time; the caller reads it through the API"
                )
            }
        }
    }
}

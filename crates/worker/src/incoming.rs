//! Decoding a create command's delivery: its properties (`type`,
//! `message_id`) and its body, into what persisting needs. A delivery that
//! fails here can never succeed; the error says why.

use bv_contract::amqp::CREATE_MESSAGE_TYPE;
use bv_contract::request::Expiry;
use bv_contract::{ApiError, CreateCommand, ErrorCode};
use lapin::message::Delivery;
use uuid::Uuid;

/// One decoded command ready to persist.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub id: Uuid,
    pub command: CreateCommand,
    pub fingerprint: String,
    /// The context of the command's processing span: its W3C traceparent is
    /// stored with its deliveries so every attempt joins the request's trace.
    pub trace: Option<opentelemetry::trace::SpanContext>,
}

impl Incoming {
    /// The W3C traceparent of the command's processing span, if it has one.
    pub fn trace_parent(&self) -> Option<String> {
        self.trace
            .as_ref()
            .and_then(bv_runtime::propagation::traceparent_of_context)
    }
}

/// Decodes a delivery into a command.
pub fn decode(delivery: &Delivery) -> Result<Incoming, ApiError> {
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
    let fingerprint = bv_contract::idempotency::fingerprint(&command.client, &command.request);
    Ok(Incoming {
        id,
        command,
        fingerprint,
        trace: None,
    })
}

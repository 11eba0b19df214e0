//! Connecting to RabbitMQ and declaring the topology.
//!
//! Both binaries declare the whole topology at start (idempotent), so either
//! can start first. The command queue is a durable quorum queue with an explicit
//! delivery limit, dead-lettering at-least-once to the dead exchange.

use bv_contract::amqp::{
    CHALLENGE_ROUTING_KEY, CREATE_ROUTING_KEY, DIRECT_REPLY_TO, Names, PERSON_DELETE_ROUTING_KEY,
    REDELIVER_ROUTING_KEY, VALIDATE_ROUTING_KEY,
};

/// The routing keys of the biometric commands, all on the validate queue.
pub const BIOMETRIC_ROUTING_KEYS: [&str; 3] = [
    VALIDATE_ROUTING_KEY,
    CHALLENGE_ROUTING_KEY,
    PERSON_DELETE_ROUTING_KEY,
];
use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::retry::until_ok;
use crate::settings::{AmqpSettings, redact};
use crate::shutdown::Shutdown;

/// Opens one connection, with the configured heartbeat and connect timeout
/// unless the URL sets its own: to the first broker of `amqp.url` that
/// answers, so that when a cluster node dies the service is connected to
/// another at once (its reconnect's first try comes without delay).
pub async fn connect(settings: &AmqpSettings, name: &str) -> lapin::Result<Connection> {
    let mut last = None;
    for url in settings.urls() {
        match connect_one(settings, url, name).await {
            Ok(conn) => return Ok(conn),
            Err(err) => {
                tracing::debug!(broker = %redact(url), error = %err, "broker not reachable; trying the next");
                last = Some(err);
            }
        }
    }
    Err(last.unwrap_or(lapin::Error::from(
        lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed),
    )))
}

async fn connect_one(settings: &AmqpSettings, url: &str, name: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    // The settings checked the URL; should it not parse, lapin says why.
    let Ok(mut uri) = url.parse::<lapin::uri::AMQPUri>() else {
        return Connection::connect(url, props).await;
    };
    let query = &mut uri.query;
    query.heartbeat = query.heartbeat.or(Some(
        u16::try_from(settings.heartbeat.as_secs()).unwrap_or(u16::MAX),
    ));
    query.connection_timeout = query.connection_timeout.or(Some(
        u64::try_from(settings.connect_timeout.as_millis()).unwrap_or(u64::MAX),
    ));
    Connection::connect_uri(uri, props).await
}

/// Opens a connection, retrying (see [`crate::retry`]) until it succeeds or
/// shutdown is triggered (then `None`).
pub async fn connect_with_retry(
    settings: &AmqpSettings,
    name: &str,
    shutdown: &Shutdown,
) -> Option<Connection> {
    let what = format!("connecting to RabbitMQ at {}", settings.redacted_urls());
    until_ok(&what, None, shutdown, || connect(settings, name))
        .await
        .ok()
}

fn arg_str(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// The limits queues are declared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// `x-delivery-limit` of the command queues.
    pub delivery_limit: u32,
    /// `x-max-length` of the dead-letter queues.
    pub dead_max_length: u32,
    /// `x-message-ttl` of the dead-letter queues.
    pub dead_ttl: std::time::Duration,
}

impl From<&crate::AmqpSettings> for QueueLimits {
    fn from(s: &crate::AmqpSettings) -> Self {
        QueueLimits {
            delivery_limit: s.delivery_limit,
            dead_max_length: s.dead_letter_max_length,
            dead_ttl: s.dead_letter_ttl,
        }
    }
}

impl QueueLimits {
    /// The built-in defaults' limits, with this delivery limit.
    pub fn with_delivery_limit(delivery_limit: u32) -> Self {
        QueueLimits {
            delivery_limit,
            dead_max_length: 100_000,
            dead_ttl: std::time::Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// Declares exchanges, queues and bindings for `names`.
pub async fn declare_topology(
    channel: &Channel,
    names: &Names,
    limits: &QueueLimits,
) -> lapin::Result<()> {
    let delivery_limit = limits.delivery_limit;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            names.commands_exchange.as_str().into(),
            ExchangeKind::Direct,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            names.dead_exchange.as_str().into(),
            ExchangeKind::Direct,
            durable_exchange,
            FieldTable::default(),
        )
        .await?;

    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-queue-type"), arg_str("quorum"));
    args.insert(
        ShortString::from("x-delivery-limit"),
        AMQPValue::LongInt(i32::try_from(delivery_limit).unwrap_or(i32::MAX)),
    );
    args.insert(
        ShortString::from("x-dead-letter-exchange"),
        arg_str(&names.dead_exchange),
    );
    args.insert(
        ShortString::from("x-dead-letter-strategy"),
        arg_str("at-least-once"),
    );
    // at-least-once dead-lettering requires reject-publish overflow.
    args.insert(ShortString::from("x-overflow"), arg_str("reject-publish"));
    channel
        .queue_declare(
            names.create_queue.as_str().into(),
            durable_queue,
            args.clone(),
        )
        .await?;
    // The biometric commands: a queue of their own (its own role scales on
    // it), quorum and dead-lettered like create.
    channel
        .queue_declare(names.validate_queue.as_str().into(), durable_queue, args)
        .await?;
    for key in BIOMETRIC_ROUTING_KEYS {
        channel
            .queue_bind(
                names.validate_queue.as_str().into(),
                names.commands_exchange.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }

    channel
        .queue_bind(
            names.create_queue.as_str().into(),
            names.commands_exchange.as_str().into(),
            CREATE_ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut redeliver_args = FieldTable::default();
    redeliver_args.insert(ShortString::from("x-queue-type"), arg_str("quorum"));
    channel
        .queue_declare(
            names.redeliver_queue.as_str().into(),
            durable_queue,
            redeliver_args,
        )
        .await?;
    channel
        .queue_bind(
            names.redeliver_queue.as_str().into(),
            names.commands_exchange.as_str().into(),
            REDELIVER_ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for (queue, key) in [
        (&names.create_dead_queue, CREATE_ROUTING_KEY),
        (&names.redeliver_dead_queue, REDELIVER_ROUTING_KEY),
        (&names.validate_dead_queue, VALIDATE_ROUTING_KEY),
        (&names.validate_dead_queue, CHALLENGE_ROUTING_KEY),
        (&names.validate_dead_queue, PERSON_DELETE_ROUTING_KEY),
    ] {
        let mut dead_args = FieldTable::default();
        dead_args.insert(ShortString::from("x-queue-type"), arg_str("quorum"));
        // Bounded: a flood of bad commands drops the oldest dead letters
        // rather than filling the broker's disk, and none is kept forever.
        dead_args.insert(
            ShortString::from("x-max-length"),
            AMQPValue::LongInt(i32::try_from(limits.dead_max_length).unwrap_or(i32::MAX)),
        );
        dead_args.insert(
            ShortString::from("x-message-ttl"),
            AMQPValue::LongInt(i32::try_from(limits.dead_ttl.as_millis()).unwrap_or(i32::MAX)),
        );
        channel
            .queue_declare(queue.as_str().into(), durable_queue, dead_args)
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                names.dead_exchange.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Consumes RabbitMQ's direct reply-to pseudo-queue on `channel` (before
/// publishing a command with `reply_to` on the same channel): the answers.
pub async fn consume_replies(channel: &Channel) -> lapin::Result<lapin::Consumer> {
    channel
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
}

/// Reads a string header (long or short string) from a message's headers.
pub fn header_str(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    let value = headers?.inner().get(name)?;
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// Inserts a string header.
pub fn set_header(headers: &mut FieldTable, name: &str, value: &str) {
    headers.insert(ShortString::from(name), arg_str(value));
}

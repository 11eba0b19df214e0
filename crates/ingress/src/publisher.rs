//! Publishing create commands and waiting for the worker's answer.
//!
//! A background task keeps one AMQP session alive: a confirm-mode channel that
//! also consumes RabbitMQ's direct reply-to pseudo-queue. [`Publisher::send`]
//! publishes with `mandatory`, waits for the broker's confirm (so an accepted
//! request is durable in the queue), then waits up to a timeout for the reply
//! matching its correlation id. Without a session every send fails fast, and
//! the HTTP layer answers `503`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bv_contract::amqp::{DIRECT_REPLY_TO, Names};
use bv_runtime::amqp::{connect_with_retry, consume_replies, declare_topology};
use bv_runtime::propagation::inject_current;
use bv_runtime::retry::keep_alive;
use bv_runtime::{AmqpSettings, Shutdown};
use futures::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use tokio::sync::oneshot;
use tracing::Instrument;
use uuid::Uuid;

use crate::metrics::Metrics;

/// How long a publish may take, sending and the broker's confirm together.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a command could not be handed to the broker.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("not connected to the message broker")]
    NotConnected,
    #[error("the message broker did not accept the command: {0}")]
    NotConfirmed(String),
}

/// What came of a published command.
#[derive(Debug)]
pub enum Sent {
    /// The worker answered in time.
    Answered(Reply),
    /// Accepted by the broker; no answer yet (or none asked for).
    Queued,
}

/// The worker's answer: the reply body (an outcome, for the route to decode).
#[derive(Debug)]
pub struct Reply {
    pub body: Vec<u8>,
}

/// A command to publish.
pub struct Outgoing<'a> {
    pub routing_key: &'a str,
    pub message_type: &'a str,
    /// The `message_id`: for a create command, the validation `_id`.
    pub id: Uuid,
    /// Dropped once the broker confirmed it: a command waiting for its
    /// answer does not hold its body (a validate command's images).
    pub body: Cow<'a, [u8]>,
    /// Wait this long for the worker's answer; `None` publishes only.
    pub wait: Option<Duration>,
    /// Called once the command is published, before the wait.
    pub published: Option<Box<dyn FnOnce() + Send + 'a>>,
}

#[derive(Clone)]
struct Session {
    channel: Channel,
}

type Waiters = Mutex<HashMap<String, oneshot::Sender<Reply>>>;

pub struct Publisher {
    session: RwLock<Option<Session>>,
    waiters: Waiters,
    names: Names,
    metrics: Arc<Metrics>,
    /// Asks the session to start over (see [`Publisher::renew`]), and when
    /// it last did.
    renew: tokio::sync::Notify,
    renewed: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Removes a waiter however its request ends.
struct WaiterGuard<'a> {
    waiters: &'a Waiters,
    key: String,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&self.key);
        }
    }
}

impl Publisher {
    /// Starts the session task; the publisher is usable once it connects.
    pub fn start(
        settings: AmqpSettings,
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let publisher = Arc::new(Publisher {
            session: RwLock::new(None),
            waiters: Mutex::new(HashMap::new()),
            names: Names::new(&settings.prefix),
            metrics,
            renew: tokio::sync::Notify::new(),
            renewed: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(publisher.clone().maintain(settings, shutdown));
        (publisher, task)
    }

    pub fn is_connected(&self) -> bool {
        self.session
            .read()
            .map(|s| s.as_ref().is_some_and(|s| s.channel.status().connected()))
            .unwrap_or(false)
    }

    /// Publishes a create command with `id` as its `message_id`; when
    /// `wait` is set, waits up to `wait` for the worker's answer.
    pub async fn send(&self, msg: Outgoing<'_>) -> Result<Sent, SendError> {
        let Outgoing {
            routing_key,
            message_type,
            id,
            body,
            wait,
            published,
        } = msg;
        let session = self
            .session
            .read()
            .ok()
            .and_then(|s| s.clone())
            .ok_or(SendError::NotConnected)?;
        let span = tracing::info_span!(
            "bv.publish",
            otel.name = format!("publish {}", self.names.commands_exchange),
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.operation.type = "send",
            messaging.operation.name = "publish",
            messaging.destination.name = %self.names.commands_exchange,
            messaging.rabbitmq.destination.routing_key = routing_key,
            messaging.message.id = %id,
        );
        let mut headers = FieldTable::default();
        span.in_scope(|| inject_current(&mut headers));

        let mut props = BasicProperties::default()
            .with_message_id(id.to_string().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_type(message_type.into())
            .with_timestamp(chrono::Utc::now().timestamp().try_into().unwrap_or(0))
            .with_headers(headers);
        let mut reply = None;
        let mut _guard = None;
        if wait.is_some() {
            let correlation = Uuid::new_v4().to_string();
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = self.waiters.lock() {
                w.insert(correlation.clone(), tx);
            }
            _guard = Some(WaiterGuard {
                waiters: &self.waiters,
                key: correlation.clone(),
            });
            props = props
                .with_reply_to(DIRECT_REPLY_TO.into())
                .with_correlation_id(correlation.into());
            reply = Some(rx);
        }

        let publish = async {
            let confirm = session
                .channel
                .basic_publish(
                    self.names.commands_exchange.as_str().into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &body,
                    props,
                )
                .await
                .map_err(|e| SendError::NotConfirmed(e.to_string()))?;
            match confirm.await {
                Ok(Confirmation::Ack(None)) => Ok(()),
                Ok(Confirmation::Ack(Some(_))) => Err(SendError::NotConfirmed(
                    "the command queue does not exist (message returned)".into(),
                )),
                Ok(other) => {
                    self.renew();
                    Err(SendError::NotConfirmed(format!("{other:?}")))
                }
                Err(e) => Err(SendError::NotConfirmed(e.to_string())),
            }
        };
        // Sending and confirming together are bounded: a blocked or stuck
        // connection answers 503 instead of holding the request.
        async {
            tokio::time::timeout(CONFIRM_TIMEOUT, publish)
                .await
                .unwrap_or_else(|_| Err(SendError::NotConfirmed("no confirm within 5s".into())))
        }
        .instrument(span)
        .await?;
        drop(body);
        if let Some(published) = published {
            published();
        }

        let (Some(rx), Some(wait)) = (reply, wait) else {
            return Ok(Sent::Queued);
        };
        let waiting = std::time::Instant::now();
        let answered = tokio::time::timeout(wait, rx).await;
        self.metrics
            .reply_wait(matches!(answered, Ok(Ok(_))), waiting.elapsed());
        match answered {
            Ok(Ok(answer)) => Ok(Sent::Answered(answer)),
            _ => Ok(Sent::Queued),
        }
    }

    /// Starts the session over, at most once a second, after the broker
    /// nacked a command. Seen with a three-node cluster: a channel opened
    /// while a quorum queue's leader was being re-elected (its node had just
    /// died) went on nacking every publish until that node came back, while
    /// a new channel publishes to the new leader.
    fn renew(&self) {
        let Ok(mut renewed) = self.renewed.lock() else {
            return;
        };
        let now = std::time::Instant::now();
        if renewed.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1)) {
            return;
        }
        *renewed = Some(now);
        tracing::warn!("the broker nacked a command; opening a new session");
        self.renew.notify_one();
    }

    /// Keeps a session up until shutdown; without one, sends answer 503.
    async fn maintain(self: Arc<Self>, settings: AmqpSettings, shutdown: Shutdown) {
        keep_alive(
            "RabbitMQ session (answering 503 meanwhile)",
            &shutdown,
            || async {
                let Some(conn) = connect_with_retry(&settings, "bv-ingress", &shutdown).await
                else {
                    return Ok(());
                };
                let result = self.serve_session(&conn, &settings, &shutdown).await;
                if let Ok(mut s) = self.session.write() {
                    *s = None;
                }
                let _ = conn.close(200, "bye".into()).await;
                result
            },
        )
        .await;
    }

    /// Sets up one session and delivers replies until it fails or shutdown.
    async fn serve_session(
        &self,
        conn: &Connection,
        settings: &AmqpSettings,
        shutdown: &Shutdown,
    ) -> anyhow::Result<()> {
        let channel = conn.create_channel().await?;
        declare_topology(&channel, &self.names, &settings.into()).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut replies = consume_replies(&channel).await?;
        if let Ok(mut s) = self.session.write() {
            *s = Some(Session {
                channel: channel.clone(),
            });
        }
        tracing::info!(exchange = %self.names.commands_exchange, "connected to RabbitMQ");
        loop {
            let next = tokio::select! {
                next = replies.next() => next,
                _ = shutdown.wait() => return Ok(()),
                // A clean end: the next session starts at once.
                _ = self.renew.notified() => return Ok(()),
            };
            let delivery = match next {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the reply consumer was cancelled"),
            };
            let Some(correlation) = delivery.properties.correlation_id() else {
                continue;
            };
            let waiter = self
                .waiters
                .lock()
                .ok()
                .and_then(|mut w| w.remove(correlation.as_str()));
            // No waiter: the caller stopped waiting (timeout) and answered 202.
            if let Some(tx) = waiter {
                let _ = tx.send(Reply {
                    body: delivery.data,
                });
            }
        }
    }
}

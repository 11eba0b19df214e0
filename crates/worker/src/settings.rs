//! bv-worker's settings: database, AMQP, telemetry, `[worker]`, and the
//! delivery sections (`[delivery]`, `[webhooks]`, `[email]`, `[links]`).

use std::net::SocketAddr;
use std::time::Duration;

use bv_runtime::settings::{SettingError, Validate, positive};
use bv_runtime::{AmqpSettings, DatabaseSettings, TelemetrySettings, WebhookSettings};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub telemetry: TelemetrySettings,
    pub worker: WorkerSettings,
    pub delivery: DeliverySettings,
    pub webhooks: WebhookSettings,
    pub email: EmailSettings,
    pub links: LinkSettings,
}

/// `[worker]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Health and metrics endpoint (`/healthz`, `/readyz`, `/metrics`).
    pub http_addr: SocketAddr,
    /// Unacknowledged messages the broker sends each consumer ahead.
    pub prefetch: u16,
    /// Consumers (each on its own channel) processing batches concurrently.
    pub concurrency: u16,
    /// Most commands committed in one transaction.
    pub batch_size: u16,
    /// How long a batch is retried while the database is unavailable before its
    /// messages are returned to the queue.
    #[serde(with = "humantime_serde")]
    pub db_retry_max: Duration,
    /// How often validations left `new` past `expiresAt` are marked `expired`.
    #[serde(with = "humantime_serde")]
    pub expiry_sweep_interval: Duration,
    /// Run the delivery dispatcher in this process.
    pub dispatch: bool,
}

/// `[delivery]`: the retry schedule and the dispatcher's pace.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    pub factor: f32,
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// Retries end this long after the schedule began.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Attempts per schedule; 0 means only `max_age` ends retries.
    pub max_attempts: u32,
    /// One HTTP request or SMTP transaction.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub concurrency: u16,
    #[serde(with = "humantime_serde")]
    pub retry_after_max: Duration,
}

/// `[email]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// `smtp` or `file`.
    pub transport: String,
    /// lettre's URL form: `smtp://user:pass@host:587?tls=required`, `smtps://host:465`, …
    pub smtp_url: String,
    pub file_dir: String,
    pub from: String,
}

/// `[links]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// The validation link is `<base_url>/<_id>`.
    pub base_url: String,
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingError> {
        self.database.validate()?;
        self.amqp.validate()?;
        self.telemetry.validate()?;
        self.webhooks.validate()?;
        let w = &self.worker;
        if w.prefetch == 0 {
            return Err(SettingError::new("worker.prefetch", "must be at least 1"));
        }
        if w.concurrency == 0 {
            return Err(SettingError::new(
                "worker.concurrency",
                "must be at least 1",
            ));
        }
        if w.batch_size == 0 || w.batch_size > 1000 {
            return Err(SettingError::new(
                "worker.batch_size",
                "must be between 1 and 1000",
            ));
        }
        positive("worker.db_retry_max", w.db_retry_max)?;
        positive("worker.expiry_sweep_interval", w.expiry_sweep_interval)?;

        let d = &self.delivery;
        positive("delivery.initial_delay", d.initial_delay)?;
        if !(d.factor >= 1.0 && d.factor.is_finite()) {
            return Err(SettingError::new(
                "delivery.factor",
                "must be a number of at least 1",
            ));
        }
        if d.max_delay < d.initial_delay {
            return Err(SettingError::new(
                "delivery.max_delay",
                "must be at least delivery.initial_delay",
            ));
        }
        positive("delivery.max_age", d.max_age)?;
        positive("delivery.timeout", d.timeout)?;
        if d.lease <= d.timeout {
            return Err(SettingError::new(
                "delivery.lease",
                "must be longer than delivery.timeout",
            ));
        }
        positive("delivery.poll_interval", d.poll_interval)?;
        if d.concurrency == 0 {
            return Err(SettingError::new(
                "delivery.concurrency",
                "must be at least 1",
            ));
        }

        let e = &self.email;
        match e.transport.as_str() {
            "file" => {
                if e.file_dir.is_empty() {
                    return Err(SettingError::new("email.file_dir", "must not be empty"));
                }
            }
            "smtp" => {
                if lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&e.smtp_url)
                    .is_err()
                {
                    return Err(SettingError::new(
                        "email.smtp_url",
                        "is not an SMTP URL such as smtp://user:pass@host:587?tls=required",
                    ));
                }
            }
            _ => {
                return Err(SettingError::new(
                    "email.transport",
                    "must be `smtp` or `file`",
                ));
            }
        }
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(SettingError::new(
                "email.from",
                "is not a mailbox such as `Name <addr@example.com>`",
            ));
        }
        match url::Url::parse(&self.links.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            _ => Err(SettingError::new(
                "links.base_url",
                "must be an absolute http(s) URL",
            )),
        }
    }
}

impl Settings {
    /// Loads from the built-in defaults, `BV_CONFIG` and the environment.
    pub fn load() -> anyhow::Result<Self> {
        bv_runtime::settings::load(bv_runtime::settings::DEFAULTS)
    }
}

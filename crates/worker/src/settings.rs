//! bv-worker's settings: database, AMQP, telemetry and the `[worker]` section.

use std::net::SocketAddr;
use std::time::Duration;

use bv_runtime::settings::{SettingError, Validate, positive};
use bv_runtime::{AmqpSettings, DatabaseSettings, TelemetrySettings};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub telemetry: TelemetrySettings,
    pub worker: WorkerSettings,
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
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingError> {
        self.database.validate()?;
        self.amqp.validate()?;
        self.telemetry.validate()?;
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
        Ok(())
    }
}

impl Settings {
    /// Loads from the built-in defaults, `BV_CONFIG` and the environment.
    pub fn load() -> anyhow::Result<Self> {
        bv_runtime::settings::load(bv_runtime::settings::DEFAULTS)
    }
}

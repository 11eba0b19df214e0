//! bv-ingress's settings: HTTP, database (reads), AMQP, auth, telemetry and `[ingress]`.

use std::net::SocketAddr;
use std::time::Duration;

use bv_runtime::settings::{SettingError, Validate, positive};
use bv_runtime::{
    AmqpSettings, AuthSettings, BiometricsSettings, DatabaseSettings, LinkSettings,
    TelemetrySettings,
};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub ingress: IngressSettings,
    pub links: LinkSettings,
    pub biometrics: BiometricsSettings,
}

/// `[http]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub addr: SocketAddr,
}

/// `[ingress]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressSettings {
    /// How long `POST` waits for the worker before answering `202 Accepted`.
    #[serde(with = "humantime_serde")]
    pub reply_timeout: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Cap on `perPage` of the list endpoint.
    pub max_per_page: u64,
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingError> {
        self.database.validate()?;
        self.amqp.validate()?;
        self.auth.validate()?;
        self.telemetry.validate()?;
        self.links.validate()?;
        self.biometrics.validate()?;
        positive("ingress.reply_timeout", self.ingress.reply_timeout)?;
        if self.ingress.max_body_bytes < 1024 {
            return Err(SettingError::new(
                "ingress.max_body_bytes",
                "must be at least 1024",
            ));
        }
        if self.ingress.max_per_page == 0 {
            return Err(SettingError::new(
                "ingress.max_per_page",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        bv_runtime::settings::load(bv_runtime::settings::DEFAULTS)
    }
}

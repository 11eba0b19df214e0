//! bv-worker's settings: database, AMQP, telemetry, `[worker]`, and the
//! delivery sections (`[delivery]`, `[webhooks]`, `[email]`, `[links]`).

use std::net::SocketAddr;
use std::time::Duration;

use bv_runtime::settings::{ExposeSecret, SecretString, SettingError, Validate, positive};
use bv_runtime::{
    AmqpSettings, BiometricsSettings, DatabaseSettings, LinkSettings, TelemetrySettings,
    WebhookSettings,
};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub telemetry: TelemetrySettings,
    pub worker: WorkerSettings,
    pub delivery: DeliverySettings,
    pub webhooks: WebhookSettings,
    pub email: EmailSettings,
    pub links: LinkSettings,
    pub biometrics: BiometricsSettings,
}

/// `[worker]`
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Health and metrics endpoint (`/healthz`, `/readyz`, `/metrics`).
    #[schemars(with = "String")]
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
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub db_retry_max: Duration,
    /// How often validations left `new` past `expiresAt` are marked `expired`.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub expiry_sweep_interval: Duration,
    /// Consume create commands (and redeliver commands): the API's role.
    /// `false` with `biometrics` makes a worker of the biometric role only.
    pub creates: bool,
    /// Run the delivery dispatcher in this process.
    pub dispatch: bool,
    /// Consume the biometric commands (challenge, validate, delete person).
    pub biometrics: bool,
    /// Biometric commands processed at once (each on its own channel).
    pub biometrics_concurrency: u16,
    /// How many times a validate command may be started without an outcome
    /// (its worker stopped each time) before it is refused and
    /// dead-lettered without its images.
    pub validate_max_tries: u16,
}

/// `[delivery]`: the retry schedule and the dispatcher's pace.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub initial_delay: Duration,
    pub factor: f32,
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub max_delay: Duration,
    /// Retries end this long after the schedule began.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub max_age: Duration,
    /// Attempts per schedule; 0 means only `max_age` ends retries.
    pub max_attempts: u32,
    /// One HTTP request or SMTP transaction.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub lease: Duration,
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub poll_interval: Duration,
    pub concurrency: u16,
    /// Webhook attempts in flight to one host (host:port) at most, so a slow
    /// receiver cannot hold every slot.
    pub per_host_concurrency: u16,
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub retry_after_max: Duration,
}

/// How emails leave the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum EmailTransport {
    /// An SMTP server (`email.smtp_url`).
    Smtp,
    /// `.eml` files in `email.file_dir` (the embedded default).
    File,
}

impl schemars::JsonSchema for EmailTransport {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EmailTransport".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "How emails leave the worker: `smtp` (email.smtp_url) or `file` (.eml files in email.file_dir).",
            "type": "string",
            "enum": ["smtp", "file"]
        })
    }
}

impl TryFrom<String> for EmailTransport {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "smtp" => Ok(EmailTransport::Smtp),
            "file" => Ok(EmailTransport::File),
            other => Err(format!(
                "`{other}` is not a transport: use `smtp` or `file`"
            )),
        }
    }
}

/// `[email]`
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub transport: EmailTransport,
    /// lettre's URL form: `smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`, …; it holds the SMTP password, so `Debug` never
    /// prints it.
    #[schemars(with = "String")]
    pub smtp_url: SecretString,
    pub file_dir: String,
    pub from: String,
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingError> {
        self.database.validate()?;
        self.amqp.validate()?;
        self.telemetry.validate()?;
        self.webhooks.validate()?;
        self.links.validate()?;
        let w = &self.worker;
        if !(w.creates || w.biometrics || w.dispatch) {
            return Err(SettingError::new(
                "worker.creates",
                "a worker with creates, biometrics and dispatch all false has nothing to do",
            ));
        }
        if w.biometrics && w.biometrics_concurrency == 0 {
            return Err(SettingError::new(
                "worker.biometrics_concurrency",
                "must be at least 1",
            ));
        }
        if w.validate_max_tries == 0 {
            return Err(SettingError::new(
                "worker.validate_max_tries",
                "must be at least 1",
            ));
        }
        if u32::from(w.validate_max_tries) >= self.amqp.delivery_limit {
            return Err(SettingError::new(
                "worker.validate_max_tries",
                "must be below amqp.delivery_limit: the worker refuses a command that keeps \
                 stopping it (without its images) before the broker dead-letters it (with them)",
            ));
        }

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
        if d.per_host_concurrency == 0 {
            return Err(SettingError::new(
                "delivery.per_host_concurrency",
                "must be at least 1",
            ));
        }
        if d.concurrency == 0 {
            return Err(SettingError::new(
                "delivery.concurrency",
                "must be at least 1",
            ));
        }

        let e = &self.email;
        match e.transport {
            EmailTransport::File => {
                if e.file_dir.is_empty() {
                    return Err(SettingError::new("email.file_dir", "must not be empty"));
                }
            }
            EmailTransport::Smtp => {
                if lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(
                    e.smtp_url.expose_secret(),
                )
                .is_err()
                {
                    return Err(SettingError::new(
                        "email.smtp_url",
                        "is not an SMTP URL such as smtp://user:pass@host:587?tls=required",
                    ));
                }
            }
        }
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(SettingError::new(
                "email.from",
                "is not a mailbox such as `Name <addr@example.com>`",
            ));
        }
        self.biometrics.validate()?;
        if w.biometrics {
            self.template_keys()?;
            if self.biometrics.models_dir.trim().is_empty() {
                return Err(SettingError::new(
                    "biometrics.models_dir",
                    "must name the face engine's models directory",
                ));
            }
        }
        Ok(())
    }
}

impl Settings {
    /// Loads from the built-in defaults, `BV_CONFIG` and the environment.
    pub fn load() -> anyhow::Result<Self> {
        bv_runtime::settings::load(bv_runtime::settings::DEFAULTS)
    }

    /// The keys sealing face templates (`biometrics.template_keys`).
    pub fn template_keys(&self) -> Result<bv_signing::TemplateKeys, SettingError> {
        let spec = self.biometrics.template_keys.expose_secret();
        if spec.trim().is_empty() {
            return Err(SettingError::new(
                "biometrics.template_keys",
                "is required by the biometric role: generate a key with \
                 `bvctl keys generate --template` and set BV__BIOMETRICS__TEMPLATE_KEYS",
            ));
        }
        bv_signing::TemplateKeys::parse(spec)
            .map_err(|e| SettingError::new("biometrics.template_keys", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bv_runtime::settings::{DEFAULTS, load_from};

    fn load(overrides: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let mut overrides: Vec<(&str, String)> =
            overrides.iter().map(|(k, v)| (*k, v.to_string())).collect();
        overrides.push((
            "biometrics.signing_keys",
            "k:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA".into(),
        ));
        if !overrides
            .iter()
            .any(|(k, _)| *k == "biometrics.template_keys")
        {
            overrides.push((
                "biometrics.template_keys",
                "t:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=".into(),
            ));
        }
        load_from(DEFAULTS, None, Some(&overrides))
    }

    #[test]
    fn the_biometric_role_needs_template_keys_and_a_role_is_needed() {
        let err = load(&[("biometrics.template_keys", "")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("BV__BIOMETRICS__TEMPLATE_KEYS")
                && err.contains("bvctl keys generate --template"),
            "{err}"
        );
        let err = load(&[("biometrics.template_keys", "t:c2hvcnQ=")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("32 bytes") && !err.contains("c2hvcnQ"),
            "{err}"
        );
        // A worker without the biometric role needs no template keys.
        let s = load(&[
            ("biometrics.template_keys", ""),
            ("worker.biometrics", "false"),
        ])
        .unwrap();
        assert!(s.worker.creates && !s.worker.biometrics);

        let err = load(&[
            ("worker.creates", "false"),
            ("worker.biometrics", "false"),
            ("worker.dispatch", "false"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("nothing to do"), "{err}");
        let biometric_only =
            load(&[("worker.creates", "false"), ("worker.dispatch", "false")]).unwrap();
        assert!(biometric_only.worker.biometrics && !biometric_only.worker.creates);
    }

    #[test]
    fn settings_are_parsed_once_into_types() {
        let s = load(&[
            ("webhooks.allowed_cidrs", "10.0.0.0/8, 127.0.0.1"),
            ("email.transport", "smtp"),
            (
                "email.smtp_url",
                "smtp://user:hunter2-secret@127.0.0.1:2525",
            ),
        ])
        .unwrap();
        let cidrs: Vec<String> = s
            .webhooks
            .allowed_cidrs
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(cidrs, ["10.0.0.0/8", "127.0.0.1/32"]);
        assert_eq!(s.email.transport, EmailTransport::Smtp);
        // Secrets never show in a debug print (a log line of the settings).
        assert!(!format!("{s:?}").contains("hunter2-secret"));
    }

    #[test]
    fn an_unknown_transport_or_network_is_refused_by_name() {
        let err = load(&[("email.transport", "pigeon")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pigeon") && err.contains("smtp"), "{err}");
        let err = load(&[("webhooks.allowed_cidrs", "10.0.0.0/33")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("10.0.0.0/33") && err.contains("allowed_cidrs"),
            "{err}"
        );
    }
}

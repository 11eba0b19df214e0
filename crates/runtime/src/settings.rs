//! Layered settings: built-in defaults, then an optional file named by
//! `BV_CONFIG`, then `BV__SECTION__KEY` environment variables.
//!
//! Each binary owns one `Settings` struct made of the sections below (and its
//! own); [`load`] fills it and [`Validate`] checks values serde cannot, so a bad
//! setting stops the process at start with a message naming the setting.

use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
pub use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A setting that is present but wrong, named as its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {var}: {reason}")]
pub struct SettingError {
    pub var: String,
    pub reason: String,
}

impl SettingError {
    /// `key` is the dotted key, e.g. `amqp.url`; the message names `BV__AMQP__URL`.
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        SettingError {
            var: env_var(key),
            reason: reason.into(),
        }
    }
}

/// The environment variable for a dotted key: `amqp.url` → `BV__AMQP__URL`.
pub fn env_var(key: &str) -> String {
    format!("BV__{}", key.replace('.', "__").to_uppercase())
}

/// Checks values that deserialization alone cannot.
pub trait Validate {
    fn validate(&self) -> Result<(), SettingError>;
}

/// The built-in defaults shared by every binary (`crates/runtime/config/default.toml`).
pub const DEFAULTS: &str = include_str!("../config/default.toml");

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: [&str; 1] = ["webhooks.allowed_cidrs"];

/// Loads settings from `defaults` (TOML), the `BV_CONFIG` file and the environment.
pub fn load<T: DeserializeOwned + Validate>(defaults: &str) -> anyhow::Result<T> {
    let vars: Vec<String> = std::env::vars().map(|(name, _)| name).collect();
    check_sections(defaults, &vars)?;
    load_from(defaults, std::env::var("BV_CONFIG").ok().as_deref(), None)
}

/// Refuses a `BV__SECTION__KEY` variable whose section no binary knows (a
/// misspelt `BV__WORKR__CONCURRENCY` would otherwise be ignored). A known
/// section is one of the built-in defaults' tables; each section's keys are
/// checked by its own struct.
fn check_sections(defaults: &str, vars: &[String]) -> anyhow::Result<()> {
    use config::Source as _;
    let known: Vec<String> = Config::builder()
        .add_source(File::from_str(defaults, FileFormat::Toml))
        .build()?
        .collect()?
        .into_keys()
        .collect();
    for var in vars {
        let Some(rest) = var.strip_prefix("BV__") else {
            continue;
        };
        let section = rest.split("__").next().unwrap_or_default().to_lowercase();
        if !known.contains(&section) {
            let mut sections = known.clone();
            sections.sort();
            anyhow::bail!(
                "configuration error: {var} names no setting section `{section}` (the sections: {})",
                sections.join(", ")
            );
        }
    }
    Ok(())
}

/// Like [`load`], with the file given explicitly and optional overrides
/// (dotted key → value) applied last; tests use the overrides.
pub fn load_from<T: DeserializeOwned + Validate>(
    defaults: &str,
    file: Option<&str>,
    overrides: Option<&[(&str, String)]>,
) -> anyhow::Result<T> {
    let mut builder = Config::builder().add_source(File::from_str(defaults, FileFormat::Toml));
    if let Some(path) = file {
        builder = builder.add_source(File::with_name(path).required(true));
    }
    let mut env = Environment::with_prefix("BV")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",");
    for key in LIST_KEYS {
        env = env.with_list_parse_key(key);
    }
    builder = builder.add_source(env);
    for (key, value) in overrides.unwrap_or_default() {
        builder = if LIST_KEYS.contains(key) {
            let items: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            builder.set_override(*key, items)?
        } else {
            builder.set_override(*key, value.as_str())?
        };
    }
    let config = builder
        .build()
        .map_err(|e| anyhow::anyhow!("configuration error: {e}"))?;
    let settings: T = config.try_deserialize().map_err(|e| {
        anyhow::anyhow!(
            "configuration error: {e} (a key `section.key` is set by the variable BV__SECTION__KEY)"
        )
    })?;
    settings.validate()?;
    Ok(settings)
}

/// `[database]`
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://path`.
    pub url: String,
    pub max_connections: u32,
    /// Run pending migrations when the worker starts.
    #[serde(default)]
    pub migrate_on_start: bool,
    /// Opening one connection; twice this is the longest wait for a free one.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub connect_timeout: Duration,
    /// The longest one statement may run (PostgreSQL `statement_timeout`);
    /// a unit of work (a batch, a claim) that takes twice this is abandoned
    /// as if the database were down, so a half-open connection cannot hang
    /// a consumer or the dispatcher.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub statement_timeout: Duration,
}

impl DatabaseSettings {
    /// The unit-of-work bound: twice the statement timeout.
    pub fn work_timeout(&self) -> Duration {
        self.statement_timeout * 2
    }
}

impl Validate for DatabaseSettings {
    fn validate(&self) -> Result<(), SettingError> {
        if !(self.url.starts_with("postgres://")
            || self.url.starts_with("postgresql://")
            || self.url.starts_with("sqlite:"))
        {
            return Err(SettingError::new(
                "database.url",
                format!(
                    "`{}` is not a postgres:// or sqlite: URL",
                    redact(&self.url)
                ),
            ));
        }
        if self.max_connections == 0 {
            return Err(SettingError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        positive("database.connect_timeout", self.connect_timeout)?;
        positive("database.statement_timeout", self.statement_timeout)?;
        Ok(())
    }
}

/// `[amqp]`
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpSettings {
    /// `amqp://user:pass@host:port/vhost`, or several separated by commas
    /// (the nodes of a cluster), tried in order at every (re)connection.
    pub url: String,
    /// Prefix of every exchange and queue name (`bv` → `bv.commands`, …).
    pub prefix: String,
    /// `x-delivery-limit` of the command queue: deliveries before a message is dead-lettered.
    pub delivery_limit: u32,
    /// Most messages a dead-letter queue keeps (`x-max-length`; the oldest
    /// are dropped past it), so that a flood cannot fill the broker's disk.
    pub dead_letter_max_length: u32,
    /// How long a dead letter is kept (`x-message-ttl`) before it is dropped.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub dead_letter_ttl: Duration,
    /// AMQP heartbeat asked of the broker (a `heartbeat=` in the URL wins): a
    /// connection whose peer stopped answering (half-open) is noticed after
    /// about twice this, reconnected, and `/readyz` fails meanwhile.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub heartbeat: Duration,
    /// Opening a connection (a `connection_timeout=` in the URL wins).
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub connect_timeout: Duration,
}

impl AmqpSettings {
    /// The brokers of `amqp.url`, in the order they are tried: one URL, or
    /// several separated by commas (the nodes of a cluster).
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.url.split(',').map(str::trim).filter(|u| !u.is_empty())
    }

    /// The brokers, passwords hidden, for messages.
    pub fn redacted_urls(&self) -> String {
        self.urls().map(redact).collect::<Vec<_>>().join(", ")
    }
}

impl Validate for AmqpSettings {
    fn validate(&self) -> Result<(), SettingError> {
        if self.urls().next().is_none() {
            return Err(SettingError::new("amqp.url", "is required"));
        }
        for url in self.urls() {
            if url.parse::<lapin::uri::AMQPUri>().is_err() {
                return Err(SettingError::new(
                    "amqp.url",
                    format!("`{}` is not an amqp:// or amqps:// URL", redact(url)),
                ));
            }
        }
        if self.prefix.is_empty()
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(SettingError::new(
                "amqp.prefix",
                "must be non-empty letters, digits, `.`, `_` or `-`",
            ));
        }
        if self.dead_letter_max_length == 0 {
            return Err(SettingError::new(
                "amqp.dead_letter_max_length",
                "must be at least 1",
            ));
        }
        if self.dead_letter_ttl.is_zero() || self.dead_letter_ttl.as_millis() > i32::MAX as u128 {
            return Err(SettingError::new(
                "amqp.dead_letter_ttl",
                "must be between 1 ms and about 24 days (RabbitMQ keeps it in milliseconds as a 32-bit number)",
            ));
        }
        if self.delivery_limit == 0 {
            return Err(SettingError::new(
                "amqp.delivery_limit",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// `[auth]`: how bearer tokens are checked (ingress) and issued (bvctl).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 shared secret. One of `jwt_secret` or `jwt_public_key` is
    /// required. Wrapped so that `Debug` never prints it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub jwt_secret: Option<SecretString>,
    /// RS256 public key (PEM) checking tokens signed by an external issuer.
    #[serde(default)]
    pub jwt_public_key: Option<String>,
    /// The claim naming the client; every record belongs to it.
    pub client_claim: String,
    /// Expected `iss`, when set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Expected `aud`, when set.
    #[serde(default)]
    pub audience: Option<String>,
}

impl Validate for AuthSettings {
    fn validate(&self) -> Result<(), SettingError> {
        let secret = self
            .jwt_secret
            .as_ref()
            .map(|s| s.expose_secret())
            .filter(|s| !s.is_empty());
        let key = self.jwt_public_key.as_deref().filter(|s| !s.is_empty());
        match (secret, key) {
            (None, None) => Err(SettingError::new(
                "auth.jwt_secret",
                "set BV__AUTH__JWT_SECRET (HS256) or BV__AUTH__JWT_PUBLIC_KEY (RS256 PEM)",
            )),
            (Some(s), _) if s.len() < 32 => Err(SettingError::new(
                "auth.jwt_secret",
                "must be at least 32 characters",
            )),
            (_, Some(k)) if jsonwebtoken::DecodingKey::from_rsa_pem(k.as_bytes()).is_err() => {
                Err(SettingError::new(
                    "auth.jwt_public_key",
                    "is not an RSA public key in PEM form",
                ))
            }
            _ if self.client_claim.is_empty() => {
                Err(SettingError::new("auth.client_claim", "must not be empty"))
            }
            _ => Ok(()),
        }
    }
}

/// `[telemetry]`
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/HTTP collector base URL (e.g. `http://collector:4318`); without
    /// it the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` apply; no export when none is set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `json` or `text`.
    pub log_format: String,
    /// `tracing` filter directive, e.g. `info,bv_worker=debug`; `RUST_LOG` wins.
    pub log_level: String,
}

impl Validate for TelemetrySettings {
    fn validate(&self) -> Result<(), SettingError> {
        if !matches!(self.log_format.as_str(), "json" | "text") {
            return Err(SettingError::new(
                "telemetry.log_format",
                "must be `json` or `text`",
            ));
        }
        if let Some(endpoint) = &self.otlp_endpoint
            && !endpoint.is_empty()
            && url::Url::parse(endpoint).is_err()
        {
            return Err(SettingError::new("telemetry.otlp_endpoint", "is not a URL"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(SettingError::new(
                "telemetry.log_level",
                "is not a valid filter directive",
            ));
        }
        Ok(())
    }
}

/// `[webhooks]`: used by the worker (allow-list) and bvctl (rotation overlap).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Networks a webhook may target although they are not public addresses
    /// (CIDRs, or single addresses), parsed when the settings load.
    #[serde(deserialize_with = "networks")]
    #[schemars(with = "Vec<String>")]
    pub allowed_cidrs: Vec<ipnet::IpNet>,
    /// How long a rotated-out signing secret keeps signing.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub secret_overlap: Duration,
}

/// Parses the allow-list: CIDRs or single addresses, blanks ignored.
fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let raw: Vec<String> = Vec::deserialize(d)?;
    raw.iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{c}` in webhooks.allowed_cidrs is not a CIDR such as 10.0.0.0/8"
                    ))
                })
        })
        .collect()
}

impl Validate for WebhookSettings {
    fn validate(&self) -> Result<(), SettingError> {
        Ok(())
    }
}

/// `[links]`: where the hosted page lives (both binaries make its link).
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// The hosted page of a validation is `<base_url>/<_id>`; its link adds
    /// the session token in the fragment: `#token=<JWT>`.
    pub base_url: String,
}

impl LinkSettings {
    /// The page's link for one validation and its session token. The token
    /// is in the fragment, which browsers never send to a server.
    pub fn page_url(&self, id: &str, token: &str) -> String {
        format!("{}/{id}#token={token}", self.base_url.trim_end_matches('/'))
    }
}

impl Validate for LinkSettings {
    fn validate(&self) -> Result<(), SettingError> {
        match url::Url::parse(&self.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            _ => Err(SettingError::new(
                "links.base_url",
                "must be an absolute http(s) URL",
            )),
        }
    }
}

/// `[biometrics]`: completing a validation, for both binaries: the keys that
/// sign session tokens and results, lifetimes, and the limits on captures.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BiometricsSettings {
    /// Ed25519 keys as `kid:seed[,kid:seed…]` (`bvctl keys generate` makes
    /// one); the first signs, all are published in the JWKS.
    #[schemars(with = "String")]
    pub signing_keys: SecretString,
    /// A session token's lifetime when the validation has no `expiresAt`.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub session_ttl: Duration,
    /// How long a liveness challenge may be answered.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    pub challenge_ttl: Duration,
    /// Largest image, decoded from base64.
    pub max_image_bytes: usize,
    /// Largest validate request body (all frames together).
    pub max_request_bytes: usize,
    /// Most pixels on an image's side, and in all (decompression bombs).
    pub max_image_side: u32,
    pub max_image_pixels: u64,
    /// AES-256-GCM keys sealing face templates at rest, `kid:key[,kid:key…]`
    /// (`bvctl keys generate --template`); the first seals, all open.
    /// Required by the worker's biometric role; the ingress never reads it.
    #[schemars(with = "String")]
    pub template_keys: SecretString,
    /// The face engine's model files (`scripts/models.sh` fetches them).
    pub models_dir: String,
    /// Load the face models when the worker starts (else at the first face
    /// challenge or validation; their files are checked at start either way).
    pub preload_models: bool,
}

impl BiometricsSettings {
    /// The keys, parsed (the settings were validated, so this holds).
    pub fn keys(&self) -> Result<bv_signing::KeySet, SettingError> {
        bv_signing::KeySet::parse(self.signing_keys.expose_secret())
            .map_err(|e| SettingError::new("biometrics.signing_keys", e.to_string()))
    }
}

impl Validate for BiometricsSettings {
    fn validate(&self) -> Result<(), SettingError> {
        if self.signing_keys.expose_secret().trim().is_empty() {
            return Err(SettingError::new(
                "biometrics.signing_keys",
                "is required: generate a key with `bvctl keys generate` and set BV__BIOMETRICS__SIGNING_KEYS",
            ));
        }
        self.keys()?;
        positive("biometrics.session_ttl", self.session_ttl)?;
        positive("biometrics.challenge_ttl", self.challenge_ttl)?;
        if self.max_image_bytes < 1024 {
            return Err(SettingError::new(
                "biometrics.max_image_bytes",
                "must be at least 1024",
            ));
        }
        if self.max_request_bytes < self.max_image_bytes {
            return Err(SettingError::new(
                "biometrics.max_request_bytes",
                "must be at least biometrics.max_image_bytes",
            ));
        }
        if self.max_image_side < 64 || self.max_image_pixels < 4096 {
            return Err(SettingError::new(
                "biometrics.max_image_side",
                "must be at least 64 (and max_image_pixels at least 4096)",
            ));
        }
        Ok(())
    }
}

/// Fails when a duration is zero.
pub fn positive(key: &str, d: Duration) -> Result<(), SettingError> {
    if d.is_zero() {
        Err(SettingError::new(key, "must be greater than zero"))
    } else {
        Ok(())
    }
}

/// A URL with its password hidden, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct S {
        amqp: AmqpSettings,
        database: DatabaseSettings,
    }

    impl Validate for S {
        fn validate(&self) -> Result<(), SettingError> {
            self.amqp.validate()?;
            self.database.validate()
        }
    }

    const DEFAULTS: &str = r#"
        [amqp]
        url = "amqp://127.0.0.1:5672/%2f"
        prefix = "bv"
        delivery_limit = 5
        dead_letter_max_length = 1000
        dead_letter_ttl = "7d"
        heartbeat = "10s"
        connect_timeout = "5s"
        [database]
        url = "sqlite://bv.db"
        max_connections = 4
        connect_timeout = "5s"
        statement_timeout = "30s"
    "#;

    fn load_with(overrides: &[(&str, String)]) -> anyhow::Result<S> {
        load_from(DEFAULTS, None, Some(overrides))
    }

    #[test]
    fn defaults_load() {
        let s = load_with(&[]).unwrap();
        assert_eq!(s.amqp.prefix, "bv");
        assert_eq!(s.database.max_connections, 4);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = load_with(&[("database.url", "mysql://x".into())]).unwrap_err();
        assert!(err.to_string().contains("BV__DATABASE__URL"), "{err}");
        let err = load_with(&[("amqp.url", "http://x".into())]).unwrap_err();
        assert!(err.to_string().contains("BV__AMQP__URL"), "{err}");
        let err = load_with(&[("database.max_connections", "many".into())]).unwrap_err();
        assert!(
            err.to_string().contains("database.max_connections"),
            "{err}"
        );
    }

    #[test]
    fn a_misspelt_section_is_refused_by_name() {
        let vars = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_sections(DEFAULTS, &vars(&["BV__AMQP__URL", "PATH", "BV_CONFIG"])).is_ok());
        let err = check_sections(DEFAULTS, &vars(&["BV__AMQPP__URL"])).unwrap_err();
        assert!(err.to_string().contains("BV__AMQPP__URL"), "{err}");
        assert!(err.to_string().contains("amqp, database"), "{err}");
    }

    #[test]
    fn several_brokers_are_tried_in_order_and_each_is_checked() {
        let s = load_with(&[(
            "amqp.url",
            "amqp://u:p@127.0.0.1:5681/%2f, amqp://u:p@127.0.0.1:5682/%2f".into(),
        )])
        .unwrap();
        assert_eq!(
            s.amqp.urls().collect::<Vec<_>>(),
            [
                "amqp://u:p@127.0.0.1:5681/%2f",
                "amqp://u:p@127.0.0.1:5682/%2f"
            ]
        );
        assert!(!s.amqp.redacted_urls().contains(":p@"));
        let err = load_with(&[("amqp.url", "amqp://h/%2f,http://x".into())]).unwrap_err();
        assert!(err.to_string().contains("http://x"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("amqp://u:secret@h/v"), "amqp://u:***@h/v");
    }
}

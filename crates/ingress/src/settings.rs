//! bv-ingress's settings: HTTP, database (reads), AMQP, auth, telemetry,
//! `[ingress]` and `[rate_limits]`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderName;

use bv_runtime::settings::{SettingError, Validate, positive};
use bv_runtime::{
    AmqpSettings, AuthSettings, BiometricsSettings, DatabaseSettings, LinkSettings,
    TelemetrySettings,
};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub ingress: IngressSettings,
    pub links: LinkSettings,
    pub biometrics: BiometricsSettings,
    pub rate_limits: RateLimitSettings,
}

/// `[http]`
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    #[schemars(with = "String")]
    pub addr: SocketAddr,
    /// The header a trusted proxy in front of the ingress puts the client's
    /// address in (e.g. `x-forwarded-for`); its rightmost address, the one
    /// that proxy appended, is the client's. Unset or empty: the TCP peer's
    /// address, and no header is believed.
    #[serde(default)]
    pub client_ip_header: Option<String>,
}

impl HttpSettings {
    /// The trusted header, parsed (the settings were validated).
    pub fn client_ip_header(&self) -> Result<Option<HeaderName>, SettingError> {
        match self.client_ip_header.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(name) => HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map(Some)
                .map_err(|_| {
                    SettingError::new(
                        "http.client_ip_header",
                        format!("`{name}` is not an HTTP header name"),
                    )
                }),
        }
    }
}

/// `[rate_limits]`: token buckets per session, client address and client,
/// and the validate requests one ingress holds at once. See
/// [`crate::limits`].
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// The end user's endpoints, per validation (its verified session).
    pub session_rate: String,
    pub session_burst: u32,
    /// The end user's endpoints, per client address.
    pub ip_rate: String,
    pub ip_burst: u32,
    /// The client API, per client (the client token's claim).
    pub client_rate: String,
    pub client_burst: u32,
    /// Validate requests read and checked at once, until each is
    /// published; more are shed with `503`.
    pub validate_in_flight: u32,
    /// Of those, at most this many for one validation (more: `429`), so
    /// that one link cannot hold every slot.
    pub validate_in_flight_per_session: u32,
    /// How long a validate request's body may take to arrive (else `408`):
    /// a body sent slowly would hold its slot.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
    pub validate_body_timeout: Duration,
}

/// A refill rate: `N/s`, `N/min` or `N/h`, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per `per`.
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// `Ok(None)` for `off` (or `0`).
    pub fn parse(text: &str) -> Result<Option<Rate>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") || text == "0" {
            return Ok(None);
        }
        let expected =
            || format!("`{text}` is not a rate: write N/s, N/min or N/h (e.g. 60/min), or off");
        let (count, unit) = text.split_once('/').ok_or_else(expected)?;
        let count: u32 = count.trim().parse().map_err(|_| expected())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(expected()),
        };
        if count == 0 {
            return Ok(None);
        }
        if count > 1_000_000 && per == Duration::from_secs(1) {
            return Err(format!("`{text}` is more than 1000000/s"));
        }
        Ok(Some(Rate { count, per }))
    }

    /// The time one request's allowance takes to come back.
    pub fn interval(&self) -> Duration {
        self.per / self.count
    }
}

/// One limit: its rate (`None`: off) and burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub rate: Rate,
    pub burst: NonZeroU32,
}

impl RateLimitSettings {
    /// The per-session limit (`None`: off).
    pub fn session(&self) -> Result<Option<Limit>, SettingError> {
        limit(
            "rate_limits.session",
            &self.session_rate,
            self.session_burst,
        )
    }

    /// The per-address limit (`None`: off).
    pub fn ip(&self) -> Result<Option<Limit>, SettingError> {
        limit("rate_limits.ip", &self.ip_rate, self.ip_burst)
    }

    /// The per-client limit (`None`: off).
    pub fn client(&self) -> Result<Option<Limit>, SettingError> {
        limit("rate_limits.client", &self.client_rate, self.client_burst)
    }
}

fn limit(prefix: &str, rate: &str, burst: u32) -> Result<Option<Limit>, SettingError> {
    let rate = Rate::parse(rate).map_err(|e| SettingError::new(&format!("{prefix}_rate"), e))?;
    let Some(rate) = rate else {
        return Ok(None);
    };
    let burst = NonZeroU32::new(burst).ok_or_else(|| {
        SettingError::new(
            &format!("{prefix}_burst"),
            format!("must be at least 1 while {prefix}_rate is on"),
        )
    })?;
    Ok(Some(Limit { rate, burst }))
}

/// `[ingress]`
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressSettings {
    /// How long `POST` waits for the worker before answering `202 Accepted`.
    #[serde(with = "humantime_serde")]
    #[schemars(schema_with = "bv_runtime::schema::duration")]
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
        self.http.client_ip_header()?;
        let limits = &self.rate_limits;
        limits.session()?;
        limits.ip()?;
        limits.client()?;
        if limits.validate_in_flight == 0 {
            return Err(SettingError::new(
                "rate_limits.validate_in_flight",
                "must be at least 1",
            ));
        }
        if limits.validate_in_flight_per_session == 0 {
            return Err(SettingError::new(
                "rate_limits.validate_in_flight_per_session",
                "must be at least 1",
            ));
        }
        positive(
            "rate_limits.validate_body_timeout",
            limits.validate_body_timeout,
        )?;
        Ok(())
    }
}

impl Settings {
    pub fn load() -> anyhow::Result<Self> {
        bv_runtime::settings::load(bv_runtime::settings::DEFAULTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_written() {
        let rate = |t: &str| Rate::parse(t).unwrap();
        assert_eq!(
            rate("60/min"),
            Some(Rate {
                count: 60,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(
            rate(" 5000 / s ").unwrap().interval(),
            Duration::from_micros(200)
        );
        assert_eq!(rate("1/h").unwrap().interval(), Duration::from_secs(3600));
        assert_eq!(rate("off"), None);
        assert_eq!(rate("OFF"), None);
        assert_eq!(rate("0"), None);
        assert_eq!(rate("0/s"), None);
        for bad in ["fast", "60", "60/day", "-1/s", "1.5/s", "2000000/s", ""] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_limit_names_its_variable() {
        let err = limit("rate_limits.session", "lots", 3).unwrap_err();
        assert_eq!(err.var, "BV__RATE_LIMITS__SESSION_RATE");
        let err = limit("rate_limits.ip", "10/s", 0).unwrap_err();
        assert_eq!(err.var, "BV__RATE_LIMITS__IP_BURST");
        assert_eq!(limit("rate_limits.ip", "off", 0).unwrap(), None);
        let http = |h: &str| HttpSettings {
            addr: "127.0.0.1:0".parse().unwrap(),
            client_ip_header: Some(h.to_owned()),
        };
        assert_eq!(
            http("X-Forwarded-For").client_ip_header().unwrap(),
            Some(HeaderName::from_static("x-forwarded-for"))
        );
        assert_eq!(http(" ").client_ip_header().unwrap(), None);
        let err = http("x forwarded").client_ip_header().unwrap_err();
        assert_eq!(err.var, "BV__HTTP__CLIENT_IP_HEADER");
    }
}

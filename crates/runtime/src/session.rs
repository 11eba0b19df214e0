//! The hosted page's link and its session token, made the same way by every
//! binary: the worker (create answers, the email) and the ingress (a client's
//! GET while the validation is open).
//!
//! The token is derived from the validation alone (`sub` = `_id`, `iat` =
//! `createdAt`, `exp` = `expiresAt` or `createdAt` + `session_ttl`), and
//! Ed25519 signatures are deterministic, so every copy of the link is the
//! same string and nothing about it needs storing.

use std::time::Duration;

use bv_signing::KeySet;
use chrono::{DateTime, Utc};

use crate::settings::{BiometricsSettings, LinkSettings, SettingError};

/// Makes links and session tokens; checks session tokens.
pub struct Sessions {
    pub keys: KeySet,
    ttl: Duration,
    links: LinkSettings,
}

/// One validation's session: its token and the page's link with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub token: String,
    pub url: String,
}

impl Sessions {
    pub fn new(
        biometrics: &BiometricsSettings,
        links: &LinkSettings,
    ) -> Result<Self, SettingError> {
        Ok(Sessions {
            keys: biometrics.keys()?,
            ttl: biometrics.session_ttl,
            links: links.clone(),
        })
    }

    /// When a validation's session ends.
    pub fn expiry(
        &self,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> DateTime<Utc> {
        expires_at.unwrap_or_else(|| {
            created_at + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(1))
        })
    }

    /// The session of one validation.
    pub fn session(
        &self,
        id: &str,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Session {
        let exp = self.expiry(created_at, expires_at);
        let token = self
            .keys
            .issue_session(id, created_at.timestamp(), exp.timestamp());
        let url = self.links.page_url(id, &token);
        Session { token, url }
    }

    /// The same from the API's timestamps (RFC 3339), as stored payloads carry them.
    pub fn session_of(&self, v: &bv_contract::BiometricValidation) -> Option<Session> {
        let parse = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let created_at = parse(&v.created_at)?;
        let expires_at = match v.expires_at.as_deref() {
            Some(at) => Some(parse(at)?),
            None => None,
        };
        Some(self.session(&v.id, created_at, expires_at))
    }
}

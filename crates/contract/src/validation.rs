//! The validation as the API returns it (the seed's response `data`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::request::{Language, ValidationType};

crate::closed_set! {
    /// Where a validation is in its life.
    pub enum ValidationStatus {
        New = "new",
        Pending = "pending",
        Validated = "validated",
        Failed = "failed",
        Expired = "expired",
    }
}

impl ValidationStatus {
    /// Whether the validation is decided and takes no more attempts.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ValidationStatus::Validated | ValidationStatus::Failed | ValidationStatus::Expired
        )
    }

    /// The statuses a validation can leave by expiring: not yet decided.
    pub const EXPIRABLE: [ValidationStatus; 2] = [ValidationStatus::New, ValidationStatus::Pending];

    /// Whether a validation in this status, with this `expiresAt`, is expired
    /// at `now`: it already is, or it is undecided and its time has passed.
    /// The one rule the store, the sweeper and the email dispatcher share.
    pub fn is_expired_at(self, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        self == ValidationStatus::Expired
            || (Self::EXPIRABLE.contains(&self) && expires_at.is_some_and(|at| at <= now))
    }
}

/// A stored validation, shaped exactly like the seed's response `data`.
///
/// Optional request fields that were not given are omitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BiometricValidation {
    #[serde(rename = "_id")]
    pub id: String,
    pub client: String,
    pub project: String,
    pub project_flow: String,
    pub status: ValidationStatus,
    pub identifier: String,
    #[serde(rename = "type")]
    pub kind: ValidationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(rename = "requires2FA")]
    pub requires_2fa: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    pub send_via_email: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub language: Language,
    pub created_at: String,
    pub updated_at: String,
    /// The session token of the hosted page (create answers, and a client's
    /// GET while the validation is open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The hosted page's link, with the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The person this validation enrolled or matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<crate::biometrics::PersonView>,
    /// The attempts so far (a client's GET, validated/failed events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<crate::biometrics::AttemptView>>,
    /// The signed result (compact JWS, EdDSA) once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Formats an instant as the API does: RFC 3339 in UTC with a `Z`, with
/// fractional seconds only when there are any (`2024-01-15T10:30:00Z`).
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_one_rule() {
        use ValidationStatus::*;
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let past = Some(now - chrono::Duration::seconds(1));
        let future = Some(now + chrono::Duration::seconds(1));
        assert!(New.is_expired_at(past, now) && Pending.is_expired_at(Some(now), now));
        assert!(!New.is_expired_at(future, now) && !New.is_expired_at(None, now));
        assert!(Expired.is_expired_at(None, now));
        // A decided validation stays decided.
        assert!(!Validated.is_expired_at(past, now) && !Failed.is_expired_at(past, now));
    }

    #[test]
    fn timestamps_look_like_the_seed() {
        let t: DateTime<Utc> = "2024-01-15T10:30:00Z".parse().unwrap();
        assert_eq!(format_timestamp(t), "2024-01-15T10:30:00Z");
        let t: DateTime<Utc> = "2024-01-15T10:30:00.250+00:00".parse().unwrap();
        assert_eq!(format_timestamp(t), "2024-01-15T10:30:00.250Z");
    }
}

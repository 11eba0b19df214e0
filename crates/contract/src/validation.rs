//! The validation as the API returns it (the seed's response `data`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Where a validation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationStatus {
    New,
    Pending,
    Completed,
    Failed,
    Expired,
}

impl ValidationStatus {
    pub const ALL: [ValidationStatus; 5] = [
        ValidationStatus::New,
        ValidationStatus::Pending,
        ValidationStatus::Completed,
        ValidationStatus::Failed,
        ValidationStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::New => "new",
            ValidationStatus::Pending => "pending",
            ValidationStatus::Completed => "completed",
            ValidationStatus::Failed => "failed",
            ValidationStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A stored validation, shaped exactly like the seed's response `data`.
///
/// Optional request fields that were not given are omitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BiometricValidation {
    #[serde(rename = "_id")]
    pub id: String,
    pub client: String,
    pub project: String,
    pub project_flow: String,
    pub status: String,
    pub identifier: String,
    #[serde(rename = "type")]
    pub kind: String,
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
    pub language: String,
    pub created_at: String,
    pub updated_at: String,
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
    fn timestamps_look_like_the_seed() {
        let t: DateTime<Utc> = "2024-01-15T10:30:00Z".parse().unwrap();
        assert_eq!(format_timestamp(t), "2024-01-15T10:30:00Z");
        let t: DateTime<Utc> = "2024-01-15T10:30:00.250+00:00".parse().unwrap();
        assert_eq!(format_timestamp(t), "2024-01-15T10:30:00.250Z");
    }
}

//! Standard Webhooks signing (<https://www.standardwebhooks.com>), and the
//! event body our webhooks carry.
//!
//! The signature is `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))
//! where the secret is the base64 part of the project's `whsec_…` secret.
//! While a rotated-out secret is still in its overlap window, the header
//! carries one signature per secret, separated by spaces.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::validation::BiometricValidation;

crate::closed_set! {
    /// The `type` of a webhook event.
    pub enum EventType {
        /// A validation was created.
        Created = "biometric_validation.created",
        /// The user started (a challenge was issued, or a first attempt came).
        Pending = "biometric_validation.pending",
        /// An attempt passed: the validation is decided, positively.
        Validated = "biometric_validation.validated",
        /// The last allowed attempt failed.
        Failed = "biometric_validation.failed",
        /// `expiresAt` passed while the validation was open.
        Expired = "biometric_validation.expired",
    }
}

/// A webhook's body: `{type, timestamp, data}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the event happened (RFC 3339, UTC).
    pub timestamp: String,
    /// The validation as the API returns it.
    pub data: BiometricValidation,
}

/// Why a secret cannot sign.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret must be `whsec_` followed by base64")]
pub struct BadSecret;

fn key(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(raw).map_err(|_| BadSecret)
}

/// The `v1,<base64>` signature of one message with one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)?).map_err(|_| BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header value: one signature per secret.
pub fn signature_header(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, BadSecret> {
    let signatures: Result<Vec<String>, BadSecret> = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect();
    Ok(signatures?.join(" "))
}

/// What a consumer does: true when any signature in `header` matches `secret`
/// (compared in constant time).
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(key) = key(secret) else { return false };
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|sig| {
            let Ok(expected) = STANDARD.decode(sig) else {
                return false;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
                return false;
            };
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks reference test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_reference_vector() {
        assert_eq!(sign(SECRET, ID, TS, BODY).unwrap(), EXPECTED);
        assert!(verify(SECRET, ID, TS, BODY, EXPECTED));
    }

    #[test]
    fn any_changed_part_fails_verification() {
        assert!(!verify(SECRET, "msg_other", TS, BODY, EXPECTED));
        assert!(!verify(SECRET, ID, TS + 1, BODY, EXPECTED));
        assert!(!verify(
            SECRET,
            ID,
            TS,
            br#"{"test": 2432232315}"#,
            EXPECTED
        ));
        assert!(!verify("whsec_c2VjcmV0", ID, TS, BODY, EXPECTED));
    }

    #[test]
    fn a_rotation_header_verifies_with_either_secret() {
        let old = "whsec_c2VjcmV0LW9sZA==";
        let header = signature_header(&[SECRET, old], ID, TS, BODY).unwrap();
        assert_eq!(header.split(' ').count(), 2);
        assert!(verify(SECRET, ID, TS, BODY, &header));
        assert!(verify(old, ID, TS, BODY, &header));
    }

    #[test]
    fn a_malformed_secret_is_an_error() {
        assert_eq!(sign("whsec_%%%", ID, TS, BODY), Err(BadSecret));
    }
}

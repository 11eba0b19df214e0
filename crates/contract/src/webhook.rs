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

/// True when any signature in `header` matches `secret` (compared in constant
/// time). The signature only: a consumer uses [`verify_delivery`], which also
/// refuses a timestamp outside [`TOLERANCE`].
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

/// How far `webhook-timestamp` may be from now, either way, in seconds: five
/// minutes, as in the Standard Webhooks libraries.
pub const TOLERANCE: i64 = 5 * 60;

/// Why a consumer refuses a delivery.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `webhook-id` or `webhook-signature` is empty, or `webhook-timestamp`
    /// is not a number of seconds.
    #[error("missing or malformed webhook headers")]
    BadHeaders,
    /// `webhook-timestamp` is more than [`TOLERANCE`] before now.
    #[error("the webhook timestamp is too old")]
    TooOld,
    /// `webhook-timestamp` is more than [`TOLERANCE`] after now.
    #[error("the webhook timestamp is too new")]
    TooNew,
    /// No `v1` signature of the header matches the secret.
    #[error("no matching signature")]
    NoMatchingSignature,
    /// The consumer's own secret is not `whsec_` + base64.
    #[error(transparent)]
    BadSecret(#[from] BadSecret),
}

/// What a consumer does with a delivery: `Ok` when `webhook-timestamp` is
/// within [`TOLERANCE`] of now and a signature of `webhook-signature` matches
/// `secret`. The arguments are the three headers as received and the raw body.
///
/// It does not de-duplicate: keep the `webhook-id`s of the deliveries accepted
/// (stable across retries) and skip one seen before.
///
/// ```
/// use bv_contract::webhook::{Refused, sign, verify_delivery};
///
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let now = chrono::Utc::now().timestamp();
/// let body = br#"{"type":"biometric_validation.created"}"#;
/// let signature = sign(secret, "msg_1", now, body).unwrap();
/// let timestamp = now.to_string();
/// assert_eq!(verify_delivery(secret, "msg_1", &timestamp, body, &signature), Ok(()));
/// assert_eq!(
///     verify_delivery(secret, "msg_1", &timestamp, b"{}", &signature),
///     Err(Refused::NoMatchingSignature)
/// );
/// ```
pub fn verify_delivery(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), Refused> {
    let now = chrono::Utc::now().timestamp();
    verify_delivery_at(secret, id, timestamp, body, signature, now)
}

/// [`verify_delivery`] as at `now` (Unix seconds).
pub fn verify_delivery_at(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
) -> Result<(), Refused> {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return Err(Refused::BadHeaders);
    };
    if id.is_empty() || signature.is_empty() {
        return Err(Refused::BadHeaders);
    }
    key(secret)?;
    if now.saturating_sub(ts) > TOLERANCE {
        return Err(Refused::TooOld);
    }
    if ts.saturating_sub(now) > TOLERANCE {
        return Err(Refused::TooNew);
    }
    if verify(secret, id, ts, body, signature) {
        Ok(())
    } else {
        Err(Refused::NoMatchingSignature)
    }
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
    fn a_delivery_verifies_within_the_tolerance_of_its_timestamp() {
        let at = |now| verify_delivery_at(SECRET, ID, &TS.to_string(), BODY, EXPECTED, now);
        assert_eq!(at(TS), Ok(()), "the reference vector at its own time");
        assert_eq!(at(TS + TOLERANCE), Ok(()));
        assert_eq!(at(TS - TOLERANCE), Ok(()));
        assert_eq!(at(TS + TOLERANCE + 1), Err(Refused::TooOld), "stale");
        assert_eq!(
            at(TS - TOLERANCE - 1),
            Err(Refused::TooNew),
            "from the future"
        );
    }

    #[test]
    fn a_delivery_is_refused_on_any_changed_part_or_bad_header() {
        let ts = TS.to_string();
        let at = |id, ts: &str, body, sig| verify_delivery_at(SECRET, id, ts, body, sig, TS);
        assert_eq!(
            at(ID, &ts, br#"{"test": 2432232315}"#, EXPECTED),
            Err(Refused::NoMatchingSignature)
        );
        assert_eq!(
            at("msg_other", &ts, BODY, EXPECTED),
            Err(Refused::NoMatchingSignature)
        );
        // Signed at TS, claiming TS + 1: within the tolerance, but not signed so.
        assert_eq!(
            at(ID, &(TS + 1).to_string(), BODY, EXPECTED),
            Err(Refused::NoMatchingSignature)
        );
        assert_eq!(at(ID, "soon", BODY, EXPECTED), Err(Refused::BadHeaders));
        assert_eq!(at(ID, "", BODY, EXPECTED), Err(Refused::BadHeaders));
        assert_eq!(at("", &ts, BODY, EXPECTED), Err(Refused::BadHeaders));
        assert_eq!(at(ID, &ts, BODY, ""), Err(Refused::BadHeaders));
        assert_eq!(
            verify_delivery_at("whsec_%%%", ID, &ts, BODY, EXPECTED, TS),
            Err(Refused::BadSecret(BadSecret))
        );
        // A stale timestamp re-signed with the right secret is still refused:
        // the tolerance, not the signature, refuses it.
        let now = TS + 3600;
        let stale = sign(SECRET, ID, TS, BODY).unwrap();
        assert_eq!(
            verify_delivery_at(SECRET, ID, &ts, BODY, &stale, now),
            Err(Refused::TooOld)
        );
    }

    #[test]
    fn a_delivery_signed_now_verifies_now() {
        let now = chrono::Utc::now().timestamp();
        let header = signature_header(&["whsec_c2VjcmV0LW9sZA==", SECRET], ID, now, BODY).unwrap();
        assert_eq!(
            verify_delivery(SECRET, ID, &now.to_string(), BODY, &header),
            Ok(())
        );
        assert_eq!(
            verify_delivery(SECRET, ID, &TS.to_string(), BODY, EXPECTED),
            Err(Refused::TooOld),
            "the reference vector is years old"
        );
    }

    #[test]
    fn a_malformed_secret_is_an_error() {
        assert_eq!(sign("whsec_%%%", ID, TS, BODY), Err(BadSecret));
    }
}

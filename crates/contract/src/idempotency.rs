//! Idempotency, one rule set for the ingress and the worker.
//!
//! A create command's id is its idempotency key: with an `Idempotency-Key`
//! the id is derived from client and key ([`validation_id`]), so a retried
//! request maps to the same id. The stored request's [`fingerprint`] tells a
//! retry (same body: answer with what is stored) from a reuse of the key for
//! another request ([`replay`] says `IDEMPOTENCY_KEY_REUSED`). A retry that
//! arrives after the original's `expiresAt` passed is still a retry
//! ([`may_be_late_retry`]): the ingress reads the original back instead of
//! rejecting the now-past date.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};
use crate::request::NewValidation;

/// Namespace of ids derived from `Idempotency-Key` (UUIDv5 of `client \n key`).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_9b1e_4d2a_4c3b_9a8e_b1a7_5e2d_0c41);
/// The longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 255;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Checks an `Idempotency-Key` header value (`None` when absent, or not
/// text); returns the trimmed key.
pub fn parse_key(value: Option<Option<&str>>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let key = value.map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::field(
            ErrorCode::InvalidParameters,
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// The validation id of `client`'s request with `key`: the same every time.
pub fn validation_id(client: &str, key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("{client}\n{key}").as_bytes())
}

/// A stable fingerprint of `client`'s request, stored with the validation.
pub fn fingerprint(client: &str, request: &NewValidation) -> String {
    let mut hasher = Sha256::new();
    hasher.update(client.as_bytes());
    hasher.update([0]);
    // Serializing a struct is deterministic: fields in declaration order.
    // Straight into the hash, without the JSON text in between.
    let mut into_hash = HashWriter(&mut hasher);
    let _ = serde_json::to_writer(&mut into_hash, request);
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

/// Feeds what is written to a hash.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A command whose id is already stored: `Ok` when it is a retry of the
/// stored request (answer with it), `IDEMPOTENCY_KEY_REUSED` otherwise.
pub fn replay(stored: &str, fingerprint: &str) -> Result<(), ApiError> {
    if stored == fingerprint {
        Ok(())
    } else {
        Err(ApiError::idempotency_key_reused())
    }
}

/// Whether a request with an idempotency key, refused with `err`, may be a
/// retry that arrived after the original's `expiresAt`: then the original is
/// read back and answered instead.
pub fn may_be_late_retry(err: &ApiError) -> bool {
    err.code == ErrorCode::InvalidField && err.field.as_deref() == Some("expiresAt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Expiry;
    use serde_json::json;

    fn request(identifier: &str) -> NewValidation {
        let body =
            json!({"project": "p", "projectFlow": "f", "identifier": identifier, "type": "login"});
        NewValidation::parse(&body, Expiry::AnyTime).unwrap()
    }

    #[test]
    fn fingerprint_depends_on_client_and_body() {
        let (a, b) = (request("a"), request("b"));
        assert_eq!(fingerprint("c1", &a), fingerprint("c1", &a.clone()));
        assert_ne!(fingerprint("c1", &a), fingerprint("c2", &a));
        assert_ne!(fingerprint("c1", &a), fingerprint("c1", &b));
        let f = fingerprint("c1", &a);
        assert_eq!(f.len(), 64);
        assert!(
            f.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn the_fingerprint_is_sha256_of_client_nul_and_the_request_json() {
        // Stored fingerprints must keep matching: the definition is fixed.
        let a = request("a");
        let mut text = b"c1\0".to_vec();
        text.extend(serde_json::to_vec(&a).unwrap());
        let expected: String = Sha256::digest(&text)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(fingerprint("c1", &a), expected);
    }

    #[test]
    fn the_same_key_gives_the_same_id_per_client() {
        assert_eq!(validation_id("c1", "k"), validation_id("c1", "k"));
        assert_ne!(validation_id("c1", "k"), validation_id("c2", "k"));
        assert_ne!(validation_id("c1", "k"), validation_id("c1", "k2"));
    }

    #[test]
    fn a_reused_key_is_refused() {
        let (a, b) = (
            fingerprint("c", &request("a")),
            fingerprint("c", &request("b")),
        );
        assert!(replay(&a, &a).is_ok());
        assert_eq!(
            replay(&a, &b).unwrap_err().code,
            ErrorCode::IdempotencyKeyReused
        );
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(parse_key(None), Ok(None));
        assert_eq!(parse_key(Some(Some(" k "))), Ok(Some("k".into())));
        for bad in [Some(""), Some("  "), None, Some("a\u{1}b")] {
            assert_eq!(
                parse_key(Some(bad)).unwrap_err().code,
                ErrorCode::InvalidParameters
            );
        }
        let long = "k".repeat(MAX_KEY_LEN + 1);
        assert!(parse_key(Some(Some(&long))).is_err());
    }
}

//! Keys for the tests: the RFC 8037 (Appendix A) Ed25519 key, whose public
//! key and signature are published, and seeds made of one repeated byte.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// RFC 8037 A.1's private key `d`, a seed.
pub const RFC8037_SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
/// RFC 8037 A.1's public key `x`.
pub const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
pub const RFC8037_ENTRY: &str = "rfc8037:nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

/// The seed `[byte; 32]`, as the setting writes it.
pub fn seed(byte: u8) -> String {
    URL_SAFE_NO_PAD.encode([byte; 32])
}

/// A `kid:seed` entry with the seed `[byte; 32]`.
pub fn entry(kid: &str, byte: u8) -> String {
    format!("{kid}:{}", seed(byte))
}

/// Now, in seconds since the epoch, as the verifier's clock reads it.
pub fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// A session's claims for `sub`, issued an hour before `exp`.
pub fn session_claims(sub: &str, exp: i64) -> bv_contract::biometrics::SessionClaims {
    bv_contract::biometrics::SessionClaims {
        sub: sub.to_owned(),
        aud: bv_contract::biometrics::SESSION_AUDIENCE.to_owned(),
        iat: exp - 3600,
        exp,
    }
}

/// A decided validation's result.
pub fn result_claims() -> bv_contract::biometrics::ResultClaims {
    bv_contract::biometrics::ResultClaims {
        id: "0197a9c2-5d1e-7c3a-9f00-4b8e2a1c0d11".into(),
        client: "client-1".into(),
        project: "project-1".into(),
        identifier: "person@example.com".into(),
        kind: bv_contract::ValidationType::Validation,
        status: bv_contract::ValidationStatus::Validated,
        scores: bv_contract::Scores {
            liveness: Some(0.97),
            face_match: Some(0.91),
        },
        date_time: "2025-06-15T10:30:00Z".into(),
    }
}

/// The first part of every token `kid` signs.
pub fn header_of(kid: &str) -> String {
    let header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#);
    format!("{}.", URL_SAFE_NO_PAD.encode(header))
}

/// A token with any header, payload and (already encoded) signature.
pub fn forge(header: &serde_json::Value, payload: &serde_json::Value, signature: &str) -> String {
    let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.{signature}", part(header), part(payload))
}

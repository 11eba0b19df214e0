//! Generated identifiers and secrets.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A fresh Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes.
pub fn webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// A fresh id with a readable prefix, e.g. `project_0193…`.
pub fn prefixed_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_whsec_and_distinct() {
        let a = super::webhook_secret();
        assert!(a.starts_with("whsec_") && a.len() > 40);
        assert_ne!(a, super::webhook_secret());
    }
}

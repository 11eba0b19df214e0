//! Bearer tokens as a client's identity provider would issue them.

use serde_json::json;

pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-characters-long";
/// The Ed25519 key signing session tokens and results in tests (`kid:seed`).
pub const SIGNING_KEYS: &str = "test-1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
/// The AES-256 key sealing face templates in tests (`kid:key`).
pub const TEMPLATE_KEYS: &str = "test-t1:ERERERERERERERERERERERERERERERERERERERERERE=";

/// A token for `client`, valid `ttl_secs` from now (negative: already expired).
pub fn token(client: &str, ttl_secs: i64) -> String {
    token_signed(client, ttl_secs, JWT_SECRET)
}

pub fn token_signed(client: &str, ttl_secs: i64, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"client": client, "iat": now, "exp": now + ttl_secs}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign token")
}

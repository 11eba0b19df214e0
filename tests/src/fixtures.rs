//! Request bodies the tests start from.

use serde_json::{Value, json};

/// The seed's request example, with `expiresAt` moved into the future.
pub fn seed_request() -> Value {
    json!({
        "project": "project_123456789",
        "projectFlow": "flow_123456789",
        "identifier": "user@example.com",
        "type": "validation",
        "expiresAt": "2099-01-15T11:30:00Z",
        "redirectUrl": "https://example.com/success",
        "webhookUrl": "https://example.com/webhook",
        "requires2FA": false,
        "ipAddress": "192.168.1.1",
        "sendViaEmail": true,
        "email": "user@example.com",
        "language": "en"
    })
}

//! Notifications as the API and `bvctl` show them: the closed sets of the
//! outbox (channel, status, attempt outcome) and the delivery view with its
//! attempt history.

use serde::{Deserialize, Serialize};

use crate::webhook::EventType;

crate::closed_set! {
    /// How a notification travels.
    pub enum Channel {
        Email = "email",
        Webhook = "webhook",
    }
}

crate::closed_set! {
    /// Where a delivery is: waiting for (another) attempt, or settled.
    pub enum DeliveryStatus {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

crate::closed_set! {
    /// What one attempt decided for its delivery.
    pub enum AttemptOutcome {
        Succeeded = "succeeded",
        Retry = "retry",
        Failed = "failed",
    }
}

/// The `webhook-id` of a delivery: stable across its retries and redeliveries.
pub fn webhook_id(id: uuid::Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// One delivery with its attempts, as `GET …/deliveries` and `bvctl
/// deliveries list` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    #[serde(rename = "_id")]
    pub id: String,
    pub validation: String,
    pub channel: Channel,
    /// The URL or the email address.
    pub target: String,
    pub event_type: EventType,
    /// The `webhook-id` header (webhooks only).
    pub webhook_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub last_status: Option<i32>,
    pub created_at: String,
    pub updated_at: String,
    pub history: Vec<AttemptView>,
}

/// One attempt in a delivery's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempt: i32,
    pub started_at: String,
    pub duration_ms: i64,
    pub outcome: AttemptOutcome,
    pub response_status: Option<i32>,
    pub error: Option<String>,
}

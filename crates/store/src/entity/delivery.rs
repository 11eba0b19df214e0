//! One notification to deliver (the outbox): an email or a webhook.

use bv_contract::{Channel, DeliveryStatus, EventType, Language};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    /// Also the webhook's `webhook-id` (as `msg_<id>`) and the email's Message-ID.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub validation_id: Uuid,
    pub client: String,
    pub project: String,
    pub channel: Channel,
    /// The URL or the email address.
    pub target: String,
    pub event_type: EventType,
    /// Webhook: the exact body sent. Email: the validation as the API returns it.
    pub payload: String,
    pub language: Language,
    pub status: DeliveryStatus,
    /// Attempts ever made.
    pub attempts: i32,
    /// When the current retry schedule began (creation, or the last redelivery).
    pub schedule_started_at: DateTimeUtc,
    /// Attempts made in the current schedule: the backoff's exponent.
    pub schedule_attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub last_status: Option<i32>,
    /// W3C traceparent of the request that created it: attempts join its trace.
    pub trace_parent: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

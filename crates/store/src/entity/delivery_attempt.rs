//! One attempt at a delivery: when, how long, and what came back.

use bv_contract::AttemptOutcome;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub delivery_id: Uuid,
    /// 1 for the first attempt of the delivery, counting across redeliveries.
    pub attempt: i32,
    pub started_at: DateTimeUtc,
    pub duration_ms: i64,
    pub outcome: AttemptOutcome,
    pub response_status: Option<i32>,
    /// The response body, truncated.
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// The worker process that made the attempt.
    pub worker: String,
}

impl ActiveModelBehavior for ActiveModel {}

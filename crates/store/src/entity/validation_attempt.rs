//! One decided attempt at a validation: scores, decision, reasons and the
//! engine that decided. Its id is the validate command's message id, so a
//! redelivered command records nothing twice.

use bv_contract::{Decision, Os};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "validation_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub validation_id: Uuid,
    /// The challenge answered (unique: a challenge is answered once).
    pub challenge_id: Option<Uuid>,
    pub os: Os,
    pub decision: Decision,
    /// The reason codes as a JSON array.
    pub reasons: String,
    pub liveness_score: Option<f32>,
    pub match_score: Option<f32>,
    pub engine: String,
    pub engine_version: String,
    pub duration_ms: i32,
    /// The captures (JSON array of base64 images), only when the project
    /// keeps images for audit; deleted at `images_expire_at`.
    pub images: Option<Vec<u8>>,
    pub images_expire_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

//! A client's project: the unit that owns flows, validations and a webhook secret.

use bv_contract::{EngineKind, ProjectStatus};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client: String,
    pub name: String,
    pub status: ProjectStatus,
    /// Default webhook target for validations that give no `webhookUrl`.
    pub webhook_url: Option<String>,
    /// `whsec_…` secret signing this project's webhooks.
    pub webhook_secret: String,
    /// The secret before the last rotation; still signs until `previous_secret_expires_at`.
    pub previous_webhook_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// The engine that decides this project's validations.
    pub engine: EngineKind,
    /// Keep captured images this many days for audit; none: never stored.
    pub keep_images_days: Option<i32>,
    /// The origins that may embed its capture page in an iframe,
    /// space-separated (`bv_contract::EmbedOrigin::join`); none: no framing.
    pub embed_origins: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl Model {
    /// The origins that may embed this project's capture page.
    pub fn embed_origins(&self) -> Vec<bv_contract::EmbedOrigin> {
        bv_contract::EmbedOrigin::split(self.embed_origins.as_deref())
    }
}

impl ActiveModelBehavior for ActiveModel {}

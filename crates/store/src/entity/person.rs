//! A person enrolled in a project under an identifier: their face template.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "persons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project: String,
    pub identifier: String,
    /// The engine model that made the template (never compared across models).
    pub model: String,
    /// The template, sealed (AES-256-GCM, bound to this row) with the key
    /// `template_key` names; rows from before sealing have no key and hold
    /// a sandbox template as is.
    pub template: Vec<u8>,
    /// The id of the key in `biometrics.template_keys` that sealed it.
    pub template_key: Option<String>,
    /// The validation that enrolled the person.
    pub enrolled_by: Uuid,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

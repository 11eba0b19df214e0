//! A project's flow configuration: a `login` or `onboarding` flow.

use bv_contract::{FlowStatus, FlowType, LivenessMode};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "project_flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub project: String,
    #[sea_orm(column_name = "type")]
    pub kind: FlowType,
    pub status: FlowStatus,
    pub name: Option<String>,
    /// How liveness is checked on this flow's validations.
    pub liveness: LivenessMode,
    /// Match score a face needs; none: the engine's default.
    pub match_threshold: Option<f32>,
    /// Failed attempts that end a validation as `failed`.
    pub max_attempts: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

//! Project flows: created and listed by `bvctl`, checked by the worker.

use std::collections::HashMap;

use bv_contract::{FlowStatus, FlowType, LivenessMode};
use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::entity::project_flow;
use crate::secrets;

#[derive(Clone, Debug)]
pub struct NewFlow {
    pub id: Option<String>,
    pub project: String,
    pub kind: FlowType,
    pub status: FlowStatus,
    pub name: Option<String>,
    pub settings: FlowSettings,
}

/// How a flow's validations are decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowSettings {
    pub liveness: LivenessMode,
    /// Match score a face needs; none: the engine's default.
    pub match_threshold: Option<f32>,
    /// Failed attempts that end a validation as `failed` (at least 1).
    pub max_attempts: i32,
}

impl Default for FlowSettings {
    /// Active liveness, the engine's threshold, three attempts.
    fn default() -> Self {
        FlowSettings {
            liveness: LivenessMode::Active,
            match_threshold: None,
            max_attempts: 3,
        }
    }
}

pub async fn create(db: &impl ConnectionTrait, new: NewFlow) -> Result<project_flow::Model, DbErr> {
    let now = Utc::now().trunc_subsecs(3);
    project_flow::ActiveModel {
        id: Set(new.id.unwrap_or_else(|| secrets::prefixed_id("flow"))),
        project: Set(new.project),
        kind: Set(new.kind),
        status: Set(new.status),
        name: Set(new.name),
        liveness: Set(new.settings.liveness),
        match_threshold: Set(new.settings.match_threshold),
        max_attempts: Set(new.settings.max_attempts),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn list(
    db: &impl ConnectionTrait,
    project: Option<&str>,
) -> Result<Vec<project_flow::Model>, DbErr> {
    let mut query = project_flow::Entity::find().order_by_asc(project_flow::Column::CreatedAt);
    if let Some(project) = project {
        query = query.filter(project_flow::Column::Project.eq(project));
    }
    query.all(db).await
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    id: &str,
    status: FlowStatus,
) -> Result<Option<project_flow::Model>, DbErr> {
    let Some(flow) = project_flow::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let mut active: project_flow::ActiveModel = flow.into();
    active.status = Set(status);
    active.updated_at = Set(Utc::now().trunc_subsecs(3));
    active.update(db).await.map(Some)
}

/// Changes a flow's biometric settings; `None` leaves one as it is
/// (`match_threshold: Some(None)` goes back to the engine's default).
pub async fn set_settings(
    db: &impl ConnectionTrait,
    id: &str,
    liveness: Option<LivenessMode>,
    match_threshold: Option<Option<f32>>,
    max_attempts: Option<i32>,
) -> Result<Option<project_flow::Model>, DbErr> {
    let Some(flow) = project_flow::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let mut active: project_flow::ActiveModel = flow.into();
    if let Some(liveness) = liveness {
        active.liveness = Set(liveness);
    }
    if let Some(threshold) = match_threshold {
        active.match_threshold = Set(threshold);
    }
    if let Some(max) = max_attempts {
        active.max_attempts = Set(max);
    }
    active.updated_at = Set(Utc::now().trunc_subsecs(3));
    active.update(db).await.map(Some)
}

/// The flows with these ids, by id (the worker checks a batch's flows at once).
pub async fn by_ids<'a>(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, project_flow::Model>, DbErr> {
    crate::by_keys::<project_flow::Entity>(db, project_flow::Column::Id, ids, |m| m.id.clone())
        .await
}

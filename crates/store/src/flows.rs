//! Project flows: created and listed by `bvctl`, checked by the worker.

use std::collections::HashMap;

use bv_contract::{FlowStatus, FlowType};
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
}

pub async fn create(db: &impl ConnectionTrait, new: NewFlow) -> Result<project_flow::Model, DbErr> {
    let now = Utc::now().trunc_subsecs(3);
    project_flow::ActiveModel {
        id: Set(new.id.unwrap_or_else(|| secrets::prefixed_id("flow"))),
        project: Set(new.project),
        kind: Set(new.kind),
        status: Set(new.status),
        name: Set(new.name),
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

/// The flows with these ids, by id (the worker checks a batch's flows at once).
pub async fn by_ids<'a>(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, project_flow::Model>, DbErr> {
    crate::by_keys::<project_flow::Entity>(db, project_flow::Column::Id, ids, |m| m.id.clone())
        .await
}

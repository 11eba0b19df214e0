//! Projects: created and listed by `bvctl`, checked by the worker.

use std::collections::HashMap;

use bv_contract::{EmbedOrigin, EngineKind, ProjectStatus};
use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::entity::project;
use crate::secrets;

/// What an operator gives to create a project.
#[derive(Clone, Debug, Default)]
pub struct NewProject {
    pub id: Option<String>,
    pub client: String,
    pub name: String,
    pub webhook_url: Option<String>,
    /// The engine deciding its validations (default: the built-in face
    /// engine; the sandbox is for integrators' tests).
    pub engine: Option<EngineKind>,
    /// Keep captured images this many days for audit (default: never stored).
    pub keep_images_days: Option<i32>,
    /// The origins that may embed its capture page (default: none).
    pub embed_origins: Vec<EmbedOrigin>,
}

pub async fn create(db: &impl ConnectionTrait, new: NewProject) -> Result<project::Model, DbErr> {
    let now = Utc::now().trunc_subsecs(3);
    project::ActiveModel {
        id: Set(new.id.unwrap_or_else(|| secrets::prefixed_id("project"))),
        client: Set(new.client),
        name: Set(new.name),
        status: Set(ProjectStatus::Active),
        webhook_url: Set(new.webhook_url),
        webhook_secret: Set(secrets::webhook_secret()),
        previous_webhook_secret: Set(None),
        previous_secret_expires_at: Set(None),
        engine: Set(new.engine.unwrap_or(EngineKind::Face)),
        keep_images_days: Set(new.keep_images_days),
        embed_origins: Set(EmbedOrigin::join(&new.embed_origins)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<project::Model>, DbErr> {
    project::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The projects of `ids` that exist, in no particular order.
pub async fn get_many(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<Vec<project::Model>, DbErr> {
    project::Entity::find()
        .filter(project::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

pub async fn list(
    db: &impl ConnectionTrait,
    client: Option<&str>,
) -> Result<Vec<project::Model>, DbErr> {
    let mut query = project::Entity::find().order_by_asc(project::Column::CreatedAt);
    if let Some(client) = client {
        query = query.filter(project::Column::Client.eq(client));
    }
    query.all(db).await
}

/// Replaces a project's signing secret. The old one keeps signing (alongside
/// the new one) for `overlap`, so consumers can switch without a gap.
pub async fn rotate_secret(
    db: &impl ConnectionTrait,
    id: &str,
    overlap: std::time::Duration,
) -> Result<Option<project::Model>, DbErr> {
    let Some(found) = get(db, id).await? else {
        return Ok(None);
    };
    let now = Utc::now().trunc_subsecs(3);
    let old = found.webhook_secret.clone();
    let mut active: project::ActiveModel = found.into();
    active.previous_webhook_secret = Set(Some(old));
    active.previous_secret_expires_at = Set(Some(
        now + chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::zero()),
    ));
    active.webhook_secret = Set(secrets::webhook_secret());
    active.updated_at = Set(now);
    active.update(db).await.map(Some)
}

/// Sets a project's status.
pub async fn set_status(
    db: &impl ConnectionTrait,
    id: &str,
    status: ProjectStatus,
) -> Result<Option<project::Model>, DbErr> {
    let Some(found) = get(db, id).await? else {
        return Ok(None);
    };
    let mut active: project::ActiveModel = found.into();
    active.status = Set(status);
    active.updated_at = Set(Utc::now().trunc_subsecs(3));
    active.update(db).await.map(Some)
}

/// Changes a project's biometric settings; `None` leaves one as it is
/// (`keep_images_days: Some(None)` stops keeping images).
pub async fn set_biometrics(
    db: &impl ConnectionTrait,
    id: &str,
    engine: Option<EngineKind>,
    keep_images_days: Option<Option<i32>>,
) -> Result<Option<project::Model>, DbErr> {
    let Some(found) = get(db, id).await? else {
        return Ok(None);
    };
    let mut active: project::ActiveModel = found.into();
    if let Some(engine) = engine {
        active.engine = Set(engine);
    }
    if let Some(days) = keep_images_days {
        active.keep_images_days = Set(days);
    }
    active.updated_at = Set(Utc::now().trunc_subsecs(3));
    active.update(db).await.map(Some)
}

/// Replaces the origins that may embed a project's capture page (empty:
/// none may). `None` when there is no such project.
pub async fn set_embed_origins(
    db: &impl ConnectionTrait,
    id: &str,
    origins: &[EmbedOrigin],
) -> Result<Option<project::Model>, DbErr> {
    let Some(found) = get(db, id).await? else {
        return Ok(None);
    };
    let mut active: project::ActiveModel = found.into();
    active.embed_origins = Set(EmbedOrigin::join(origins));
    active.updated_at = Set(Utc::now().trunc_subsecs(3));
    active.update(db).await.map(Some)
}

/// The projects with these ids, by id (the worker checks a batch's projects at once).
pub async fn by_ids<'a>(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, project::Model>, DbErr> {
    crate::by_keys::<project::Entity>(db, project::Column::Id, ids, |m| m.id.clone()).await
}

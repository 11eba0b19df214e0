//! Reading biometric validations, and turning rows into the API's shape.
//!
//! Every query is scoped by client: a client never sees another's rows.

use bv_contract::{
    BiometricValidation, EventType, ValidationStatus, ValidationType, format_timestamp,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::biometric_validation::{self, Column, Entity, Model};

/// Converts a row into the seed's response `data`.
pub fn to_api(m: &Model) -> BiometricValidation {
    BiometricValidation {
        id: m.id.to_string(),
        client: m.client.clone(),
        project: m.project.clone(),
        project_flow: m.project_flow.clone(),
        status: m.status,
        identifier: m.identifier.clone(),
        kind: m.kind,
        expires_at: m.expires_at.map(format_timestamp),
        redirect_url: m.redirect_url.clone(),
        webhook_url: m.webhook_url.clone(),
        requires_2fa: m.requires_2fa,
        ip_address: m.ip_address.clone(),
        send_via_email: m.send_via_email,
        email: m.email.clone(),
        language: m.language,
        created_at: format_timestamp(m.created_at),
        updated_at: format_timestamp(m.updated_at),
        token: None,
        url: None,
        person: m.person_id.map(|id| bv_contract::PersonView {
            id,
            enrolled: m.person_enrolled.unwrap_or(false),
        }),
        attempts: None,
        signature: None,
    }
}

/// One validation of one client.
pub async fn get(
    db: &impl ConnectionTrait,
    client: &str,
    id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(id)
        .filter(Column::Client.eq(client))
        .one(db)
        .await
}

/// Filters of the list endpoint (Verifik's `where_…` conventions), all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<ValidationStatus>,
    pub status_in: Vec<ValidationStatus>,
    pub kind: Option<ValidationType>,
    pub project: Option<String>,
    pub project_flow: Option<String>,
    pub identifier: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Newest first when true (`sort=-createdAt`, the default).
    pub newest_first: bool,
}

/// A page of one client's validations and the total that match.
pub async fn list(
    db: &impl ConnectionTrait,
    client: &str,
    filter: &ListFilter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Model>, u64), DbErr> {
    let mut cond = Condition::all().add(Column::Client.eq(client));
    if let Some(v) = filter.status {
        cond = cond.add(Column::Status.eq(v));
    }
    if !filter.status_in.is_empty() {
        cond = cond.add(Column::Status.is_in(filter.status_in.iter().copied()));
    }
    if let Some(v) = filter.kind {
        cond = cond.add(Column::Kind.eq(v));
    }
    if let Some(v) = &filter.project {
        cond = cond.add(Column::Project.eq(v.as_str()));
    }
    if let Some(v) = &filter.project_flow {
        cond = cond.add(Column::ProjectFlow.eq(v.as_str()));
    }
    if let Some(v) = &filter.identifier {
        cond = cond.add(Column::Identifier.eq(v.as_str()));
    }
    if let Some(v) = filter.created_after {
        cond = cond.add(Column::CreatedAt.gt(v));
    }
    if let Some(v) = filter.created_before {
        cond = cond.add(Column::CreatedAt.lt(v));
    }
    let query = Entity::find().filter(cond);
    let total = query.clone().count(db).await?;
    let query = if filter.newest_first {
        query
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
    } else {
        query
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
    };
    let rows = query
        .offset(page.saturating_sub(1).saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Validations expired per sweep, at most.
const EXPIRE_BATCH: u64 = 500;

/// Marks undecided validations past their `expiresAt` as `expired`
/// ([`ValidationStatus::is_expired_at`] written as a query), each with its
/// `biometric_validation.expired` webhook in the same transaction; returns
/// how many. A validation decided meanwhile is left alone (compare-and-set).
pub async fn expire_due(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Expr;
    let due = Entity::find()
        .filter(Column::Status.is_in(ValidationStatus::EXPIRABLE))
        .filter(Column::ExpiresAt.lte(now))
        .order_by_asc(Column::ExpiresAt)
        .limit(EXPIRE_BATCH)
        .all(db)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let projects = crate::projects::by_ids(db, due.iter().map(|v| v.project.as_str())).await?;
    let txn = db.begin().await?;
    let mut expired = 0;
    for mut validation in due {
        let moved = Entity::update_many()
            .col_expr(Column::Status, Expr::value(ValidationStatus::Expired))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(validation.id))
            .filter(Column::Status.is_in(ValidationStatus::EXPIRABLE))
            .exec(&txn)
            .await?;
        if moved.rows_affected == 0 {
            continue;
        }
        expired += 1;
        validation.status = ValidationStatus::Expired;
        validation.updated_at = now;
        let Some(project) = projects.get(&validation.project) else {
            continue;
        };
        let data = to_api(&validation);
        let kind = EventType::Expired;
        if let Some(row) = crate::deliveries::event(&validation, project, kind, data, None, now) {
            row.insert(&txn).await?;
        }
    }
    txn.commit().await?;
    Ok(expired)
}

pub use biometric_validation::ActiveModel;

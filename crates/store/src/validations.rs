//! Reading biometric validations, and turning rows into the API's shape.
//!
//! Every query is scoped by client: a client never sees another's rows.

use bv_contract::{BiometricValidation, ValidationStatus, ValidationType, format_timestamp};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
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

/// Marks undecided validations past their `expiresAt` as `expired`
/// ([`ValidationStatus::is_expired_at`] written as a query); returns how many.
pub async fn expire_due(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Expr;
    let result = Entity::update_many()
        .col_expr(Column::Status, Expr::value(ValidationStatus::Expired))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Status.is_in(ValidationStatus::EXPIRABLE))
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

pub use biometric_validation::ActiveModel;

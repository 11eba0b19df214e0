//! Reading what completing a validation writes: challenges, attempts and
//! enrolled persons, and their API shapes. The worker writes them (see
//! `bv-worker`'s `biometrics`); the ingress reads them.

use bv_contract::biometrics::ResultClaims;
use bv_contract::{
    AttemptView, Challenge, ChallengeStep, PublicView, Reason, Scores, ValidationStatus,
    format_timestamp,
};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::{
    biometric_validation, challenge, person, project_flow, validate_start, validation_attempt,
};

/// An attempt as the API shows it.
pub fn attempt_view(m: &validation_attempt::Model) -> AttemptView {
    AttemptView {
        id: m.id,
        created_at: format_timestamp(m.created_at),
        os: m.os,
        decision: m.decision,
        reasons: reasons(m),
        scores: scores(m),
        engine: m.engine.clone(),
        engine_version: m.engine_version.clone(),
        duration_ms: u32::try_from(m.duration_ms).unwrap_or(0),
    }
}

/// An attempt's reason codes (stored as a JSON array of their names).
pub fn reasons(m: &validation_attempt::Model) -> Vec<Reason> {
    serde_json::from_str(&m.reasons).unwrap_or_default()
}

pub fn scores(m: &validation_attempt::Model) -> Scores {
    Scores {
        liveness: m.liveness_score,
        face_match: m.match_score,
    }
}

/// A validation's attempts, oldest first.
pub async fn attempts_of(
    db: &impl ConnectionTrait,
    validation: Uuid,
) -> Result<Vec<validation_attempt::Model>, DbErr> {
    validation_attempt::Entity::find()
        .filter(validation_attempt::Column::ValidationId.eq(validation))
        .order_by_asc(validation_attempt::Column::CreatedAt)
        .order_by_asc(validation_attempt::Column::Id)
        .all(db)
        .await
}

pub async fn attempt(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<validation_attempt::Model>, DbErr> {
    validation_attempt::Entity::find_by_id(id).one(db).await
}

pub async fn challenge(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<challenge::Model>, DbErr> {
    challenge::Entity::find_by_id(id).one(db).await
}

/// A challenge's steps (stored as a JSON array of their names).
pub fn steps(c: &challenge::Model) -> Vec<ChallengeStep> {
    serde_json::from_str(&c.steps).unwrap_or_default()
}

pub fn challenge_view(c: &challenge::Model) -> Challenge {
    Challenge {
        id: c.id,
        validation: c.validation_id,
        steps: steps(c),
        expires_at: format_timestamp(c.expires_at),
    }
}

/// The person enrolled under an identifier in a project.
pub async fn person_for(
    db: &impl ConnectionTrait,
    project: &str,
    identifier: &str,
) -> Result<Option<person::Model>, DbErr> {
    person::Entity::find()
        .filter(person::Column::Project.eq(project))
        .filter(person::Column::Identifier.eq(identifier))
        .one(db)
        .await
}

/// Failed attempts a validation still allows.
pub fn attempts_left(v: &biometric_validation::Model, flow: Option<&project_flow::Model>) -> u32 {
    if v.status.is_final() {
        return 0;
    }
    let max = if v.kind == bv_contract::ValidationType::OneTimeLink {
        1
    } else {
        flow.map_or(crate::flows::FlowSettings::default().max_attempts, |f| {
            f.max_attempts.max(1)
        })
    };
    u32::try_from(max.saturating_sub(v.attempts)).unwrap_or(0)
}

/// What the end user's page may see (a session token's GET).
pub fn public_view(
    v: &biometric_validation::Model,
    flow: Option<&project_flow::Model>,
    last: Option<&validation_attempt::Model>,
    now: DateTime<Utc>,
) -> PublicView {
    let status = if v.status.is_expired_at(v.expires_at, now) {
        ValidationStatus::Expired
    } else {
        v.status
    };
    PublicView {
        id: v.id,
        status,
        kind: v.kind,
        language: v.language,
        expires_at: v.expires_at.map(format_timestamp),
        redirect_url: v.redirect_url.clone(),
        liveness: flow.map_or(bv_contract::LivenessMode::Active, |f| f.liveness),
        attempts_left: attempts_left(v, flow),
        last_attempt: last.map(|a| bv_contract::biometrics::LastAttempt {
            decision: a.decision,
            reasons: reasons(a),
        }),
    }
}

/// What a decided validation's signature certifies; none while undecided.
pub fn result_claims(
    v: &biometric_validation::Model,
    decided: &validation_attempt::Model,
) -> Option<ResultClaims> {
    if !matches!(
        v.status,
        ValidationStatus::Validated | ValidationStatus::Failed
    ) {
        return None;
    }
    Some(ResultClaims {
        id: v.id.to_string(),
        client: v.client.clone(),
        project: v.project.clone(),
        identifier: v.identifier.clone(),
        kind: v.kind,
        status: v.status,
        scores: scores(decided),
        date_time: format_timestamp(decided.created_at),
    })
}

/// Deletes kept capture images whose time has come; returns how many.
pub async fn purge_images(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let result = validation_attempt::Entity::update_many()
        .col_expr(
            validation_attempt::Column::Images,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(
            validation_attempt::Column::ImagesExpireAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(validation_attempt::Column::ImagesExpireAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Counts one more start of a redelivered validate command and returns how
/// many there were, this one included.
pub async fn count_start(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<i32, DbErr> {
    use sea_orm::sea_query::{ExprTrait, OnConflict, Query};
    use validate_start::Column;
    let insert = Query::insert()
        .into_table(validate_start::Entity)
        .columns([Column::Id, Column::Starts, Column::UpdatedAt])
        .values_panic([id.into(), 1.into(), now.into()])
        .on_conflict(
            OnConflict::column(Column::Id)
                .value(
                    Column::Starts,
                    Expr::col((validate_start::Entity, Column::Starts)).add(1),
                )
                .value(Column::UpdatedAt, Expr::value(now))
                .to_owned(),
        )
        .returning_col(Column::Starts)
        .to_owned();
    let row = db.query_one(&insert).await?;
    let starts = row.map(|r| r.try_get::<i32>("", "starts")).transpose()?;
    starts.ok_or_else(|| DbErr::RecordNotInserted)
}

/// Deletes a validation's unanswered challenges other than `keep`: a new
/// challenge retires the ones before it, so one validation holds at most
/// one open challenge (and its answered ones, one per attempt).
pub async fn retire_challenges(
    db: &impl ConnectionTrait,
    validation: Uuid,
    keep: Uuid,
) -> Result<u64, DbErr> {
    let deleted = challenge::Entity::delete_many()
        .filter(challenge::Column::ValidationId.eq(validation))
        .filter(challenge::Column::Id.ne(keep))
        .filter(challenge::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// What the sweep removed: challenges never answered, an hour past their
/// expiry, and start counts of validate commands a day old.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub challenges: u64,
    pub starts: u64,
}

/// Deletes what completing validations leaves behind once it is of no use.
pub async fn sweep(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Swept, DbErr> {
    let challenges = challenge::Entity::delete_many()
        .filter(challenge::Column::UsedAt.is_null())
        .filter(challenge::Column::ExpiresAt.lt(now - chrono::Duration::hours(1)))
        .exec(db)
        .await?
        .rows_affected;
    let starts = validate_start::Entity::delete_many()
        .filter(validate_start::Column::UpdatedAt.lt(now - chrono::Duration::days(1)))
        .exec(db)
        .await?
        .rows_affected;
    Ok(Swept { challenges, starts })
}

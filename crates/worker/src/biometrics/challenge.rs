//! The challenge command: a fresh, single-use liveness challenge from the
//! project's engine, stored with a short lifetime. It retires the
//! validation's open challenges before it, so asking again and again keeps
//! one open challenge, not thousands of rows. The first one moves the
//! validation from `new` to `pending` (the user started), with its
//! `biometric_validation.pending` webhook in the same transaction.

use bv_contract::{
    ApiError, ChallengeCommand, ChallengeOutcome, EventType, Success, ValidationStatus,
};
use bv_store::entity::{biometric_validation, challenge};
use bv_store::sea_orm::sea_query::Expr;
use bv_store::sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};
use bv_store::{biometrics, bounded};
use chrono::{SubsecRound, Utc};
use lapin::message::Delivery;

use super::{Role, decode, message_id};
use crate::consumer::Context;

pub async fn handle(
    ctx: &Context,
    role: &Role,
    delivery: &Delivery,
) -> Result<ChallengeOutcome, DbErr> {
    let id = match message_id(delivery) {
        Ok(id) => id,
        Err(err) => return Ok(ChallengeOutcome::Rejected(err)),
    };
    let command: ChallengeCommand = match decode(delivery, "challenge") {
        Ok(c) => c,
        Err(err) => return Ok(ChallengeOutcome::Rejected(err)),
    };
    let (db, limit) = (&ctx.db, ctx.db_timeout);
    // A redelivered command answers with the challenge it already made.
    if let Some(done) = bounded(limit, biometrics::challenge(db, id)).await? {
        return Ok(ChallengeOutcome::Issued(Success::new(
            biometrics::challenge_view(&done),
        )));
    }
    let find = biometric_validation::Entity::find_by_id(command.validation).one(db);
    let Some(validation) = bounded(limit, find).await? else {
        return Ok(ChallengeOutcome::Rejected(ApiError::not_found()));
    };
    let now = Utc::now().trunc_subsecs(3);
    if validation.status.is_final() || validation.status.is_expired_at(validation.expires_at, now) {
        let status = if validation.status.is_final() {
            validation.status
        } else {
            ValidationStatus::Expired
        };
        return Ok(ChallengeOutcome::Rejected(ApiError::closed(status)));
    }
    let flows = bv_store::flows::by_ids(db, [validation.project_flow.as_str()]);
    let flow = bounded(limit, flows)
        .await?
        .remove(&validation.project_flow);
    let Some(project) = bounded(limit, bv_store::projects::get(db, &validation.project)).await?
    else {
        return Ok(ChallengeOutcome::Rejected(ApiError::not_found()));
    };
    let liveness = flow
        .as_ref()
        .map_or(bv_contract::LivenessMode::Active, |f| f.liveness);
    let engine = match role.engines.get(project.engine).await {
        Ok(engine) => engine,
        Err(err) => {
            tracing::error!(error = %err, engine = %project.engine, "engine unavailable");
            return Ok(ChallengeOutcome::Rejected(ApiError::internal(None)));
        }
    };
    let steps = engine.challenge(liveness);
    let ttl = chrono::Duration::from_std(ctx.biometrics.challenge_ttl)
        .unwrap_or(chrono::Duration::minutes(2));
    let row = challenge::ActiveModel {
        id: Set(id),
        validation_id: Set(validation.id),
        steps: Set(serde_json::to_string(&steps).unwrap_or_default()),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        created_at: Set(now),
    };

    let started = validation.status == ValidationStatus::New;
    let write = async {
        let txn = db.begin().await?;
        let stored = row.insert(&txn).await?;
        biometrics::retire_challenges(&txn, validation.id, id).await?;
        if started {
            let moved = biometric_validation::Entity::update_many()
                .col_expr(
                    biometric_validation::Column::Status,
                    Expr::value(ValidationStatus::Pending),
                )
                .col_expr(biometric_validation::Column::UpdatedAt, Expr::value(now))
                .filter(biometric_validation::Column::Id.eq(validation.id))
                .filter(biometric_validation::Column::Status.eq(ValidationStatus::New))
                .exec(&txn)
                .await?;
            if moved.rows_affected == 1 {
                let mut pending = validation.clone();
                pending.status = ValidationStatus::Pending;
                pending.updated_at = now;
                let data = bv_store::validations::to_api(&pending);
                let trace = bv_runtime::propagation::traceparent_of(&tracing::Span::current());
                let event = bv_store::deliveries::event(
                    &pending,
                    &project,
                    EventType::Pending,
                    data,
                    trace,
                    now,
                );
                if let Some(event) = event {
                    event.insert(&txn).await?;
                }
            }
        }
        txn.commit().await?;
        Ok::<_, DbErr>(stored)
    };
    let stored = bounded(limit, write).await?;
    if started {
        ctx.wake.notify_one();
    }
    Ok(ChallengeOutcome::Issued(Success::new(
        biometrics::challenge_view(&stored),
    )))
}

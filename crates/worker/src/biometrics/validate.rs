//! The validate command: decide one attempt through the project's engine,
//! then record it, in one transaction, with the validation's new status,
//! the enrolled person (onboarding) and the status's webhook.
//!
//! Nothing is decoded before the command is known to fit: its size, a
//! validation still open, one frame per step of the challenge it answers
//! (or one image without a challenge). Then the frames are decoded one at a
//! time, each reduced at once to the size the engine analyses, so a command
//! costs at most one full-size frame's pixels besides its own body.
//!
//! The command's `message_id` is the attempt's id: a redelivered command
//! finds its attempt and answers with it (`replayed`), recording nothing
//! twice. A challenge is answered once: its `used_at` is set in the same
//! transaction (compare-and-set), and a unique index on the attempt's
//! `challenge_id` holds even against a racing worker. The validation moves
//! by compare-and-set on its attempt count, so two racing attempts never
//! both count as the same one: the loser is retried and sees the other.

use std::time::{Duration, Instant};

use bv_contract::{
    ApiError, Decision, ErrorCode, EventType, Frame, LivenessMode, PersonView, Success,
    ValidateCommand, ValidateOutcome, ValidateResult, ValidationStatus, ValidationType, frames_fit,
};
use bv_engine::image::{ImageLimits, decode_base64};
use bv_engine::rules::{EvaluateInput, Evaluation, before_analysis, evaluate};
use bv_engine::{AnalyzeInput, CaptureInput, Template};
use bv_store::entity::{biometric_validation, person, project, project_flow, validation_attempt};
use bv_store::sea_orm::sea_query::Expr;
use bv_store::sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, TransactionTrait,
};
use bv_store::{biometrics, bounded};
use chrono::{DateTime, SubsecRound, Utc};
use lapin::message::Delivery;
use uuid::Uuid;

use super::{Role, decode, message_id, templates};
use crate::consumer::Context;

pub async fn handle(
    ctx: &Context,
    role: &Role,
    delivery: &Delivery,
) -> Result<ValidateOutcome, DbErr> {
    let id = match message_id(delivery) {
        Ok(id) => id,
        Err(err) => return Ok(ValidateOutcome::Rejected(err)),
    };
    // The ingress holds requests to `max_request_bytes`; a publisher of its
    // own is held to the same before its body is read.
    let most = ctx
        .biometrics
        .max_request_bytes
        .saturating_add(COMMAND_ENVELOPE);
    if delivery.data.len() > most {
        return Ok(ValidateOutcome::Rejected(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The validate command is {} bytes; at most {most} (biometrics.max_request_bytes and its envelope)",
                delivery.data.len()
            ),
        )));
    }
    let mut command: ValidateCommand = match decode(delivery, "validate") {
        Ok(c) => c,
        Err(err) => return Ok(ValidateOutcome::Rejected(err)),
    };
    let (db, limit) = (&ctx.db, ctx.db_timeout);
    if let Some(done) = bounded(limit, biometrics::attempt(db, id)).await? {
        return replay(ctx, done).await;
    }
    let find = biometric_validation::Entity::find_by_id(command.validation).one(db);
    let Some(validation) = bounded(limit, find).await? else {
        return Ok(ValidateOutcome::Rejected(ApiError::not_found()));
    };
    tracing::Span::current().record("bv.validation", validation.id.to_string());
    let now = Utc::now().trunc_subsecs(3);
    if validation.status.is_final() {
        return Ok(ValidateOutcome::Rejected(ApiError::closed(
            validation.status,
        )));
    }
    if validation.status.is_expired_at(validation.expires_at, now) {
        return Ok(ValidateOutcome::Rejected(ApiError::closed(
            ValidationStatus::Expired,
        )));
    }
    let flows = bv_store::flows::by_ids(db, [validation.project_flow.as_str()]);
    let flow = bounded(limit, flows)
        .await?
        .remove(&validation.project_flow);
    let Some(project) = bounded(limit, bv_store::projects::get(db, &validation.project)).await?
    else {
        return Ok(ValidateOutcome::Rejected(ApiError::not_found()));
    };
    let defaults = bv_store::flows::FlowSettings::default();
    let (liveness, threshold, max_attempts) = flow.as_ref().map_or(
        (
            defaults.liveness,
            defaults.match_threshold,
            defaults.max_attempts,
        ),
        |f| (f.liveness, f.match_threshold, f.max_attempts),
    );

    // The challenge answered, if any: this validation's, unused.
    let challenge = match command.challenge_id {
        Some(cid) => {
            let Some(c) = bounded(limit, biometrics::challenge(db, cid)).await? else {
                return Ok(ValidateOutcome::Rejected(ApiError::challenge_not_found()));
            };
            if c.validation_id != validation.id {
                return Ok(ValidateOutcome::Rejected(ApiError::challenge_not_found()));
            }
            if c.used_at.is_some() {
                return Ok(ValidateOutcome::Rejected(ApiError::challenge_used()));
            }
            Some(c)
        }
        None if liveness == LivenessMode::Active => {
            return Ok(ValidateOutcome::Rejected(ApiError::field(
                ErrorCode::MissingField,
                "challengeId",
                "This flow checks liveness with a challenge: get one from \
                 GET /v2/biometric-validations/{id}/challenge and send its frames",
            )));
        }
        None => None,
    };
    let steps = challenge.as_ref().map(|c| biometrics::steps(c).len());
    if let Err(err) = frames_fit(steps, command.frames.len()) {
        return Ok(ValidateOutcome::Rejected(err));
    }
    let find = biometrics::person_for(db, &validation.project, &validation.identifier);
    let enrolled = bounded(limit, find).await?;
    // A template that does not open is the operator's to fix (a key taken
    // out of biometrics.template_keys) or a tampered row: never the user's
    // attempt to spend, and never a match.
    let enrolled_template = match enrolled
        .as_ref()
        .map(|p| templates::open(&role.templates, p))
    {
        None => None,
        Some(Ok(template)) => Some(template),
        Some(Err(err)) => {
            tracing::error!(
                person = %enrolled.as_ref().map(|p| p.id).unwrap_or_default(),
                error = %err,
                "the enrolled template cannot be read"
            );
            return Ok(ValidateOutcome::Rejected(ApiError::internal(None)));
        }
    };
    let engine = match role.engines.get(project.engine).await {
        Ok(engine) => engine,
        Err(err) => {
            tracing::error!(error = %err, engine = %project.engine, "engine unavailable");
            return Ok(ValidateOutcome::Rejected(ApiError::internal(None)));
        }
    };

    // Kept only where the project asks for it (`keep_images_days`).
    let keep = project.keep_images_days.filter(|days| *days > 0);
    let kept_images = keep.map(|_| serde_json::to_vec(&command.frames).unwrap_or_default());
    let decided = decide(Decide {
        engine: engine.clone(),
        kind: validation.kind,
        identifier: validation.identifier.clone(),
        attempt: u32::try_from(validation.attempts + 1).unwrap_or(u32::MAX),
        liveness,
        match_threshold: threshold,
        steps: challenge.as_ref().map(biometrics::steps),
        challenge_expired: challenge.as_ref().is_some_and(|c| c.expires_at <= now),
        frames: std::mem::take(&mut command.frames),
        enrolled: enrolled_template,
        limits: ImageLimits {
            max_bytes: ctx.biometrics.max_image_bytes,
            max_side: ctx.biometrics.max_image_side,
            max_pixels: ctx.biometrics.max_image_pixels,
        },
    })
    .await;
    let (evaluation, took) = match decided {
        Ok(decided) => decided,
        Err(err) => return Ok(ValidateOutcome::Rejected(err)),
    };
    ctx.metrics.engine(engine.name(), took);

    // One attempt fewer; oneTimeLink links work for one decided attempt.
    let attempts = validation.attempts + 1;
    let max = if validation.kind == ValidationType::OneTimeLink {
        1
    } else {
        max_attempts.max(1)
    };
    let status = match evaluation.decision {
        Decision::Pass => ValidationStatus::Validated,
        Decision::Fail if attempts >= max => ValidationStatus::Failed,
        Decision::Fail => ValidationStatus::Pending,
    };
    let attempt = validation_attempt::Model {
        id,
        validation_id: validation.id,
        challenge_id: challenge.as_ref().map(|c| c.id),
        os: command.os,
        decision: evaluation.decision,
        reasons: serde_json::to_string(&evaluation.reasons).unwrap_or_else(|_| "[]".into()),
        liveness_score: evaluation.scores.liveness,
        match_score: evaluation.scores.face_match,
        engine: engine.name().to_owned(),
        engine_version: engine.version().to_owned(),
        duration_ms: i32::try_from(took.as_millis()).unwrap_or(i32::MAX),
        images: kept_images,
        images_expire_at: keep.map(|days| now + chrono::Duration::days(i64::from(days))),
        created_at: now,
    };
    let record = Record {
        templates: &role.templates,
        validation: &validation,
        project: &project,
        attempt: &attempt,
        status,
        evaluation: &evaluation,
        enrolled: enrolled.as_ref(),
        now,
    };
    let after = match bounded(limit, record.write(db)).await? {
        Written::Done(after) => *after,
        Written::ChallengeUsed => {
            return Ok(ValidateOutcome::Rejected(ApiError::challenge_used()));
        }
    };
    ctx.metrics
        .decided(evaluation.decision, &evaluation.reasons);
    if after.status != validation.status {
        ctx.wake.notify_one();
    }
    tracing::info!(
        validation = %after.id,
        attempt = %attempt.id,
        decision = %attempt.decision,
        status = %after.status,
        "attempt decided"
    );
    Ok(ValidateOutcome::Decided(Success::new(result(
        ctx,
        &after,
        &attempt,
        flow.as_ref(),
    ))))
}

/// Room for a validate command's fields besides its images.
const COMMAND_ENVELOPE: usize = 64 * 1024;

/// What the engine needs, owned, for a blocking thread.
struct Decide {
    engine: std::sync::Arc<dyn bv_engine::Engine>,
    kind: ValidationType,
    identifier: String,
    attempt: u32,
    liveness: LivenessMode,
    match_threshold: Option<f32>,
    steps: Option<Vec<bv_contract::ChallengeStep>>,
    challenge_expired: bool,
    frames: Vec<Frame>,
    enrolled: Option<Template>,
    limits: ImageLimits,
}

/// Decodes the frames and runs the engine on a blocking thread (CPU-bound:
/// the async runtime never waits on it). A frame that does not decode is the
/// command's fault: `INVALID_IMAGE`, naming the frame. A challenge answered
/// too late or out of order is decided before any frame is decoded.
async fn decide(d: Decide) -> Result<(Evaluation, Duration), ApiError> {
    let run = move || {
        let started = Instant::now();
        let steps: Vec<_> = d.frames.iter().map(|f| f.step).collect();
        if let Some(failed) = before_analysis(d.challenge_expired, d.steps.as_deref(), &steps) {
            return Ok((failed, started.elapsed()));
        }
        // One image at a time (each frame's, then its burst's): its text
        // decoded, its pixels decoded and reduced to the analysis size, the
        // full-size ones dropped.
        let single = d.frames.len() == 1 && d.frames[0].step.is_none();
        let mut captures = Vec::with_capacity(d.frames.len());
        for (index, frame) in d.frames.iter().enumerate() {
            let field = if single {
                "image".to_owned()
            } else {
                format!("frames[{index}].image")
            };
            let image = decode_base64(&frame.image, &d.limits)
                .map_err(|e| ApiError::invalid_image(&field, e))?;
            let mut burst = Vec::with_capacity(frame.burst.len());
            for (at, text) in frame.burst.iter().enumerate() {
                let field = format!("frames[{index}].burst[{at}]");
                burst.push(
                    decode_base64(text, &d.limits)
                        .map_err(|e| ApiError::invalid_image(&field, e))?,
                );
            }
            captures.push((frame.step, image, burst));
        }
        let inputs: Vec<CaptureInput<'_>> = captures
            .iter()
            .map(|(step, image, burst)| CaptureInput {
                step: *step,
                image,
                burst,
            })
            .collect();
        let input = EvaluateInput {
            kind: d.kind,
            analyze: AnalyzeInput {
                identifier: &d.identifier,
                attempt: d.attempt,
                liveness: d.liveness,
                challenge: d.steps.as_deref(),
                captures: &inputs,
            },
            enrolled: d.enrolled.as_ref(),
            match_threshold: d.match_threshold,
            challenge_expired: d.challenge_expired,
        };
        let evaluation = evaluate(d.engine.as_ref(), &input);
        Ok((evaluation, started.elapsed()))
    };
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|_| Err(ApiError::internal(None)))
}

/// One decided attempt, ready to be written.
struct Record<'a> {
    templates: &'a bv_signing::TemplateKeys,
    validation: &'a biometric_validation::Model,
    project: &'a project::Model,
    attempt: &'a validation_attempt::Model,
    status: ValidationStatus,
    evaluation: &'a Evaluation,
    enrolled: Option<&'a person::Model>,
    now: DateTime<Utc>,
}

enum Written {
    Done(Box<biometric_validation::Model>),
    ChallengeUsed,
}

impl Record<'_> {
    /// The attempt, the challenge used, the person, the validation's move
    /// and its webhook, in one transaction.
    async fn write(&self, db: &DatabaseConnection) -> Result<Written, DbErr> {
        let (v, now) = (self.validation, self.now);
        let txn = db.begin().await?;
        if let Some(challenge) = self.attempt.challenge_id {
            use bv_store::entity::challenge::{Column, Entity};
            let used = Entity::update_many()
                .col_expr(Column::UsedAt, Expr::value(now))
                .filter(Column::Id.eq(challenge))
                .filter(Column::UsedAt.is_null())
                .exec(&txn)
                .await?;
            if used.rows_affected == 0 {
                txn.rollback().await?;
                return Ok(Written::ChallengeUsed);
            }
        }
        validation_attempt::ActiveModel::from(self.attempt.clone())
            .insert(&txn)
            .await?;

        // The person: enrolled now (onboarding), or the one matched.
        let mut person_id = v.person_id;
        let mut person_enrolled = v.person_enrolled;
        if self.evaluation.decision == Decision::Pass {
            if let Some(template) = &self.evaluation.enrol {
                let id = Uuid::now_v7();
                let sealed =
                    templates::seal(self.templates, id, &v.project, &v.identifier, template);
                person::ActiveModel {
                    id: Set(id),
                    project: Set(v.project.clone()),
                    identifier: Set(v.identifier.clone()),
                    model: Set(template.model.clone()),
                    template: Set(sealed.bytes),
                    template_key: Set(Some(sealed.key)),
                    enrolled_by: Set(v.id),
                    created_at: Set(now),
                }
                .insert(&txn)
                .await?;
                person_id = Some(id);
                person_enrolled = Some(true);
            } else if self.evaluation.matched
                && let Some(p) = self.enrolled
            {
                person_id = Some(p.id);
                person_enrolled = Some(false);
            }
        }
        let decided = self.status.is_final().then_some(self.attempt.id);
        use biometric_validation::Column;
        let moved = biometric_validation::Entity::update_many()
            .col_expr(Column::Status, Expr::value(self.status))
            .col_expr(Column::Attempts, Expr::value(v.attempts + 1))
            .col_expr(Column::PersonId, Expr::value(person_id))
            .col_expr(Column::PersonEnrolled, Expr::value(person_enrolled))
            .col_expr(Column::DecidedAttempt, Expr::value(decided))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(v.id))
            .filter(Column::Status.eq(v.status))
            .filter(Column::Attempts.eq(v.attempts))
            .exec(&txn)
            .await?;
        if moved.rows_affected == 0 {
            // Another attempt moved it first: retried from the start.
            txn.rollback().await?;
            return Err(DbErr::Custom(
                "the validation moved meanwhile (a concurrent attempt); retrying".into(),
            ));
        }
        let after = biometric_validation::Model {
            status: self.status,
            attempts: v.attempts + 1,
            person_id,
            person_enrolled,
            decided_attempt: decided,
            updated_at: now,
            ..v.clone()
        };
        if let Some(kind) = event_of(v.status, self.status) {
            let mut data = bv_store::validations::to_api(&after);
            if self.status.is_final() {
                let attempts = biometrics::attempts_of(&txn, v.id).await?;
                data.attempts = Some(attempts.iter().map(biometrics::attempt_view).collect());
            }
            let trace = bv_runtime::propagation::traceparent_of(&tracing::Span::current());
            let event = bv_store::deliveries::event(&after, self.project, kind, data, trace, now);
            if let Some(event) = event {
                event.insert(&txn).await?;
            }
        }
        txn.commit().await?;
        Ok(Written::Done(Box::new(after)))
    }
}

/// The webhook a status change sends; none when the status stays.
fn event_of(before: ValidationStatus, after: ValidationStatus) -> Option<EventType> {
    if before == after {
        return None;
    }
    match after {
        ValidationStatus::Pending => Some(EventType::Pending),
        ValidationStatus::Validated => Some(EventType::Validated),
        ValidationStatus::Failed => Some(EventType::Failed),
        ValidationStatus::Expired => Some(EventType::Expired),
        ValidationStatus::New => None,
    }
}

/// A redelivered command: the attempt it already recorded, with the
/// validation as it is now.
async fn replay(ctx: &Context, done: validation_attempt::Model) -> Result<ValidateOutcome, DbErr> {
    let (db, limit) = (&ctx.db, ctx.db_timeout);
    let find = biometric_validation::Entity::find_by_id(done.validation_id).one(db);
    let Some(validation) = bounded(limit, find).await? else {
        return Ok(ValidateOutcome::Rejected(ApiError::not_found()));
    };
    let flows = bv_store::flows::by_ids(db, [validation.project_flow.as_str()]);
    let flow = bounded(limit, flows)
        .await?
        .remove(&validation.project_flow);
    Ok(ValidateOutcome::Replayed(Success::new(result(
        ctx,
        &validation,
        &done,
        flow.as_ref(),
    ))))
}

/// The validate answer: the validation's status after this attempt, the
/// attempt, what is left, and the signed result once decided by it.
fn result(
    ctx: &Context,
    v: &biometric_validation::Model,
    attempt: &validation_attempt::Model,
    flow: Option<&project_flow::Model>,
) -> ValidateResult {
    let signature = (v.decided_attempt == Some(attempt.id))
        .then(|| biometrics::result_claims(v, attempt))
        .flatten()
        .map(|claims| ctx.sessions.keys.sign_result(&claims));
    ValidateResult {
        id: v.id.to_string(),
        status: v.status,
        attempt: biometrics::attempt_view(attempt),
        attempts_left: biometrics::attempts_left(v, flow),
        person: v.person_id.map(|id| PersonView {
            id,
            enrolled: v.person_enrolled.unwrap_or(false),
        }),
        redirect_url: v.redirect_url.clone(),
        signature,
    }
}

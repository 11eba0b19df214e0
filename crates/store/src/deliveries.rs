//! The notification outbox: planning deliveries with a validation, claiming
//! due ones with a lease, recording attempts, and re-arming them on request.
//!
//! Claiming is a compare-and-set on the lease, correct on any database; on
//! PostgreSQL the candidate rows are also locked `FOR UPDATE SKIP LOCKED`, so
//! concurrent dispatchers do not even contend for the same rows.

use std::time::Duration;

use bv_contract::delivery::webhook_id;
use bv_contract::{
    AttemptOutcome, Channel, DeliveryAttemptView as AttemptView, DeliveryStatus, DeliveryView,
    EventType, WebhookEvent, format_timestamp,
};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend,
    DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::delivery::{self, Column, Entity, Model};
use crate::entity::{biometric_validation, delivery_attempt, project};

/// The outbox rows a newly created validation needs: an email when
/// `sendViaEmail` is set (and it has not already expired), a webhook to the
/// request's `webhookUrl` or else the project's default URL. The rows carry
/// the W3C `traceparent` that `trace_parent` gives (asked only when there
/// are rows: most creates in a busy batch may notify nobody).
pub fn plan(
    validation: &biometric_validation::Model,
    project: &project::Model,
    trace_parent: impl FnOnce() -> Option<String>,
) -> Vec<delivery::ActiveModel> {
    let now = validation.created_at;
    if !validation.send_via_email
        && validation.webhook_url.is_none()
        && project.webhook_url.is_none()
    {
        return Vec::new();
    }
    let trace_parent = trace_parent();
    let data = crate::validations::to_api(validation);
    let mut rows = Vec::new();
    if validation.send_via_email
        && !validation.status.is_expired_at(validation.expires_at, now)
        && let Some(email) = &validation.email
    {
        let payload = serde_json::to_string(&data).unwrap_or_default();
        let outbox = Outbox {
            validation,
            channel: Channel::Email,
            event: EventType::Created,
            trace_parent: trace_parent.clone(),
            now,
        };
        rows.push(outbox.row(email.clone(), payload));
    }
    rows.extend(event(
        validation,
        project,
        EventType::Created,
        data,
        trace_parent,
        now,
    ));
    rows
}

/// The webhook row of one event about a validation (a status change), to
/// the request's `webhookUrl` or else the project's default URL; none when
/// neither is set. `data` is the validation as the event shows it.
pub fn event(
    validation: &biometric_validation::Model,
    project: &project::Model,
    kind: EventType,
    data: bv_contract::BiometricValidation,
    trace_parent: Option<String>,
    now: DateTime<Utc>,
) -> Option<delivery::ActiveModel> {
    let url = validation
        .webhook_url
        .clone()
        .or_else(|| project.webhook_url.clone())?;
    let event = WebhookEvent {
        kind,
        timestamp: format_timestamp(now),
        data,
    };
    let body = serde_json::to_string(&event).unwrap_or_default();
    let outbox = Outbox {
        validation,
        channel: Channel::Webhook,
        event: kind,
        trace_parent,
        now,
    };
    Some(outbox.row(url, body))
}

/// What every outbox row of one event shares.
struct Outbox<'a> {
    validation: &'a biometric_validation::Model,
    channel: Channel,
    event: EventType,
    trace_parent: Option<String>,
    now: DateTime<Utc>,
}

impl Outbox<'_> {
    /// A pending row, due at once.
    fn row(self, target: String, payload: String) -> delivery::ActiveModel {
        let (validation, now) = (self.validation, self.now);
        delivery::ActiveModel {
            id: Set(Uuid::now_v7()),
            validation_id: Set(validation.id),
            client: Set(validation.client.clone()),
            project: Set(validation.project.clone()),
            channel: Set(self.channel),
            target: Set(target),
            event_type: Set(self.event),
            payload: Set(payload),
            language: Set(validation.language),
            status: Set(DeliveryStatus::Pending),
            attempts: Set(0),
            schedule_started_at: Set(now),
            schedule_attempts: Set(0),
            next_attempt_at: Set(Some(now)),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            last_error: Set(None),
            last_status: Set(None),
            trace_parent: Set(self.trace_parent),
            created_at: Set(now),
            updated_at: Set(now),
        }
    }
}

/// No live lease: never claimed, released, or run out by `now`.
fn unleased(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(Column::LeaseExpiresAt.is_null())
        .add(Column::LeaseExpiresAt.lt(now))
}

/// Leases up to `limit` due deliveries to `owner` for `lease`. Each claim
/// writes a fresh token (`<owner>/<random>`) into `lease_owner`: only the
/// attempt holding that token may move the delivery on, even if the same
/// process claims the row again after its lease ran out or a redelivery.
pub async fn claim_due(
    db: &DatabaseConnection,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let claimable = || {
        Condition::all()
            .add(Column::Status.eq(DeliveryStatus::Pending))
            .add(Column::NextAttemptAt.lte(now))
            .add(unleased(now))
    };
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let token = format!("{owner}/{}", Uuid::new_v4().simple());
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // One statement: the due rows nobody else is claiming right now
        // (SKIP LOCKED), leased and returned.
        let due = Query::select()
            .column(Column::Id)
            .from(Entity)
            .cond_where(claimable())
            .order_by(Column::NextAttemptAt, Order::Asc)
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        return Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(token.as_str()))
            .col_expr(Column::LeaseExpiresAt, Expr::value(until))
            .filter(Column::Id.in_subquery(due))
            .exec_with_returning(db)
            .await;
    }
    let txn = db.begin().await?;
    let mut query = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(claimable())
        .order_by_asc(Column::NextAttemptAt)
        .limit(limit);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let ids: Vec<Uuid> = query.into_tuple().all(&txn).await?;
    if ids.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(token.as_str()))
        .col_expr(Column::LeaseExpiresAt, Expr::value(until))
        .filter(Column::Id.is_in(ids.clone()))
        .filter(claimable())
        .exec(&txn)
        .await?;
    // Only what this update took: another dispatcher may have won some rows.
    let claimed = Entity::find()
        .filter(Column::Id.is_in(ids))
        .filter(Column::LeaseOwner.eq(token.as_str()))
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(claimed)
}

/// Gives back claimed deliveries without attempting them (their host is
/// busy): the claims of `ids` that still hold the lease token `token` (one
/// claim's rows share it) release it, and the deliveries are due again at
/// `until`. Counts no attempt.
pub async fn defer(
    db: &DatabaseConnection,
    ids: Vec<Uuid>,
    token: &str,
    until: DateTime<Utc>,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(Column::NextAttemptAt, Expr::value(Some(until)))
        .filter(Column::Id.is_in(ids))
        .filter(Column::LeaseOwner.eq(token))
        .exec(db)
        .await?;
    Ok(())
}

/// What an attempt decided for its delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed,
}

impl Next {
    /// The attempt's outcome as recorded and counted.
    pub fn outcome(&self) -> AttemptOutcome {
        match self {
            Next::Succeeded => AttemptOutcome::Succeeded,
            Next::RetryAt(_) => AttemptOutcome::Retry,
            Next::Failed => AttemptOutcome::Failed,
        }
    }

    /// The delivery's status after the attempt, and when it is due again.
    fn moved(&self) -> (DeliveryStatus, Option<DateTime<Utc>>) {
        match self {
            Next::Succeeded => (DeliveryStatus::Succeeded, None),
            Next::RetryAt(at) => (DeliveryStatus::Pending, Some(*at)),
            Next::Failed => (DeliveryStatus::Failed, None),
        }
    }
}

/// One attempt's record.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// Records attempts by `worker` and moves their deliveries on, releasing
/// the leases, in one transaction (one commit, so one flush of the log, for
/// all of them). Returns, in order, whether each claim (the token in
/// `delivery.lease_owner`) still held the lease: when it did not, the
/// attempt is still recorded and the delivery's state is left to whoever
/// holds it now.
pub async fn record_attempts(
    db: &DatabaseConnection,
    worker: &str,
    attempts: Vec<(&Model, Attempt, Next)>,
) -> Result<Vec<bool>, DbErr> {
    let now = Utc::now().trunc_subsecs(3);
    let txn = db.begin().await?;
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let held = record_attempts_postgres(&txn, worker, attempts, now).await?;
        txn.commit().await?;
        return Ok(held);
    }
    let mut held = Vec::with_capacity(attempts.len());
    let mut rows = Vec::with_capacity(attempts.len());
    for (delivery, attempt, next) in attempts {
        let (status, next_at) = next.moved();
        let number = delivery.attempts + 1;
        let updated = Entity::update_many()
            .col_expr(Column::Status, Expr::value(status))
            .col_expr(Column::Attempts, Expr::value(number))
            .col_expr(
                Column::ScheduleAttempts,
                Expr::value(delivery.schedule_attempts + 1),
            )
            .col_expr(Column::NextAttemptAt, Expr::value(next_at))
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(
                Column::LeaseExpiresAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(Column::LastError, Expr::value(attempt.error.clone()))
            .col_expr(
                Column::LastStatus,
                Expr::value(attempt.response_status.map(i32::from)),
            )
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Id.eq(delivery.id))
            .filter(Column::LeaseOwner.eq(delivery.lease_owner.clone()))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        held.push(updated);
        rows.push(attempt_row(delivery, &attempt, &next, worker));
    }
    if !rows.is_empty() {
        delivery_attempt::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(held)
}

/// The `delivery_attempts` row of one attempt (its number: the delivery's
/// attempts so far, plus one).
fn attempt_row(
    delivery: &Model,
    attempt: &Attempt,
    next: &Next,
    worker: &str,
) -> delivery_attempt::ActiveModel {
    delivery_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(delivery.id),
        attempt: Set(delivery.attempts + 1),
        started_at: Set(attempt.started_at),
        duration_ms: Set(i64::try_from(attempt.duration.as_millis()).unwrap_or(i64::MAX)),
        outcome: Set(next.outcome()),
        response_status: Set(attempt.response_status.map(i32::from)),
        response_body: Set(attempt.response_body.clone()),
        error: Set(attempt.error.clone()),
        worker: Set(worker.into()),
    }
}

/// Moves every delivery on in one `UPDATE … FROM UNNEST(…)` (each only
/// while its claim holds the lease) and inserts every attempt in one
/// statement.
async fn record_attempts_postgres(
    txn: &impl ConnectionTrait,
    worker: &str,
    attempts: Vec<(&Model, Attempt, Next)>,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, DbErr> {
    const MOVE: &str = r#"
        UPDATE deliveries AS d SET
            status = u.status,
            attempts = u.attempts,
            schedule_attempts = u.schedule_attempts,
            next_attempt_at = CASE WHEN u.has_next THEN u.next_at END,
            lease_owner = NULL,
            lease_expires_at = NULL,
            last_error = CASE WHEN u.has_error THEN u.error END,
            last_status = CASE WHEN u.has_status THEN u.status_code END,
            updated_at = $12
        FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int4[], $5::int4[],
            $6::timestamptz[], $7::bool[], $8::text[], $9::bool[], $10::int4[], $11::bool[])
            AS u(id, lease_owner, status, attempts, schedule_attempts, next_at, has_next,
                error, has_error, status_code, has_status)
        WHERE d.id = u.id AND d.lease_owner = u.lease_owner
        RETURNING d.id"#;
    let n = attempts.len();
    let mut ids = Vec::with_capacity(n);
    let mut owners = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut numbers = Vec::with_capacity(n);
    let mut schedule = Vec::with_capacity(n);
    let (mut next_at, mut has_next) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut errors, mut has_error) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut codes, mut has_code) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut rows = Vec::with_capacity(n);
    for (delivery, attempt, next) in &attempts {
        let (status, at) = next.moved();
        let number = delivery.attempts + 1;
        ids.push(delivery.id);
        // A claimed row always has an owner; "" never matches one.
        owners.push(delivery.lease_owner.clone().unwrap_or_default());
        statuses.push(status.as_str().to_owned());
        numbers.push(number);
        schedule.push(delivery.schedule_attempts + 1);
        next_at.push(at.unwrap_or(now));
        has_next.push(at.is_some());
        errors.push(attempt.error.clone().unwrap_or_default());
        has_error.push(attempt.error.is_some());
        codes.push(attempt.response_status.map(i32::from).unwrap_or(0));
        has_code.push(attempt.response_status.is_some());
        rows.push(attempt_row(delivery, attempt, next, worker));
    }
    let values: Vec<sea_orm::Value> = vec![
        ids.clone().into(),
        owners.into(),
        statuses.into(),
        numbers.into(),
        schedule.into(),
        next_at.into(),
        has_next.into(),
        errors.into(),
        has_error.into(),
        codes.into(),
        has_code.into(),
        now.into(),
    ];
    let moved: std::collections::HashSet<Uuid> = txn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            MOVE,
            values,
        ))
        .await?
        .into_iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect::<Result<_, _>>()?;
    if !rows.is_empty() {
        delivery_attempt::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(ids.iter().map(|id| moved.contains(id)).collect())
}

/// Who asks for a redelivery, and so which deliveries they may name.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// A client, through the API: only its own, on the named validation.
    Client { client: &'a str, validation: Uuid },
    /// An operator, through `bvctl`: any delivery.
    Operator,
}

/// Re-arms a delivery for an immediate attempt with a fresh retry schedule:
/// the one write path of a redelivery (the worker's redeliver command and
/// `bvctl deliveries redeliver`). Returns the delivery as it is now, or
/// `None` when `scope` has no such delivery.
pub async fn redeliver(
    db: &impl ConnectionTrait,
    scope: Scope<'_>,
    id: Uuid,
) -> Result<Option<DeliveryView>, DbErr> {
    let mut query = Entity::find_by_id(id);
    if let Scope::Client { client, validation } = scope {
        query = query
            .filter(Column::Client.eq(client))
            .filter(Column::ValidationId.eq(validation));
    }
    let Some(found) = query.one(db).await? else {
        return Ok(None);
    };
    let now = Utc::now().trunc_subsecs(3);
    let mut active = found.into_active_model();
    active.status = Set(DeliveryStatus::Pending);
    active.schedule_started_at = Set(now);
    active.schedule_attempts = Set(0);
    active.next_attempt_at = Set(Some(now));
    // An attempt in flight loses its lease: its result no longer moves the
    // delivery, which is sent again as asked.
    active.lease_owner = Set(None);
    active.lease_expires_at = Set(None);
    active.updated_at = Set(now);
    let row = active.update(db).await?;
    announce_due(db).await?;
    let attempts = attempts_of(db, row.id).await?;
    Ok(Some(to_view(&row, &attempts)))
}

/// The PostgreSQL channel on which a re-armed delivery is announced, so a
/// dispatcher in any process (not only the one that wrote it) sends it now.
const DUE_CHANNEL: &str = "bv_delivery_due";

/// Tells every listening dispatcher that a delivery is due now (PostgreSQL
/// `NOTIFY`; on SQLite there is one process, which wakes itself).
async fn announce_due(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("NOTIFY {DUE_CHANNEL}"))
            .await?;
    }
    Ok(())
}

/// A dispatcher's ear for [`announce_due`]: a connection of its own that
/// `LISTEN`s on the channel.
pub struct DueListener(sea_orm::sqlx::postgres::PgListener);

impl DueListener {
    /// Listens on the database at `url`; `None` for SQLite.
    pub async fn connect(url: &str) -> Result<Option<Self>, DbErr> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Ok(None);
        }
        let to_db = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("LISTEN {DUE_CHANNEL}: {e}"));
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect(url)
            .await
            .map_err(to_db)?;
        listener.listen(DUE_CHANNEL).await.map_err(to_db)?;
        Ok(Some(DueListener(listener)))
    }

    /// Waits for the next announcement.
    pub async fn next(&mut self) -> Result<(), DbErr> {
        self.0
            .recv()
            .await
            .map(|_| ())
            .map_err(|e| DbErr::Custom(format!("LISTEN {DUE_CHANNEL}: {e}")))
    }
}

/// A validation's deliveries with their attempts, oldest first.
pub async fn for_validation(
    db: &impl ConnectionTrait,
    client: &str,
    validation_id: Uuid,
) -> Result<Vec<(Model, Vec<delivery_attempt::Model>)>, DbErr> {
    let rows = Entity::find()
        .filter(Column::Client.eq(client))
        .filter(Column::ValidationId.eq(validation_id))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Channel)
        .all(db)
        .await?;
    with_attempts(db, rows).await
}

/// Deliveries across all clients, newest first (bvctl).
pub async fn list(
    db: &impl ConnectionTrait,
    status: Option<DeliveryStatus>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    let mut query = Entity::find().order_by_desc(Column::CreatedAt).limit(limit);
    if let Some(status) = status {
        query = query.filter(Column::Status.eq(status));
    }
    query.all(db).await
}

pub async fn attempts_of(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Vec<delivery_attempt::Model>, DbErr> {
    delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.eq(id))
        .order_by_asc(delivery_attempt::Column::Attempt)
        .all(db)
        .await
}

async fn with_attempts(
    db: &impl ConnectionTrait,
    rows: Vec<Model>,
) -> Result<Vec<(Model, Vec<delivery_attempt::Model>)>, DbErr> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let attempts = attempts_of(db, row.id).await?;
        out.push((row, attempts));
    }
    Ok(out)
}

/// Pending deliveries: the backlog.
pub async fn backlog(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::Status.eq(DeliveryStatus::Pending))
        .count(db)
        .await
}

/// When a pending delivery next becomes claimable: the earliest due time of
/// unleased rows, or lease expiry of leased ones.
pub async fn next_claimable(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let due: Option<Option<DateTime<Utc>>> = Entity::find()
        .select_only()
        .column(Column::NextAttemptAt)
        .filter(Column::Status.eq(DeliveryStatus::Pending))
        .filter(unleased(now))
        .order_by_asc(Column::NextAttemptAt)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let lease_ends: Option<Option<DateTime<Utc>>> = Entity::find()
        .select_only()
        .column(Column::LeaseExpiresAt)
        .filter(Column::Status.eq(DeliveryStatus::Pending))
        .filter(Column::LeaseExpiresAt.gte(now))
        .order_by_asc(Column::LeaseExpiresAt)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok([due.flatten(), lease_ends.flatten()]
        .into_iter()
        .flatten()
        .min())
}

/// A delivery and its attempts as the API and bvctl show them.
pub fn to_view(d: &Model, attempts: &[delivery_attempt::Model]) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        validation: d.validation_id.to_string(),
        channel: d.channel,
        target: d.target.clone(),
        event_type: d.event_type,
        webhook_id: (d.channel == Channel::Webhook).then(|| webhook_id(d.id)),
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.map(format_timestamp),
        last_error: d.last_error.clone(),
        last_status: d.last_status,
        created_at: format_timestamp(d.created_at),
        updated_at: format_timestamp(d.updated_at),
        history: attempts
            .iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                started_at: format_timestamp(a.started_at),
                duration_ms: a.duration_ms,
                outcome: a.outcome,
                response_status: a.response_status,
                error: a.error.clone(),
            })
            .collect(),
    }
}

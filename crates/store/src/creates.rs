//! Storing a batch of new validations with their outbox rows in one
//! PostgreSQL statement, whatever the batch's size: one round trip, one
//! prepared statement (the same text every time), one implicit transaction.
//!
//! Each column travels as one array (`UNNEST($1::uuid[], …)`), through
//! sea-orm's raw statement API. sea-orm cannot bind a NULL inside an array,
//! so a nullable column is two arrays: the values (anything where absent)
//! and whether each is present; the statement puts NULL where it is not.
//!
//! The caller decided which commands to accept from projects and flows it
//! had read earlier (a cache). The statement checks, in the same snapshot
//! as the insert, that each of them is still as it was read (client,
//! status, default webhook; project, status, type); if any is not, it
//! inserts nothing and says so: a decision is never taken on stale data.
//! `ON CONFLICT (id) DO NOTHING` leaves an already stored validation (a
//! redelivery) alone, and its outbox rows are not written: they are joined
//! to the ids actually inserted. The outbox rows reference their validation
//! by foreign key; PostgreSQL checks it at the end of the statement, when
//! both are in.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use uuid::Uuid;

use crate::entity::{biometric_validation, delivery, project, project_flow};

const INSERT_CREATES: &str = r#"
WITH stale AS (
    SELECT 1
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[])
        AS c(id, client, status, webhook_url, has_webhook_url)
    LEFT JOIN projects p ON p.id = c.id
    WHERE p.id IS NULL OR p.client <> c.client OR p.status <> c.status
       OR p.webhook_url IS DISTINCT FROM (CASE WHEN c.has_webhook_url THEN c.webhook_url END)
    UNION ALL
    SELECT 1
    FROM UNNEST($6::text[], $7::text[], $8::text[], $9::text[]) AS c(id, project, status, type)
    LEFT JOIN project_flows f ON f.id = c.id
    WHERE f.id IS NULL OR f.project <> c.project OR f.status <> c.status OR f.type <> c.type
    LIMIT 1
), inserted AS (
    INSERT INTO biometric_validations (id, client, project, project_flow, status, identifier,
        type, expires_at, redirect_url, webhook_url, requires_2fa, ip_address, send_via_email,
        email, language, request_hash, attempts, created_at, updated_at)
    SELECT v.id, v.client, v.project, v.project_flow, v.status, v.identifier, v.type,
        CASE WHEN v.has_expires_at THEN v.expires_at END,
        CASE WHEN v.has_redirect_url THEN v.redirect_url END,
        CASE WHEN v.has_webhook_url THEN v.webhook_url END,
        v.requires_2fa,
        CASE WHEN v.has_ip_address THEN v.ip_address END,
        v.send_via_email,
        CASE WHEN v.has_email THEN v.email END,
        v.language, v.request_hash, v.attempts, v.created_at, v.updated_at
    FROM UNNEST($10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
        $16::text[], $17::timestamptz[], $18::bool[], $19::text[], $20::bool[], $21::text[],
        $22::bool[], $23::bool[], $24::text[], $25::bool[], $26::bool[], $27::text[],
        $28::bool[], $29::text[], $30::text[], $31::int4[], $32::timestamptz[],
        $33::timestamptz[])
        AS v(id, client, project, project_flow, status, identifier, type, expires_at,
            has_expires_at, redirect_url, has_redirect_url, webhook_url, has_webhook_url,
            requires_2fa, ip_address, has_ip_address, send_via_email, email, has_email,
            language, request_hash, attempts, created_at, updated_at)
    WHERE NOT EXISTS (SELECT 1 FROM stale)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), outbox AS (
    INSERT INTO deliveries (id, validation_id, client, project, channel, target, event_type,
        payload, language, status, attempts, schedule_started_at, schedule_attempts,
        next_attempt_at, trace_parent, created_at, updated_at)
    SELECT d.id, d.validation_id, d.client, d.project, d.channel, d.target, d.event_type,
        d.payload, d.language, d.status, d.attempts, d.schedule_started_at, d.schedule_attempts,
        CASE WHEN d.has_next_attempt_at THEN d.next_attempt_at END,
        CASE WHEN d.has_trace_parent THEN d.trace_parent END,
        d.created_at, d.updated_at
    FROM UNNEST($34::uuid[], $35::uuid[], $36::text[], $37::text[], $38::text[], $39::text[],
        $40::text[], $41::text[], $42::text[], $43::text[], $44::int4[], $45::timestamptz[],
        $46::int4[], $47::timestamptz[], $48::bool[], $49::text[], $50::bool[],
        $51::timestamptz[], $52::timestamptz[])
        AS d(id, validation_id, client, project, channel, target, event_type, payload,
            language, status, attempts, schedule_started_at, schedule_attempts,
            next_attempt_at, has_next_attempt_at, trace_parent, has_trace_parent,
            created_at, updated_at)
    JOIN inserted ON inserted.id = d.validation_id
)
SELECT id, false AS stale FROM inserted
UNION ALL
SELECT NULL::uuid, true FROM stale
"#;

/// What the statement did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// These ids were inserted (with their outbox rows); the others of the
    /// batch were already stored.
    Inserted(HashSet<Uuid>),
    /// A project or flow was no longer as read: nothing was written.
    Stale,
}

/// Inserts `validations` and, for those inserted, their `outbox` rows, if
/// every one of `projects` and `flows` is still as given. PostgreSQL only.
/// The validations are new (no person, no decided attempt yet) and the
/// outbox rows too (no lease, no error yet): those columns are left NULL.
pub async fn insert(
    db: &impl ConnectionTrait,
    projects: &[&project::Model],
    flows: &[&project_flow::Model],
    validations: &[biometric_validation::Model],
    outbox: &[delivery::Model],
) -> Result<Stored, DbErr> {
    debug_assert!(validations.iter().all(|v| v.person_id.is_none()
        && v.person_enrolled.is_none()
        && v.decided_attempt.is_none()));
    debug_assert!(outbox.iter().all(|d| d.lease_owner.is_none()
        && d.lease_expires_at.is_none()
        && d.last_error.is_none()
        && d.last_status.is_none()));
    let mut values: Vec<Value> = Vec::with_capacity(52);

    values.push(texts(projects.iter().map(|p| p.id.as_str())));
    values.push(texts(projects.iter().map(|p| p.client.as_str())));
    values.push(texts(projects.iter().map(|p| p.status.as_str())));
    values.extend(nullable_texts(
        projects.iter().map(|p| p.webhook_url.as_deref()),
    ));
    values.push(texts(flows.iter().map(|f| f.id.as_str())));
    values.push(texts(flows.iter().map(|f| f.project.as_str())));
    values.push(texts(flows.iter().map(|f| f.status.as_str())));
    values.push(texts(flows.iter().map(|f| f.kind.as_str())));

    let v = validations;
    values.push(v.iter().map(|v| v.id).collect::<Vec<Uuid>>().into());
    values.push(texts(v.iter().map(|v| v.client.as_str())));
    values.push(texts(v.iter().map(|v| v.project.as_str())));
    values.push(texts(v.iter().map(|v| v.project_flow.as_str())));
    values.push(texts(v.iter().map(|v| v.status.as_str())));
    values.push(texts(v.iter().map(|v| v.identifier.as_str())));
    values.push(texts(v.iter().map(|v| v.kind.as_str())));
    values.extend(nullable_times(v.iter().map(|v| v.expires_at)));
    values.extend(nullable_texts(v.iter().map(|v| v.redirect_url.as_deref())));
    values.extend(nullable_texts(v.iter().map(|v| v.webhook_url.as_deref())));
    values.push(
        v.iter()
            .map(|v| v.requires_2fa)
            .collect::<Vec<bool>>()
            .into(),
    );
    values.extend(nullable_texts(v.iter().map(|v| v.ip_address.as_deref())));
    values.push(
        v.iter()
            .map(|v| v.send_via_email)
            .collect::<Vec<bool>>()
            .into(),
    );
    values.extend(nullable_texts(v.iter().map(|v| v.email.as_deref())));
    values.push(texts(v.iter().map(|v| v.language.as_str())));
    values.push(texts(v.iter().map(|v| v.request_hash.as_str())));
    values.push(v.iter().map(|v| v.attempts).collect::<Vec<i32>>().into());
    values.push(times(v.iter().map(|v| v.created_at)));
    values.push(times(v.iter().map(|v| v.updated_at)));

    let d = outbox;
    values.push(d.iter().map(|d| d.id).collect::<Vec<Uuid>>().into());
    values.push(
        d.iter()
            .map(|d| d.validation_id)
            .collect::<Vec<Uuid>>()
            .into(),
    );
    values.push(texts(d.iter().map(|d| d.client.as_str())));
    values.push(texts(d.iter().map(|d| d.project.as_str())));
    values.push(texts(d.iter().map(|d| d.channel.as_str())));
    values.push(texts(d.iter().map(|d| d.target.as_str())));
    values.push(texts(d.iter().map(|d| d.event_type.as_str())));
    values.push(texts(d.iter().map(|d| d.payload.as_str())));
    values.push(texts(d.iter().map(|d| d.language.as_str())));
    values.push(texts(d.iter().map(|d| d.status.as_str())));
    values.push(d.iter().map(|d| d.attempts).collect::<Vec<i32>>().into());
    values.push(times(d.iter().map(|d| d.schedule_started_at)));
    values.push(
        d.iter()
            .map(|d| d.schedule_attempts)
            .collect::<Vec<i32>>()
            .into(),
    );
    values.extend(nullable_times(d.iter().map(|d| d.next_attempt_at)));
    values.extend(nullable_texts(d.iter().map(|d| d.trace_parent.as_deref())));
    values.push(times(d.iter().map(|d| d.created_at)));
    values.push(times(d.iter().map(|d| d.updated_at)));

    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            INSERT_CREATES,
            values,
        ))
        .await?;
    let mut inserted = HashSet::with_capacity(rows.len());
    for row in rows {
        if row.try_get::<bool>("", "stale")? {
            return Ok(Stored::Stale);
        }
        if let Some(id) = row.try_get::<Option<Uuid>>("", "id")? {
            inserted.insert(id);
        }
    }
    Ok(Stored::Inserted(inserted))
}

fn texts<'a>(values: impl Iterator<Item = &'a str>) -> Value {
    values.map(str::to_owned).collect::<Vec<String>>().into()
}

fn times(values: impl Iterator<Item = DateTime<Utc>>) -> Value {
    values.collect::<Vec<DateTime<Utc>>>().into()
}

/// A nullable text column: the values ("" where absent) and their presence.
fn nullable_texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> [Value; 2] {
    let (texts, present): (Vec<String>, Vec<bool>) = values
        .map(|v| (v.unwrap_or_default().to_owned(), v.is_some()))
        .unzip();
    [texts.into(), present.into()]
}

/// A nullable timestamp column: the values (any where absent) and their presence.
fn nullable_times(values: impl Iterator<Item = Option<DateTime<Utc>>>) -> [Value; 2] {
    let (times, present): (Vec<DateTime<Utc>>, Vec<bool>) =
        values.map(|v| (v.unwrap_or_default(), v.is_some())).unzip();
    [times.into(), present.into()]
}

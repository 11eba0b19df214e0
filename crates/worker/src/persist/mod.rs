//! Persisting a batch of create commands, atomically.
//!
//! For each command: a validation already stored under the same id is a
//! redelivery (answered with the stored row when the request fingerprint
//! matches, `IDEMPOTENCY_KEY_REUSED` when it does not); otherwise the database
//! rules are checked (project and flow exist, belong to the client, are active,
//! and the flow's type fits) and the row is inserted. Everything the batch
//! writes commits together, so the caller acks only what is durable. The
//! notifications a new validation needs (outbox rows) are written in the
//! same transaction; a redelivered command writes none.
//!
//! Two ways to do it, with the same outcomes: on PostgreSQL, one statement
//! per batch ([`postgres`]) checking commands against projects and flows
//! from a cache ([`crate::references`]) that the statement itself verifies;
//! elsewhere (SQLite), and on PostgreSQL for the rare batches that the fast
//! path leaves (a command the rules refuse, an id twice in one batch, a
//! project or flow that changed under the cache), one transaction that
//! reads what it needs first ([`portable`]).

mod portable;
mod postgres;

use std::borrow::Borrow;
use std::collections::HashMap;

use bv_contract::{ApiError, CreateCommand, FlowStatus, ProjectStatus, ValidationStatus};
use bv_store::entity::{biometric_validation, project, project_flow};
use bv_store::sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};
use chrono::{DateTime, Utc};

pub use crate::incoming::Incoming;
use crate::references::References;

/// What became of one command.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Inserted now.
    Created(biometric_validation::Model),
    /// Already stored by an earlier delivery; nothing written.
    Replayed(biometric_validation::Model),
    /// Fails a database rule; nothing written.
    Rejected(ApiError),
    /// The database refused to store it (a fault, not the client's): the
    /// detail is for the log and the dead letter, never for the client.
    Failed(String),
}

/// Persists `items` atomically and says what became of each, in order.
pub async fn persist_batch<I: Borrow<Incoming> + Sync>(
    db: &DatabaseConnection,
    references: &References,
    items: &[I],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres
        && let Some(outcomes) = postgres::persist(db, references, items, now).await?
    {
        return Ok(outcomes);
    }
    portable::persist(db, references, items, now).await
}

/// Like [`persist_batch`], but when the database refuses the batch (rather
/// than being unreachable) the commands are persisted one by one, so one
/// command the database cannot store fails alone (rejected with the reason,
/// then dead-lettered) instead of holding back the others. When every one of
/// them fails too, or the database becomes unreachable, the error is returned
/// and the caller retries the batch: the database is at fault, not the
/// commands (those already committed are then seen as redeliveries).
pub async fn persist_cached<I: Borrow<Incoming> + Sync>(
    db: &DatabaseConnection,
    references: &References,
    items: &[I],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    let err = match persist_batch(db, references, items, now).await {
        Ok(outcomes) => return Ok(outcomes),
        Err(err) => err,
    };
    if items.len() < 2 || !bv_store::refused_by_database(&err) {
        return Err(err);
    }
    let mut outcomes = Vec::with_capacity(items.len());
    let mut stored = 0;
    for item in items {
        let item = item.borrow();
        match persist_batch(db, references, std::slice::from_ref(item), now).await {
            Ok(one) => {
                stored += 1;
                outcomes.extend(one);
            }
            Err(e) if bv_store::refused_by_database(&e) => {
                tracing::error!(id = %item.id, error = %e, "the database refused a command");
                outcomes.push(Outcome::Failed(format!(
                    "the database refused to store the command: {e}"
                )));
            }
            Err(_) => return Err(err),
        }
    }
    if stored == 0 { Err(err) } else { Ok(outcomes) }
}

/// [`persist_cached`] without a cache kept between calls.
pub async fn persist_isolating<I: Borrow<Incoming> + Sync>(
    db: &DatabaseConnection,
    items: &[I],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    persist_cached(db, &References::default(), items, now).await
}

/// The database rules: the project is the client's and active; the flow is
/// the project's, active, and of a type that fits the request.
fn check_references<'a>(
    command: &CreateCommand,
    projects: &'a HashMap<String, project::Model>,
    flows: &HashMap<String, project_flow::Model>,
) -> Result<&'a project::Model, ApiError> {
    let request = &command.request;
    let project = projects
        .get(&request.project)
        .filter(|p| p.client == command.client)
        .ok_or_else(ApiError::invalid_project)?;
    if project.status != ProjectStatus::Active {
        return Err(ApiError::invalid_project());
    }
    let flow = flows
        .get(&request.project_flow)
        .filter(|f| f.project == project.id)
        .ok_or_else(|| ApiError::invalid_project_flow("no such flow in this project"))?;
    if flow.status != FlowStatus::Active {
        return Err(ApiError::invalid_project_flow(&format!(
            "the flow is {}, not active",
            flow.status
        )));
    }
    if !request.kind.fits_flow(flow.kind) {
        return Err(ApiError::invalid_project_flow(&format!(
            "a `{}` request cannot use a `{}` flow",
            request.kind.as_str(),
            flow.kind
        )));
    }
    Ok(project)
}

fn new_model(item: &Incoming, now: DateTime<Utc>) -> biometric_validation::Model {
    let r = &item.command.request;
    // A command that expired while queued is stored, as `expired`.
    let status = if ValidationStatus::New.is_expired_at(r.expires_at, now) {
        ValidationStatus::Expired
    } else {
        ValidationStatus::New
    };
    biometric_validation::Model {
        id: item.id,
        client: item.command.client.clone(),
        project: r.project.clone(),
        project_flow: r.project_flow.clone(),
        status,
        identifier: r.identifier.clone(),
        kind: r.kind,
        expires_at: r.expires_at,
        redirect_url: r.redirect_url.as_ref().map(|u| u.to_string()),
        webhook_url: r.webhook_url.as_ref().map(|u| u.to_string()),
        requires_2fa: r.requires_2fa,
        ip_address: r.ip_address.map(|ip| ip.to_string()),
        send_via_email: r.send_via_email,
        email: r.email.clone(),
        language: r.language,
        request_hash: item.fingerprint.clone(),
        attempts: 0,
        person_id: None,
        person_enrolled: None,
        decided_attempt: None,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bv_contract::{ErrorCode, FlowType};
    use serde_json::json;

    fn project(id: &str, client: &str, status: ProjectStatus) -> project::Model {
        let now = Utc::now();
        project::Model {
            id: id.into(),
            client: client.into(),
            name: id.into(),
            status,
            webhook_url: None,
            webhook_secret: "whsec_c2VjcmV0".into(),
            previous_webhook_secret: None,
            previous_secret_expires_at: None,
            engine: bv_contract::EngineKind::Sandbox,
            keep_images_days: None,
            embed_origins: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn flow(id: &str, project: &str, kind: FlowType, status: FlowStatus) -> project_flow::Model {
        let now = Utc::now();
        project_flow::Model {
            id: id.into(),
            project: project.into(),
            kind,
            status,
            name: None,
            liveness: bv_contract::LivenessMode::Active,
            match_threshold: None,
            max_attempts: 3,
            created_at: now,
            updated_at: now,
        }
    }

    fn command(client: &str, project: &str, flow: &str, kind: &str) -> CreateCommand {
        let body = json!({"client": client, "project": project, "projectFlow": flow,
                          "identifier": "i", "type": kind});
        CreateCommand::decode(
            &serde_json::to_vec(&body).unwrap(),
            bv_contract::request::Expiry::AnyTime,
        )
        .unwrap()
    }

    /// The world the rules are checked against: c1 owns an active project
    /// `p` (flows: active login `fl`, active onboarding `fo`, paused login
    /// `fp`) and an inactive project `pi` (active login `fi`); c2 owns `q`
    /// (active login `fq`).
    fn world() -> (
        HashMap<String, project::Model>,
        HashMap<String, project_flow::Model>,
    ) {
        let projects = [
            project("p", "c1", ProjectStatus::Active),
            project("pi", "c1", ProjectStatus::Inactive),
            project("q", "c2", ProjectStatus::Active),
        ];
        let flows = [
            flow("fl", "p", FlowType::Login, FlowStatus::Active),
            flow("fo", "p", FlowType::Onboarding, FlowStatus::Active),
            flow("fp", "p", FlowType::Login, FlowStatus::Paused),
            flow("fi", "pi", FlowType::Login, FlowStatus::Active),
            flow("fq", "q", FlowType::Login, FlowStatus::Active),
        ];
        (
            projects.into_iter().map(|p| (p.id.clone(), p)).collect(),
            flows.into_iter().map(|f| (f.id.clone(), f)).collect(),
        )
    }

    fn check(client: &str, project: &str, flow: &str, kind: &str) -> Result<String, ErrorCode> {
        let (projects, flows) = world();
        check_references(&command(client, project, flow, kind), &projects, &flows)
            .map(|p| p.id.clone())
            .map_err(|e| e.code)
    }

    #[test]
    fn the_project_must_exist_be_the_clients_and_be_active() {
        assert_eq!(check("c1", "p", "fl", "login"), Ok("p".into()));
        assert_eq!(
            check("c1", "nope", "fl", "login"),
            Err(ErrorCode::InvalidProject)
        );
        assert_eq!(
            check("c2", "p", "fl", "login"),
            Err(ErrorCode::InvalidProject)
        );
        assert_eq!(
            check("c1", "pi", "fi", "login"),
            Err(ErrorCode::InvalidProject)
        );
    }

    #[test]
    fn the_flow_must_be_the_projects_active_and_fit_the_type() {
        let flow_err = Err(ErrorCode::InvalidProjectFlow);
        assert_eq!(check("c1", "p", "nope", "login"), flow_err);
        assert_eq!(
            check("c1", "p", "fq", "login"),
            flow_err,
            "another project's flow"
        );
        assert_eq!(check("c1", "p", "fp", "login"), flow_err, "a paused flow");
        assert_eq!(
            check("c1", "p", "fo", "login"),
            flow_err,
            "login needs a login flow"
        );
        assert_eq!(check("c1", "p", "fl", "onboarding"), flow_err);
        assert_eq!(check("c1", "p", "fo", "onboarding"), Ok("p".into()));
        for either in ["validation", "oneTimeLink"] {
            assert_eq!(check("c1", "p", "fl", either), Ok("p".into()));
            assert_eq!(check("c1", "p", "fo", either), Ok("p".into()));
        }
    }
}

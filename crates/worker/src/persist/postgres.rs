//! The fast way on PostgreSQL: one statement per batch
//! ([`bv_store::creates::insert`]), the commands checked against cached
//! projects and flows that the statement verifies are unchanged. It takes
//! the batches where every command passes the rules; the others (a refusal
//! must be decided on fresh data, after the already-stored check) go the
//! portable way, as does a batch whose cache turned out stale twice.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

use bv_contract::idempotency;
use bv_store::creates::Stored;
use bv_store::entity::{biometric_validation, project, project_flow};
use bv_store::sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TryIntoModel,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Incoming, Outcome, check_references, new_model};
use crate::references::References;

/// The outcomes, or `None` when this batch is for the portable way.
pub(super) async fn persist<I: Borrow<Incoming> + Sync>(
    db: &DatabaseConnection,
    references: &References,
    items: &[I],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Outcome>>, DbErr> {
    // The same id twice in one batch: a redelivery of itself, the portable way.
    let mut ids = HashSet::with_capacity(items.len());
    if !items.iter().all(|i| ids.insert(i.borrow().id)) {
        return Ok(None);
    }
    let project_ids: HashSet<&str> = items
        .iter()
        .map(|i| i.borrow().command.request.project.as_str())
        .collect();
    let flow_ids: HashSet<&str> = items
        .iter()
        .map(|i| i.borrow().command.request.project_flow.as_str())
        .collect();

    for _ in 0..2 {
        let (projects, flows) = references.get(db, &project_ids, &flow_ids).await?;
        let Some((models, outbox)) = plan(items, &projects, &flows, now) else {
            return Ok(None);
        };
        let projects: Vec<&project::Model> = projects.values().collect();
        let flows: Vec<&project_flow::Model> = flows.values().collect();
        match bv_store::creates::insert(db, &projects, &flows, &models, &outbox).await? {
            Stored::Stale => references.forget(&project_ids, &flow_ids),
            Stored::Inserted(inserted) => {
                return answer(db, items, models, &inserted).await.map(Some);
            }
        }
    }
    Ok(None)
}

/// The rows to insert, when every command passes the rules.
fn plan<I: Borrow<Incoming>>(
    items: &[I],
    projects: &HashMap<String, project::Model>,
    flows: &HashMap<String, project_flow::Model>,
    now: DateTime<Utc>,
) -> Option<(
    Vec<biometric_validation::Model>,
    Vec<bv_store::entity::delivery::Model>,
)> {
    let mut models = Vec::with_capacity(items.len());
    let mut outbox = Vec::new();
    for item in items {
        let item = item.borrow();
        let project = check_references(&item.command, projects, flows).ok()?;
        let model = new_model(item, now);
        for row in bv_store::deliveries::plan(&model, project, || item.trace_parent()) {
            outbox.push(row.try_into_model().ok()?);
        }
        models.push(model);
    }
    Some((models, outbox))
}

/// Created for what was inserted; a replay (or a reused key) for what was
/// already stored.
async fn answer<I: Borrow<Incoming>>(
    db: &DatabaseConnection,
    items: &[I],
    models: Vec<biometric_validation::Model>,
    inserted: &HashSet<Uuid>,
) -> Result<Vec<Outcome>, DbErr> {
    let already: Vec<Uuid> = models
        .iter()
        .filter(|m| !inserted.contains(&m.id))
        .map(|m| m.id)
        .collect();
    let stored: HashMap<Uuid, biometric_validation::Model> = if already.is_empty() {
        HashMap::new()
    } else {
        biometric_validation::Entity::find()
            .filter(biometric_validation::Column::Id.is_in(already))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect()
    };
    Ok(models
        .into_iter()
        .zip(items)
        .map(|(model, item)| {
            if inserted.contains(&model.id) {
                return Outcome::Created(model);
            }
            match stored.get(&model.id) {
                Some(existing) => {
                    match idempotency::replay(&existing.request_hash, &item.borrow().fingerprint) {
                        Ok(()) => Outcome::Replayed(existing.clone()),
                        Err(err) => Outcome::Rejected(err),
                    }
                }
                // Not inserted, yet not there: deleted in between (never done).
                None => Outcome::Failed(format!(
                    "validation {} was neither inserted nor found",
                    model.id
                )),
            }
        })
        .collect())
}

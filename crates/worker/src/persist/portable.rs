//! The portable way to persist a batch: one transaction that reads first
//! (stored ids, projects, flows), then inserts the new validations and their
//! outbox rows. Any database sea-orm speaks; the only way on SQLite.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

use bv_contract::idempotency;
use bv_store::entity::biometric_validation;
use bv_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, TransactionTrait,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Incoming, Outcome, check_references, new_model};
use crate::references::References;

pub(super) async fn persist<I: Borrow<Incoming> + Sync>(
    db: &DatabaseConnection,
    references: &References,
    items: &[I],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>, DbErr> {
    let txn = db.begin().await?;

    let ids: Vec<Uuid> = items.iter().map(|i| i.borrow().id).collect();
    let mut stored: HashMap<Uuid, biometric_validation::Model> =
        biometric_validation::Entity::find()
            .filter(biometric_validation::Column::Id.is_in(ids))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();

    let project_ids: HashSet<&str> = items
        .iter()
        .map(|i| i.borrow().command.request.project.as_str())
        .collect();
    let projects = bv_store::projects::by_ids(&txn, project_ids).await?;
    let flow_ids: HashSet<&str> = items
        .iter()
        .map(|i| i.borrow().command.request.project_flow.as_str())
        .collect();
    let flows = bv_store::flows::by_ids(&txn, flow_ids).await?;
    // What was just read is what the next batches start from.
    references.remember(&projects, &flows);

    let mut outcomes = Vec::with_capacity(items.len());
    let mut inserts = Vec::new();
    let mut outbox = Vec::new();
    for item in items {
        let item = item.borrow();
        if let Some(existing) = stored.get(&item.id) {
            outcomes.push(
                match idempotency::replay(&existing.request_hash, &item.fingerprint) {
                    Ok(()) => Outcome::Replayed(existing.clone()),
                    Err(err) => Outcome::Rejected(err),
                },
            );
            continue;
        }
        let project = match check_references(&item.command, &projects, &flows) {
            Ok(project) => project,
            Err(err) => {
                outcomes.push(Outcome::Rejected(err));
                continue;
            }
        };
        let model = new_model(item, now);
        outbox.extend(bv_store::deliveries::plan(&model, project, || {
            item.trace_parent()
        }));
        // A second copy of the same id later in this batch is a redelivery of this one.
        stored.insert(item.id, model.clone());
        inserts.push(model.clone().into_active_model().reset_all());
        outcomes.push(Outcome::Created(model));
    }

    if !inserts.is_empty() {
        biometric_validation::Entity::insert_many(inserts)
            .exec_without_returning(&txn)
            .await?;
    }
    // The notifications commit with their validation: none lost, none doubled.
    if !outbox.is_empty() {
        bv_store::entity::delivery::Entity::insert_many(outbox)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(outcomes)
}

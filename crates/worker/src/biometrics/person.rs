//! The delete-person command: remove the face template enrolled for a
//! validation's project and identifier (`DELETE …/{id}/person`). The
//! validations that enrolled or matched the person keep its id as history.

use bv_contract::{ApiError, DeletePersonCommand, DeletePersonOutcome, PersonView, Success};
use bv_store::entity::person;
use bv_store::sea_orm::{DbErr, EntityTrait};
use bv_store::{biometrics, bounded};
use lapin::message::Delivery;

use super::decode;
use crate::consumer::Context;

pub async fn handle(ctx: &Context, delivery: &Delivery) -> Result<DeletePersonOutcome, DbErr> {
    let command: DeletePersonCommand = match decode(delivery, "delete-person") {
        Ok(c) => c,
        Err(err) => return Ok(DeletePersonOutcome::Rejected(err)),
    };
    let (db, limit) = (&ctx.db, ctx.db_timeout);
    let read = bv_store::validations::get(db, &command.client, command.validation);
    let Some(validation) = bounded(limit, read).await? else {
        return Ok(DeletePersonOutcome::Rejected(ApiError::not_found()));
    };
    let find = biometrics::person_for(db, &validation.project, &validation.identifier);
    let Some(found) = bounded(limit, find).await? else {
        return Ok(DeletePersonOutcome::Rejected(ApiError::person_not_found()));
    };
    bounded(limit, person::Entity::delete_by_id(found.id).exec(db)).await?;
    tracing::info!(person = %found.id, project = %found.project, "enrolled person deleted on request");
    Ok(DeletePersonOutcome::Deleted(Success::new(PersonView {
        id: found.id,
        enrolled: found.enrolled_by == validation.id,
    })))
}

//! A validation's notifications, for its owning client:
//! `GET /v2/biometric-validations/{id}/deliveries` lists them with their
//! attempts; `POST …/deliveries/{deliveryId}/redeliver` sends one again (a new
//! attempt with the same `webhook-id`). The redelivery is a command to the
//! worker, which owns every write.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bv_contract::amqp::{REDELIVER_MESSAGE_TYPE, REDELIVER_ROUTING_KEY};
use bv_contract::{Accepted, ApiError, DeliveryView, RedeliverCommand, RedeliverOutcome, Success};
use uuid::Uuid;

use crate::answer::{self, Failure, db_unavailable, delivery_not_found};
use crate::auth::Client;
use crate::publisher::{Outgoing, Sent};
use crate::routes::create::{decode_reply, unavailable};
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<Success<Vec<DeliveryView>>>, Failure> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    // The validation must be the caller's: otherwise, not found.
    let read = bv_store::validations::get(&state.db, &client, id);
    bv_store::bounded(state.db_timeout, read)
        .await
        .map_err(db_unavailable)?
        .ok_or_else(ApiError::not_found)?;
    let read = bv_store::deliveries::for_validation(&state.db, &client, id);
    let rows = bv_store::bounded(state.db_timeout, read)
        .await
        .map_err(db_unavailable)?;
    let data = rows
        .iter()
        .map(|(d, attempts)| bv_store::deliveries::to_view(d, attempts))
        .collect();
    Ok(Json(Success::new(data)))
}

pub async fn redeliver(
    State(state): State<AppState>,
    Client(client): Client,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let validation = Uuid::parse_str(&id).map_err(|_| delivery_not_found())?;
    let delivery = Uuid::parse_str(&delivery).map_err(|_| delivery_not_found())?;
    let body = serde_json::to_vec(&RedeliverCommand {
        client,
        validation,
        delivery,
    })
    .map_err(|e| Failure::Internal(format!("cannot encode a redeliver command: {e}")))?;
    let sent = state
        .publisher
        .send(Outgoing {
            routing_key: REDELIVER_ROUTING_KEY,
            message_type: REDELIVER_MESSAGE_TYPE,
            id: Uuid::now_v7(),
            body: body.into(),
            wait: Some(state.settings.reply_timeout),
            published: None,
        })
        .await
        .map_err(unavailable)?;
    match sent {
        Sent::Answered(reply) => Ok(answer::redelivered(decode_reply::<RedeliverOutcome>(
            &reply,
        )?)),
        // The command is queued and will be carried out: say so, not "retry".
        Sent::Queued => Ok((
            StatusCode::ACCEPTED,
            Json(Success::new(Accepted::queued(delivery))),
        )
            .into_response()),
    }
}

//! `POST /v2/biometric-validations`: authenticate, parse, publish, answer.
//!
//! The ingress never writes the database. It assigns the `_id` (UUIDv7, or
//! UUIDv5 of client and `Idempotency-Key`), publishes the command with
//! confirms, and waits (bounded) for the worker's answer: `201` with the
//! seed's body, the worker's error, or `202 Accepted` when the answer is late
//! or `Prefer: respond-async` asked not to wait.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bv_contract::amqp::{CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY};
use bv_contract::request::Expiry;
use bv_contract::{
    Accepted, ApiError, CreateCommand, CreateOutcome, ErrorCode, NewValidation, Success,
    idempotency,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::answer::{self, Failure, db_unavailable};
use crate::auth::Client;
use crate::metrics::CreateResult;
use crate::publisher::{Outgoing, Reply, SendError, Sent};
use crate::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "The request body exceeds {} bytes",
                    state.settings.max_body_bytes
                ),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("Cannot read the request body: {rejection}"),
            )
        }
    })?;
    check_content_type(&headers)?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    let key = idempotency::parse_key(headers.get("idempotency-key").map(|v| v.to_str().ok()))?;
    let id = match &key {
        Some(key) => idempotency::validation_id(&client, key),
        None => Uuid::now_v7(),
    };
    let request = match NewValidation::parse(&value, Expiry::MustBeAfter(chrono::Utc::now())) {
        Ok(request) => request,
        Err(err) => {
            // A retry may arrive after the original's `expiresAt`: like any
            // other retry, it gets the original validation.
            if key.is_some()
                && idempotency::may_be_late_retry(&err)
                && let Some(original) = stored_original(&state, &client, id, &value).await?
            {
                return Ok(original);
            }
            return Err(err.into());
        }
    };
    let command = CreateCommand { client, request };
    let wait = (!prefers_async(&headers)).then_some(state.settings.reply_timeout);

    let sent = state
        .publisher
        .send(Outgoing {
            routing_key: CREATE_ROUTING_KEY,
            message_type: CREATE_MESSAGE_TYPE,
            id,
            body: command.encode().into(),
            wait,
            published: None,
        })
        .await;
    match sent {
        Ok(Sent::Answered(reply)) => {
            let outcome: CreateOutcome = decode_reply(&reply)?;
            state.metrics.create(match outcome {
                CreateOutcome::Created(_) | CreateOutcome::Replayed(_) => CreateResult::Created,
                CreateOutcome::Rejected(_) => CreateResult::Rejected,
            });
            Ok(answer::created(outcome))
        }
        Ok(Sent::Queued) => {
            state.metrics.create(CreateResult::Queued);
            let location = format!("/v2/biometric-validations/{id}");
            let mut response = (
                StatusCode::ACCEPTED,
                Json(Success::new(Accepted::queued(id))),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        Err(err) => {
            state.metrics.create(CreateResult::Unavailable);
            Err(unavailable(err))
        }
    }
}

/// The validation an idempotent request already created, if any: `201` with
/// it when the body is the same, `422` when the key was used for another.
async fn stored_original(
    state: &AppState,
    client: &str,
    id: Uuid,
    body: &Value,
) -> Result<Option<Response>, Failure> {
    let Ok(request) = NewValidation::parse(body, Expiry::AnyTime) else {
        return Ok(None);
    };
    let read = bv_store::validations::get(&state.db, client, id);
    let Some(row) = bv_store::bounded(state.db_timeout, read)
        .await
        .map_err(db_unavailable)?
    else {
        return Ok(None);
    };
    idempotency::replay(
        &row.request_hash,
        &idempotency::fingerprint(client, &request),
    )?;
    let body = Success::new(bv_store::validations::to_api(&row));
    Ok(Some(answer::ok(StatusCode::CREATED, &body)))
}

/// A worker's reply, decoded; one that cannot be is a fault of the service.
pub fn decode_reply<O: DeserializeOwned>(reply: &Reply) -> Result<O, Failure> {
    serde_json::from_slice(&reply.body)
        .map_err(|e| Failure::Internal(format!("undecodable reply from the worker: {e}")))
}

/// The broker would not take a command: `503` with `Retry-After`.
pub fn unavailable(err: SendError) -> Failure {
    tracing::warn!(error = %err, "command not accepted by the broker");
    let reason = match err {
        SendError::NotConnected => "the message broker is unreachable",
        SendError::NotConfirmed(_) => "the message broker did not accept the request",
    };
    ApiError::unavailable(reason).into()
}

pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(()),
        Some(ct)
            if ct
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")) =>
        {
            Ok(())
        }
        Some(ct) => Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!("Content-Type must be application/json, not `{ct}`"),
        )),
    }
}

fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_respond_async_is_found_among_other_preferences() {
        let mut h = HeaderMap::new();
        h.insert(
            "prefer",
            HeaderValue::from_static("return=minimal, respond-async"),
        );
        assert!(prefers_async(&h));
        h.insert("prefer", HeaderValue::from_static("return=minimal"));
        assert!(!prefers_async(&h));
    }

    #[test]
    fn content_type_must_be_json_when_given() {
        let mut h = HeaderMap::new();
        assert!(check_content_type(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_content_type(&h).is_ok());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            check_content_type(&h).unwrap_err().code,
            ErrorCode::InvalidJson
        );
    }
}

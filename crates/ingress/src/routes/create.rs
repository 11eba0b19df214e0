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
use bv_contract::{ApiError, CreateCommand, ErrorCode, NewValidation, ReplyBody};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::Client;
use crate::error::{Failure, db_unavailable};
use crate::publisher::{Outgoing, Reply, SendError, Sent};
use crate::state::AppState;

/// Namespace of ids derived from `Idempotency-Key` (UUIDv5 of `client \n key`).
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_9b1e_4d2a_4c3b_9a8e_b1a7_5e2d_0c41);
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

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
    let key = idempotency_key(&headers)?;
    let id = match &key {
        Some(key) => Uuid::new_v5(
            &IDEMPOTENCY_NAMESPACE,
            format!("{client}\n{key}").as_bytes(),
        ),
        None => Uuid::now_v7(),
    };
    let request = match NewValidation::parse(&value, Expiry::MustBeAfter(chrono::Utc::now())) {
        Ok(request) => request,
        Err(err) => {
            // A retry may arrive after the original's `expiresAt`: like any
            // other retry, it gets the original validation.
            if key.is_some()
                && err.code == ErrorCode::InvalidField
                && err.field.as_deref() == Some("expiresAt")
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
            body: &command.encode(),
            wait,
        })
        .await;
    match sent {
        Ok(Sent::Answered(reply)) => {
            state.metrics.create(if reply.status == 201 {
                "created"
            } else {
                "rejected"
            });
            Ok(json_response(reply))
        }
        Ok(Sent::Queued) => {
            state.metrics.create("queued");
            let location = format!("/v2/biometric-validations/{id}");
            let mut response = (
                StatusCode::ACCEPTED,
                Json(json!({"success": true, "data": {"_id": id.to_string(), "status": "queued"}})),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        Err(err) => {
            state.metrics.create("unavailable");
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
    let Some(row) = bv_store::validations::get(&state.db, client, id)
        .await
        .map_err(db_unavailable)?
    else {
        return Ok(None);
    };
    if row.request_hash != request.fingerprint(client) {
        return Err(ApiError::idempotency_key_reused().into());
    }
    let reply = ReplyBody::created(bv_store::validations::to_api(&row));
    Ok(Some((StatusCode::CREATED, Json(reply)).into_response()))
}

/// A worker's reply as the HTTP response.
pub fn json_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response()
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

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
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

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().ok().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ApiError::new(
            ErrorCode::InvalidParameters,
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(Some(key.to_owned()))
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

//! The end user's side (DESIGN §12), authorised by a validation's session
//! token: its challenge and validate; and for the integrator, deleting an
//! enrolled person and the keys that check signed results.
//!
//! The ingress checks what it can alone (the token, sizes, that each image
//! decodes within its pixel limits) and publishes a command; the worker,
//! which owns every write, decides. Like create, the answer is the worker's
//! when it comes in time, `202` with a `Location` otherwise.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bv_contract::amqp::{
    CHALLENGE_MESSAGE_TYPE, CHALLENGE_ROUTING_KEY, PERSON_DELETE_MESSAGE_TYPE,
    PERSON_DELETE_ROUTING_KEY, VALIDATE_MESSAGE_TYPE, VALIDATE_ROUTING_KEY,
};
use bv_contract::{
    Accepted, ApiError, ChallengeCommand, ChallengeOutcome, DeletePersonCommand,
    DeletePersonOutcome, ErrorCode, Success, ValidateCommand, ValidateOutcome, ValidateRequest,
};
use bv_engine::image::{ImageLimits, decode_base64};
use serde_json::Value;
use uuid::Uuid;

use crate::answer::{self, Failure};
use crate::auth::{Client, Session};
use crate::publisher::{Outgoing, Sent};
use crate::routes::create::{decode_reply, unavailable};
use crate::state::AppState;

/// `GET /v2/biometric-validations/{id}/challenge`: a fresh challenge for
/// the session's own validation (the validation becomes `pending`).
pub async fn challenge(
    State(state): State<AppState>,
    Session(session): Session,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id = own(session, &id)?;
    let body = serde_json::to_vec(&ChallengeCommand { validation: id })
        .map_err(|e| Failure::Internal(format!("cannot encode a challenge command: {e}")))?;
    let sent = send(
        &state,
        CHALLENGE_ROUTING_KEY,
        CHALLENGE_MESSAGE_TYPE,
        Uuid::now_v7(),
        &body,
    )
    .await?;
    match sent {
        Sent::Answered(reply) => Ok(answer::challenged(decode_reply::<ChallengeOutcome>(
            &reply,
        )?)),
        // A challenge the page cannot see is of no use: ask again later.
        Sent::Queued => {
            Err(ApiError::unavailable("the challenge could not be issued in time").into())
        }
    }
}

/// `POST /v2/biometric-validations/validate`: Verifik's `{image, os}`, or a
/// challenge's `{os, challengeId, frames}`, for the session's validation.
pub async fn validate(
    State(state): State<AppState>,
    Session(session): Session,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let limits = &state.biometrics;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "The request body exceeds {} bytes (biometrics.max_request_bytes)",
                    limits.max_request_bytes
                ),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("Cannot read the request body: {rejection}"),
            )
        }
    })?;
    crate::routes::create::check_content_type(&headers)?;
    let request = parse(&body)?;
    let os = request.os;
    let (challenge_id, frames) = request.frames()?;
    // Each image decodes, within its limits, before anything is queued.
    let image_limits = ImageLimits {
        max_bytes: limits.max_image_bytes,
        max_side: limits.max_image_side,
        max_pixels: limits.max_image_pixels,
    };
    let single = frames.len() == 1 && frames[0].step.is_none();
    let check = {
        let images: Vec<String> = frames.iter().map(|f| f.image.clone()).collect();
        move || {
            for (index, image) in images.iter().enumerate() {
                let field = if single {
                    "image".to_owned()
                } else {
                    format!("frames[{index}].image")
                };
                if let Err(err) = decode_base64(image, &image_limits) {
                    return Err(if err.is_too_large() {
                        ApiError::field(
                            ErrorCode::PayloadTooLarge,
                            &field,
                            format!("The image in `{field}` is too large: {err}"),
                        )
                    } else {
                        ApiError::invalid_image(&field, err)
                    });
                }
            }
            Ok(())
        }
    };
    tokio::task::spawn_blocking(check)
        .await
        .map_err(|e| Failure::Internal(format!("the image check stopped: {e}")))??;

    let attempt = Uuid::now_v7();
    let command = ValidateCommand {
        validation: session,
        os,
        challenge_id,
        frames,
    };
    let body = serde_json::to_vec(&command)
        .map_err(|e| Failure::Internal(format!("cannot encode a validate command: {e}")))?;
    drop(command);
    let sent = send(
        &state,
        VALIDATE_ROUTING_KEY,
        VALIDATE_MESSAGE_TYPE,
        attempt,
        &body,
    )
    .await?;
    match sent {
        Sent::Answered(reply) => Ok(answer::validated(decode_reply::<ValidateOutcome>(&reply)?)),
        Sent::Queued => {
            let location = format!("/v2/biometric-validations/{session}");
            let mut response = (
                StatusCode::ACCEPTED,
                Json(Success::new(Accepted::queued(attempt))),
            )
                .into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
    }
}

/// `DELETE /v2/biometric-validations/{id}/person`: removes the face
/// template enrolled for that validation's project and identifier.
pub async fn delete_person(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let validation = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let body = serde_json::to_vec(&DeletePersonCommand { client, validation })
        .map_err(|e| Failure::Internal(format!("cannot encode a delete-person command: {e}")))?;
    let sent = send(
        &state,
        PERSON_DELETE_ROUTING_KEY,
        PERSON_DELETE_MESSAGE_TYPE,
        Uuid::now_v7(),
        &body,
    )
    .await?;
    match sent {
        Sent::Answered(reply) => Ok(answer::person_deleted(decode_reply::<DeletePersonOutcome>(
            &reply,
        )?)),
        Sent::Queued => Ok((
            StatusCode::ACCEPTED,
            Json(Success::new(Accepted::queued(validation))),
        )
            .into_response()),
    }
}

/// `GET /.well-known/jwks.json`: the public keys that check session tokens
/// and signed results (every configured key: rotation keeps old ones here).
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.sessions.keys.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// The path's validation must be the session's own.
fn own(session: Uuid, id: &str) -> Result<Uuid, ApiError> {
    match Uuid::parse_str(id) {
        Ok(id) if id == session => Ok(id),
        _ => Err(ApiError::forbidden(
            "this session token belongs to another biometric validation",
        )),
    }
}

async fn send(
    state: &AppState,
    routing_key: &'static str,
    message_type: &'static str,
    id: Uuid,
    body: &[u8],
) -> Result<Sent, Failure> {
    state
        .publisher
        .send(Outgoing {
            routing_key,
            message_type,
            id,
            body,
            wait: Some(state.settings.reply_timeout),
        })
        .await
        .map_err(unavailable)
}

/// The validate body, with errors that name the field.
fn parse(body: &[u8]) -> Result<ValidateRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("The request body is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(map) = &value else {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "The request body must be a JSON object",
        ));
    };
    const KNOWN: [&str; 4] = ["os", "image", "challengeId", "frames"];
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::field(
            ErrorCode::UnknownField,
            unknown,
            format!(
                "Unknown field `{unknown}`: the body takes `os`, `image`, `challengeId` and `frames`"
            ),
        ));
    }
    match map.get("os") {
        None | Some(Value::Null) => {
            return Err(ApiError::field(
                ErrorCode::MissingField,
                "os",
                format!("`os` is required: {}", bv_contract::Os::expected()),
            ));
        }
        Some(Value::String(os)) if bv_contract::Os::parse(os).is_none() => {
            return Err(ApiError::field(
                ErrorCode::InvalidField,
                "os",
                format!("`os` must be {}", bv_contract::Os::expected()),
            ));
        }
        _ => {}
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        let field = ["challengeId", "frames", "image", "os"]
            .into_iter()
            .find(|f| e.to_string().contains(f))
            .unwrap_or("frames");
        ApiError::field(
            ErrorCode::InvalidField,
            field,
            format!("Invalid `{field}`: {e}"),
        )
    })
}

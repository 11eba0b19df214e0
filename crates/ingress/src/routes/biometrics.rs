//! The end user's side (README, "Completing a validation"), authorised by a
//! validation's session token: its challenge and validate; and for the
//! integrator, deleting an enrolled person and the keys that check signed
//! results.
//!
//! The ingress checks what it can cheaply (the token, the body read into its
//! types within its limits, an open validation and a challenge the frames
//! fit, each image's header and whole stream) and publishes a command; the
//! worker, which owns every write, decodes the pixels and decides. Like create, the answer is the worker's
//! when it comes in time, `202` with a `Location` otherwise.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bv_contract::amqp::{
    CHALLENGE_MESSAGE_TYPE, CHALLENGE_ROUTING_KEY, PERSON_DELETE_MESSAGE_TYPE,
    PERSON_DELETE_ROUTING_KEY, VALIDATE_MESSAGE_TYPE, VALIDATE_ROUTING_KEY,
};
use bv_contract::{
    Accepted, ApiError, ChallengeCommand, ChallengeOutcome, DeletePersonCommand,
    DeletePersonOutcome, ErrorCode, Frame, Success, ValidateCommand, ValidateOutcome,
    ValidateRequest, ValidationStatus, frames_fit,
};
use bv_engine::image::{ImageLimits, inspect_base64};
use uuid::Uuid;

use crate::answer::{self, Failure, db_unavailable};
use crate::auth::{Client, Session};
use crate::limits::ValidateSlot;
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
        body,
        None,
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
///
/// Cheapest first, so that what is refused costs little: the body is read
/// into its types with its limits (no JSON tree), the validation must be
/// open and the frames must fit the challenge they answer (from the
/// database), and only then is each image inspected, one at a time and
/// without decoding its pixels (the worker decodes them).
pub async fn validate(
    State(state): State<AppState>,
    Session(session): Session,
    slot: Option<Extension<ValidateSlot>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, Failure> {
    let limits = &state.biometrics;
    // Read within a deadline: a body sent byte by byte would hold its slot.
    let deadline = state.limits.validate_body_timeout;
    let read = axum::body::to_bytes(body, limits.max_request_bytes);
    let body = tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "The request body did not arrive within {deadline:?} (rate_limits.validate_body_timeout)"
                ),
            )
        })?
        .map_err(|e| {
            let too_long = std::error::Error::source(&e)
                .is_some_and(|cause| cause.to_string().contains("length limit exceeded"))
                || e.to_string().contains("length limit exceeded");
            if too_long {
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
                    format!("Cannot read the request body: {e}"),
                )
            }
        })?;
    crate::routes::create::check_content_type(&headers)?;
    let request = ValidateRequest::parse(&body, limits.max_image_bytes)?;
    drop(body);
    let os = request.os;
    let (challenge_id, frames) = request.frames()?;
    open_for(&state, session, challenge_id, frames.len()).await?;

    let image_limits = ImageLimits {
        max_bytes: limits.max_image_bytes,
        max_side: limits.max_image_side,
        max_pixels: limits.max_image_pixels,
    };
    let (frames, checked) = tokio::task::spawn_blocking(move || {
        let checked = inspect_frames(&frames, &image_limits);
        (frames, checked)
    })
    .await
    .map_err(|e| Failure::Internal(format!("the image check stopped: {e}")))?;
    checked?;

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
    // Published, the request holds no image: its in-flight slot is free
    // for another while this one waits for the worker's answer.
    let release = slot.map(|Extension(slot)| Box::new(move || slot.release()) as Box<_>);
    let sent = send(
        &state,
        VALIDATE_ROUTING_KEY,
        VALIDATE_MESSAGE_TYPE,
        attempt,
        body,
        release,
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

/// The validation takes attempts and the frames fit what they answer: a
/// closed validation, an unknown or used challenge, or a frame count that
/// is not the challenge's is refused before any image is looked at. (The
/// worker checks the same again: it decides.)
async fn open_for(
    state: &AppState,
    session: Uuid,
    challenge_id: Option<Uuid>,
    frames: usize,
) -> Result<(), Failure> {
    use bv_store::sea_orm::EntityTrait;
    let read = bv_store::entity::biometric_validation::Entity::find_by_id(session);
    let validation = bv_store::bounded(state.db_timeout, read.one(&state.db))
        .await
        .map_err(db_unavailable)?
        .ok_or_else(ApiError::not_found)?;
    let now = chrono::Utc::now();
    if validation.status.is_final() {
        return Err(ApiError::closed(validation.status).into());
    }
    if validation.status.is_expired_at(validation.expires_at, now) {
        return Err(ApiError::closed(ValidationStatus::Expired).into());
    }
    let Some(id) = challenge_id else {
        return Ok(());
    };
    let read = bv_store::biometrics::challenge(&state.db, id);
    let challenge = bv_store::bounded(state.db_timeout, read)
        .await
        .map_err(db_unavailable)?
        .filter(|c| c.validation_id == session)
        .ok_or_else(ApiError::challenge_not_found)?;
    if challenge.used_at.is_some() {
        return Err(ApiError::challenge_used().into());
    }
    let steps = bv_store::biometrics::steps(&challenge).len();
    Ok(frames_fit(Some(steps), frames)?)
}

/// Each image's size, format, header and whole stream, one at a time and
/// without decoding pixels; the first that fails names its field.
fn inspect_frames(frames: &[Frame], limits: &ImageLimits) -> Result<(), ApiError> {
    let single = frames.len() == 1 && frames[0].step.is_none();
    for (index, frame) in frames.iter().enumerate() {
        let field = if single {
            "image".to_owned()
        } else {
            format!("frames[{index}].image")
        };
        inspect_one(&frame.image, &field, limits)?;
        for (at, image) in frame.burst.iter().enumerate() {
            inspect_one(image, &format!("frames[{index}].burst[{at}]"), limits)?;
        }
    }
    Ok(())
}

fn inspect_one(image: &str, field: &str, limits: &ImageLimits) -> Result<(), ApiError> {
    inspect_base64(image, limits).map(drop).map_err(|err| {
        if err.is_too_large() {
            ApiError::field(
                ErrorCode::PayloadTooLarge,
                field,
                format!("The image in `{field}` is too large: {err}"),
            )
        } else {
            ApiError::invalid_image(field, err)
        }
    })
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
        body,
        None,
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
    body: Vec<u8>,
    published: Option<Box<dyn FnOnce() + Send + '_>>,
) -> Result<Sent, Failure> {
    state
        .publisher
        .send(Outgoing {
            routing_key,
            message_type,
            id,
            body: body.into(),
            wait: Some(state.settings.reply_timeout),
            published,
        })
        .await
        .map_err(unavailable)
}

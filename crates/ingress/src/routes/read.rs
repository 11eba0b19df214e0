//! `GET /v2/biometric-validations/{id}`: for its client, the validation with
//! its attempts, the person it enrolled or matched, the signed result once
//! decided, and the page's session `token` and `url` while it is open; for
//! the page (its session token), only what the page needs.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bv_contract::{ApiError, BiometricValidation, Success};
use bv_store::biometrics;
use uuid::Uuid;

use crate::answer::{Failure, db_unavailable};
use crate::auth::Caller;
use crate::state::AppState;

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    match caller {
        Caller::Client(client) => {
            // An id that is not a UUID cannot exist: same answer as an unknown one.
            let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
            Ok(Json(Success::new(full_view(&state, &client, id).await?)).into_response())
        }
        Caller::Session(session) => {
            if Uuid::parse_str(&id).ok() != Some(session) {
                return Err(ApiError::forbidden(
                    "this session token belongs to another biometric validation",
                )
                .into());
            }
            use bv_store::sea_orm::EntityTrait;
            let read = bv_store::entity::biometric_validation::Entity::find_by_id(session);
            let row = bv_store::bounded(state.db_timeout, read.one(&state.db))
                .await
                .map_err(db_unavailable)?
                .ok_or_else(ApiError::not_found)?;
            let flows = bv_store::flows::by_ids(&state.db, [row.project_flow.as_str()]);
            let flow = bv_store::bounded(state.db_timeout, flows)
                .await
                .map_err(db_unavailable)?
                .remove(&row.project_flow);
            let read = biometrics::attempts_of(&state.db, row.id);
            let attempts = bv_store::bounded(state.db_timeout, read)
                .await
                .map_err(db_unavailable)?;
            let now = chrono::Utc::now();
            let view = biometrics::public_view(&row, flow.as_ref(), attempts.last(), now);
            Ok(Json(Success::new(view)).into_response())
        }
    }
}

/// The client's view: the seed's fields plus attempts, person, signature,
/// and the session while the validation is open.
async fn full_view(
    state: &AppState,
    client: &str,
    id: Uuid,
) -> Result<BiometricValidation, Failure> {
    let read = bv_store::validations::get(&state.db, client, id);
    let row = bv_store::bounded(state.db_timeout, read)
        .await
        .map_err(db_unavailable)?
        .ok_or_else(ApiError::not_found)?;
    let read = biometrics::attempts_of(&state.db, row.id);
    let attempts = bv_store::bounded(state.db_timeout, read)
        .await
        .map_err(db_unavailable)?;
    let mut view = bv_store::validations::to_api(&row);
    let now = chrono::Utc::now();
    let session_open = state.sessions.expiry(row.created_at, row.expires_at) > now;
    if session_open && !row.status.is_final() && !row.status.is_expired_at(row.expires_at, now) {
        let session = state
            .sessions
            .session(&view.id, row.created_at, row.expires_at);
        view.token = Some(session.token);
        view.url = Some(session.url);
    }
    view.signature = row
        .decided_attempt
        .and_then(|decided| attempts.iter().find(|a| a.id == decided))
        .and_then(|decided| biometrics::result_claims(&row, decided))
        .map(|claims| state.sessions.keys.sign_result(&claims));
    view.attempts = Some(attempts.iter().map(biometrics::attempt_view).collect());
    Ok(view)
}

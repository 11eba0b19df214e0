//! `GET /v2/biometric-validations/{id}`: one of the caller's validations.

use axum::Json;
use axum::extract::{Path, State};
use bv_contract::{ApiError, BiometricValidation, Success};
use uuid::Uuid;

use crate::answer::{Failure, db_unavailable};
use crate::auth::Client;
use crate::state::AppState;

pub async fn get_one(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<Success<BiometricValidation>>, Failure> {
    // An id that is not a UUID cannot exist: same answer as an unknown one.
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let read = bv_store::validations::get(&state.db, &client, id);
    let row = bv_store::bounded(state.db_timeout, read)
        .await
        .map_err(db_unavailable)?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(Success::new(bv_store::validations::to_api(&row))))
}

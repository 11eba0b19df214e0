//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bv_contract::{ApiError, ErrorCode};

use crate::answer::Failure;
use crate::state::AppState;

/// The OpenAPI 3.1 description of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Liveness: the process serves HTTP. Never depends on RabbitMQ or the database.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: connected to RabbitMQ and the database answers.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let broker = state.publisher.is_connected();
    let database = state.db.ping().await.is_ok();
    let status = if broker && database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({"broker": broker, "database": database})),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, bv_runtime::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub async fn not_found() -> Failure {
    Failure::Api(ApiError::new(ErrorCode::NotFound, "No such route"))
}

//! Turning an [`ApiError`] into an HTTP response: its status, the error body,
//! and the headers some codes call for.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bv_contract::{ApiError, ErrorCode};

/// An error on its way to the client.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = self.0.code;
        let mut response = (status, Json(self.0)).into_response();
        match code {
            ErrorCode::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ErrorCode::ServiceUnavailable => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}

/// A database error while reading: the client may retry.
pub fn db_unavailable(err: bv_store::sea_orm::DbErr) -> Failure {
    tracing::error!(error = %err, "database read failed");
    Failure(ApiError::unavailable("the database is unavailable"))
}

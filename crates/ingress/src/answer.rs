//! HTTP answers, in one place: which status and headers each error code and
//! each worker outcome gets. The worker answers in domain terms
//! ([`CreateOutcome`], [`RedeliverOutcome`]); only this module speaks HTTP.
//!
//! A [`Failure`] is either an [`ApiError`] (the client's to read) or an
//! internal fault, whose detail is logged under the request's trace id and
//! never sent: the client gets `INTERNAL_ERROR` with that id as its
//! `correlationId`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bv_contract::{ApiError, CreateOutcome, ErrorCode, RedeliverOutcome};
use serde::Serialize;

/// The status of each error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidJson
        | ErrorCode::MissingField
        | ErrorCode::InvalidField
        | ErrorCode::UnknownField
        | ErrorCode::EmailRequired
        | ErrorCode::InvalidProject
        | ErrorCode::InvalidProjectFlow
        | ErrorCode::InvalidParameters
        | ErrorCode::InvalidImage
        | ErrorCode::ChallengeNotFound => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::BiometricValidationNotFound
        | ErrorCode::DeliveryNotFound
        | ErrorCode::PersonNotFound
        | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::ValidationClosed | ErrorCode::ChallengeUsed => StatusCode::CONFLICT,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub enum Failure {
    /// Said to the client as it is.
    Api(ApiError),
    /// A fault in the service: logged, answered as `INTERNAL_ERROR`.
    Internal(String),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let error = match self {
            // The worker's own faults come without an id: they get one here.
            Failure::Api(error)
                if error.code == ErrorCode::InternalError && error.correlation_id.is_none() =>
            {
                let id = correlation_id();
                tracing::error!(correlation_id = %id, reason = %error.error, "internal error reported by the worker");
                ApiError::internal(Some(id))
            }
            Failure::Api(error) => error,
            Failure::Internal(detail) => {
                let id = correlation_id();
                tracing::error!(correlation_id = %id, error = %detail, "internal error");
                ApiError::internal(Some(id))
            }
        };
        let code = error.code;
        let mut response = (status_of(code), Json(error)).into_response();
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
            // The limiters write their own wait over this one.
            ErrorCode::RateLimited => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// The id a `500` asks the client to quote: the request's trace id when
/// traces are exported (the worker's log lines carry it too), else a fresh
/// one, logged with the error.
fn correlation_id() -> String {
    bv_runtime::propagation::trace_id_of(&tracing::Span::current())
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// A database error while reading. Unreachable or timed out: `503`, the
/// client may retry. Refused (the database answered with an error about the
/// query or a value): a fault of the service, never reported as an outage.
pub fn db_unavailable(err: bv_store::sea_orm::DbErr) -> Failure {
    if bv_store::refused_by_database(&err) {
        return Failure::Internal(format!("the database refused a read: {err}"));
    }
    tracing::error!(error = %err, "database read failed");
    Failure::Api(ApiError::unavailable("the database is unavailable"))
}

/// `200` (or another success status) with a JSON body.
pub fn ok(status: StatusCode, body: &impl Serialize) -> Response {
    (status, Json(body)).into_response()
}

/// The worker's answer to a create command: `201` with the seed's body
/// (created now, or a replay of an earlier request), or the error.
pub fn created(outcome: CreateOutcome) -> Response {
    match outcome {
        CreateOutcome::Created(body) | CreateOutcome::Replayed(body) => {
            ok(StatusCode::CREATED, &body)
        }
        CreateOutcome::Rejected(error) => Failure::Api(error).into_response(),
    }
}

/// The worker's answer to a redeliver command.
pub fn redelivered(outcome: RedeliverOutcome) -> Response {
    match outcome {
        RedeliverOutcome::Redelivered(body) => ok(StatusCode::OK, &body),
        RedeliverOutcome::NotFound => Failure::Api(delivery_not_found()).into_response(),
        RedeliverOutcome::Unavailable => {
            Failure::Api(ApiError::unavailable("the database is unavailable")).into_response()
        }
        RedeliverOutcome::Rejected(error) => Failure::Api(error).into_response(),
    }
}

/// The worker's answer to a biometric command (validate, challenge, delete
/// person): `200` with its body, the error, or `503` when the worker could
/// not reach the database.
pub fn biometric<T: Serialize>(answer: Result<Option<T>, ApiError>) -> Response {
    match answer {
        Ok(Some(body)) => ok(StatusCode::OK, &body),
        Ok(None) => {
            Failure::Api(ApiError::unavailable("the database is unavailable")).into_response()
        }
        Err(error) => Failure::Api(error).into_response(),
    }
}

/// A validate outcome as [`biometric`] takes it.
pub fn validated(outcome: bv_contract::ValidateOutcome) -> Response {
    use bv_contract::ValidateOutcome::*;
    biometric(match outcome {
        Decided(body) | Replayed(body) => Ok(Some(body)),
        Rejected(error) => Err(error),
        Unavailable => Ok(None),
    })
}

/// A challenge outcome as [`biometric`] takes it.
pub fn challenged(outcome: bv_contract::ChallengeOutcome) -> Response {
    use bv_contract::ChallengeOutcome::*;
    biometric(match outcome {
        Issued(body) => Ok(Some(body)),
        Rejected(error) => Err(error),
        Unavailable => Ok(None),
    })
}

/// A delete-person outcome as [`biometric`] takes it.
pub fn person_deleted(outcome: bv_contract::DeletePersonOutcome) -> Response {
    use bv_contract::DeletePersonOutcome::*;
    biometric(match outcome {
        Deleted(body) => Ok(Some(body)),
        Rejected(error) => Err(error),
        Unavailable => Ok(None),
    })
}

pub fn delivery_not_found() -> ApiError {
    ApiError::new(ErrorCode::DeliveryNotFound, "Delivery not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_side_unavailable_gets_retry_after_like_every_503() {
        let response = redelivered(RedeliverOutcome::Unavailable);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let response = redelivered(RedeliverOutcome::NotFound);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn internal_detail_never_reaches_the_client() {
        let response =
            Failure::Internal("relation \"secret_table\" does not exist".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("INTERNAL_ERROR"), "{text}");
        assert!(!text.contains("secret_table"), "{text}");
    }

    #[tokio::test]
    async fn every_500_carries_the_correlation_id_it_asks_for() {
        // Without exported traces there is no trace id: an id is made up
        // (and logged), for the service's own faults and the worker's.
        for failure in [
            Failure::Internal("boom".into()),
            Failure::Api(ApiError::internal(None)),
        ] {
            let response = failure.into_response();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let id = body["correlationId"].as_str().unwrap_or_default();
            assert_eq!(id.len(), 32, "{body}");
            assert!(body["error"].as_str().unwrap().contains("correlationId"));
        }
    }
}

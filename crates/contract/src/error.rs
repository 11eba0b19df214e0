//! Error codes and the error body, in one place.
//!
//! Every error the service reports, over HTTP or in an AMQP reply, is an
//! [`ApiError`]: a [`ErrorCode`], a human sentence and, where one field is at
//! fault, that field's name. It is public by construction: a fault inside the
//! service reaches a client only as `INTERNAL_ERROR` with a correlation id
//! (the trace id), never with its detail. Which HTTP status a code gets is
//! the ingress's business.

use serde::{Deserialize, Serialize};

/// The machine-readable error codes of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body is not JSON, not a JSON object, or not `application/json`.
    InvalidJson,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong type or a value outside its rule.
    InvalidField,
    /// A field the API does not know (a typo like `projectflow`).
    UnknownField,
    /// `sendViaEmail` is true but no `email` was given.
    EmailRequired,
    /// The project does not exist, is another client's, or is not active.
    InvalidProject,
    /// The flow does not exist, is another project's, is not active, or its
    /// type does not fit the request's type.
    InvalidProjectFlow,
    /// Missing, malformed, expired or forged bearer token.
    Unauthorized,
    /// The same `Idempotency-Key` (or AMQP `message_id`) was used with another body.
    IdempotencyKeyReused,
    /// No validation with that id for this client.
    BiometricValidationNotFound,
    /// No delivery with that id on that validation (for this client).
    DeliveryNotFound,
    /// No such route.
    NotFound,
    /// A query parameter is unknown or malformed.
    InvalidParameters,
    /// The request body is larger than the service accepts.
    PayloadTooLarge,
    /// An image does not decode as JPEG or PNG, or is too large in pixels.
    InvalidImage,
    /// The token is valid but not for this endpoint or this validation
    /// (a session token elsewhere than its page, a client token on validate).
    Forbidden,
    /// The validation is decided or expired and takes no more attempts.
    ValidationClosed,
    /// No such challenge for this validation.
    ChallengeNotFound,
    /// The challenge was already answered: ask for a new one.
    ChallengeUsed,
    /// No person is enrolled for that validation's identifier.
    PersonNotFound,
    /// Too many requests for one validation (session), client address or
    /// client: retry after the `Retry-After` delay.
    RateLimited,
    /// The request's body did not arrive in time.
    RequestTimeout,
    /// The broker or the database is unavailable, or the ingress is shedding
    /// load; retry later.
    ServiceUnavailable,
    /// A fault in the service itself.
    InternalError,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `INVALID_PROJECT_FLOW`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "INVALID_JSON",
            ErrorCode::MissingField => "MISSING_FIELD",
            ErrorCode::InvalidField => "INVALID_FIELD",
            ErrorCode::UnknownField => "UNKNOWN_FIELD",
            ErrorCode::EmailRequired => "EMAIL_REQUIRED",
            ErrorCode::InvalidProject => "INVALID_PROJECT",
            ErrorCode::InvalidProjectFlow => "INVALID_PROJECT_FLOW",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::BiometricValidationNotFound => "BIOMETRIC_VALIDATION_NOT_FOUND",
            ErrorCode::DeliveryNotFound => "DELIVERY_NOT_FOUND",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::InvalidParameters => "INVALID_PARAMETERS",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::InvalidImage => "INVALID_IMAGE",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::ValidationClosed => "VALIDATION_CLOSED",
            ErrorCode::ChallengeNotFound => "CHALLENGE_NOT_FOUND",
            ErrorCode::ChallengeUsed => "CHALLENGE_USED",
            ErrorCode::PersonNotFound => "PERSON_NOT_FOUND",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error body: `{"success": false, "error": "...", "code": "...", "field": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {error}")]
pub struct ApiError {
    /// Always `false`; present so the body matches the seed's error example.
    pub success: bool,
    /// A human sentence saying what is wrong and, where it helps, how to fix it.
    pub error: String,
    /// The machine-readable code.
    pub code: ErrorCode,
    /// The request field at fault, when exactly one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `INTERNAL_ERROR`: the trace id under which the detail was logged.
    #[serde(
        default,
        rename = "correlationId",
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_id: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, error: impl Into<String>) -> Self {
        ApiError {
            success: false,
            error: error.into(),
            code,
            field: None,
            correlation_id: None,
        }
    }

    pub fn field(code: ErrorCode, field: &str, error: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(code, error)
        }
    }

    pub fn invalid_project() -> Self {
        ApiError::field(ErrorCode::InvalidProject, "project", "Invalid project")
    }

    pub fn invalid_project_flow(reason: &str) -> Self {
        ApiError::field(
            ErrorCode::InvalidProjectFlow,
            "projectFlow",
            format!("Invalid project flow: {reason}"),
        )
    }

    pub fn not_found() -> Self {
        ApiError::new(
            ErrorCode::BiometricValidationNotFound,
            "Biometric validation not found",
        )
    }

    pub fn unauthorized(reason: &str) -> Self {
        ApiError::new(ErrorCode::Unauthorized, format!("Unauthorized: {reason}"))
    }

    pub fn unavailable(reason: &str) -> Self {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            format!("Service unavailable: {reason}; retry later"),
        )
    }

    /// A fault inside the service: the client gets only the correlation id
    /// (the trace id) under which the detail was logged.
    pub fn internal(correlation_id: Option<String>) -> Self {
        ApiError {
            correlation_id,
            ..ApiError::new(
                ErrorCode::InternalError,
                "Internal error; quote the correlationId when reporting it",
            )
        }
    }

    /// The validation takes no more attempts (decided or expired).
    pub fn closed(status: crate::ValidationStatus) -> Self {
        ApiError::new(
            ErrorCode::ValidationClosed,
            format!("This biometric validation is {status} and takes no more attempts"),
        )
    }

    pub fn challenge_not_found() -> Self {
        ApiError::field(
            ErrorCode::ChallengeNotFound,
            "challengeId",
            "No such challenge for this biometric validation; ask for a new one",
        )
    }

    pub fn challenge_used() -> Self {
        ApiError::field(
            ErrorCode::ChallengeUsed,
            "challengeId",
            "This challenge was already answered; ask for a new one",
        )
    }

    pub fn person_not_found() -> Self {
        ApiError::new(
            ErrorCode::PersonNotFound,
            "No person is enrolled for this validation's identifier",
        )
    }

    pub fn invalid_image(field: &str, reason: impl std::fmt::Display) -> Self {
        ApiError::field(
            ErrorCode::InvalidImage,
            field,
            format!("Invalid image in `{field}`: {reason}"),
        )
    }

    pub fn forbidden(reason: &str) -> Self {
        ApiError::new(ErrorCode::Forbidden, format!("Forbidden: {reason}"))
    }

    pub fn idempotency_key_reused() -> Self {
        ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "This idempotency key was already used with a different request body",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_matches_the_seed_shape() {
        let body = serde_json::to_value(ApiError::new(
            ErrorCode::InvalidProjectFlow,
            "Invalid project flow",
        ))
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"success": false, "error": "Invalid project flow", "code": "INVALID_PROJECT_FLOW"})
        );
    }

    #[test]
    fn wire_names_agree_with_serde() {
        for code in [
            ErrorCode::InvalidJson,
            ErrorCode::BiometricValidationNotFound,
            ErrorCode::IdempotencyKeyReused,
            ErrorCode::RateLimited,
            ErrorCode::ServiceUnavailable,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::String(code.as_str().into())
            );
        }
    }
}

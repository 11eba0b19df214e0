//! The create command (AMQP body) and the worker's reply.
//!
//! The command body is the seed's request body plus the `client` it is created
//! for. The validation `_id` is not in the body: it is the message's
//! `message_id` property, which is also the idempotency key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::amqp::{
    CHALLENGE_REPLY_MESSAGE_TYPE, PERSON_DELETE_REPLY_MESSAGE_TYPE, REDELIVER_REPLY_MESSAGE_TYPE,
    REPLY_MESSAGE_TYPE, VALIDATE_REPLY_MESSAGE_TYPE,
};
use crate::biometrics::{AttemptView, Challenge, PersonView};
use crate::delivery::DeliveryView;
use crate::error::{ApiError, ErrorCode};
use crate::request::{Expiry, NewValidation};
use crate::validation::BiometricValidation;
use crate::validation::ValidationStatus;

const MAX_CLIENT_LEN: usize = 128;

/// A decoded create command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateCommand {
    pub client: String,
    pub request: NewValidation,
}

impl CreateCommand {
    /// Decodes a command body: a JSON object with `client` and the request fields.
    pub fn decode(body: &[u8], expiry: Expiry) -> Result<Self, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("The command body is not valid JSON: {e}"),
            )
        })?;
        let Value::Object(mut map) = value else {
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                "The command body must be a JSON object",
            ));
        };
        let client = match map.remove("client") {
            Some(Value::String(c))
                if !c.trim().is_empty()
                    && c.trim().len() <= MAX_CLIENT_LEN
                    && !c.chars().any(char::is_control) =>
            {
                c.trim().to_owned()
            }
            Some(Value::String(_)) => {
                return Err(ApiError::field(
                    ErrorCode::InvalidField,
                    "client",
                    format!(
                        "`client` must be a non-empty string of at most {MAX_CLIENT_LEN} characters, without control characters"
                    ),
                ));
            }
            None | Some(Value::Null) => {
                return Err(ApiError::field(
                    ErrorCode::MissingField,
                    "client",
                    "`client` is required in a create command",
                ));
            }
            Some(_) => {
                return Err(ApiError::field(
                    ErrorCode::InvalidField,
                    "client",
                    "`client` must be a string",
                ));
            }
        };
        let request = NewValidation::parse_object(&map, expiry)?;
        Ok(CreateCommand { client, request })
    }

    /// Encodes the command body.
    pub fn encode(&self) -> Vec<u8> {
        let mut value = serde_json::to_value(&self.request).unwrap_or_default();
        if let Value::Object(map) = &mut value {
            map.insert("client".into(), Value::String(self.client.clone()));
        }
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

/// The success body of the API: `{"success": true, "data": ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Success<T> {
    pub success: bool,
    pub data: T,
}

impl<T> Success<T> {
    pub fn new(data: T) -> Self {
        Success {
            success: true,
            data,
        }
    }
}

/// What a worker's answer is: each outcome names itself in the body's `type`
/// (and in the reply's `x-bv-outcome` header, for upstream publishers).
pub trait Outcome: Serialize {
    /// The AMQP `type` of the reply message.
    const MESSAGE_TYPE: &'static str;
    /// Every outcome's name, as [`Outcome::kind`] gives them.
    const KINDS: &'static [&'static str];
    /// The outcome's name, as the body's `type` says it.
    fn kind(&self) -> &'static str;
}

/// The worker's answer to a create command, in domain terms (the ingress
/// alone turns it into HTTP). The body is the API's body plus `type`:
/// `{"type": "created", "success": true, "data": {...}}` or
/// `{"type": "rejected", "success": false, "error": "...", "code": "..."}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum CreateOutcome {
    /// Stored by this command.
    Created(Success<BiometricValidation>),
    /// Already stored by an earlier command with the same id and body:
    /// nothing was written.
    Replayed(Success<BiometricValidation>),
    /// Can never succeed as sent; nothing was written.
    Rejected(ApiError),
}

impl CreateOutcome {
    /// The kinds, as `kind()` names them (and the `x-bv-outcome` header).
    pub const CREATED: &'static str = "created";
    pub const REPLAYED: &'static str = "replayed";
    pub const REJECTED: &'static str = "rejected";
}

impl Outcome for CreateOutcome {
    const MESSAGE_TYPE: &'static str = REPLY_MESSAGE_TYPE;
    const KINDS: &'static [&'static str] = &[
        CreateOutcome::CREATED,
        CreateOutcome::REPLAYED,
        CreateOutcome::REJECTED,
    ];

    fn kind(&self) -> &'static str {
        match self {
            CreateOutcome::Created(_) => CreateOutcome::CREATED,
            CreateOutcome::Replayed(_) => CreateOutcome::REPLAYED,
            CreateOutcome::Rejected(_) => CreateOutcome::REJECTED,
        }
    }
}

/// The worker's answer to a redeliver command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RedeliverOutcome {
    /// Re-armed for an immediate attempt: the delivery as it is now.
    Redelivered(Success<DeliveryView>),
    /// No such delivery on that validation for that client.
    NotFound,
    /// The database could not be reached; the caller may retry.
    Unavailable,
    /// The command itself is malformed.
    Rejected(ApiError),
}

impl Outcome for RedeliverOutcome {
    const MESSAGE_TYPE: &'static str = REDELIVER_REPLY_MESSAGE_TYPE;
    const KINDS: &'static [&'static str] = &["redelivered", "notFound", "unavailable", "rejected"];

    fn kind(&self) -> &'static str {
        match self {
            RedeliverOutcome::Redelivered(_) => "redelivered",
            RedeliverOutcome::NotFound => "notFound",
            RedeliverOutcome::Unavailable => "unavailable",
            RedeliverOutcome::Rejected(_) => "rejected",
        }
    }
}

/// What one validate command decided (the validate answer's `data`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateResult {
    #[serde(rename = "_id")]
    pub id: String,
    /// The validation's status after this attempt.
    pub status: ValidationStatus,
    pub attempt: AttemptView,
    /// Attempts the user still has (0 once decided).
    pub attempts_left: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<PersonView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// The signed result (compact JWS, EdDSA) once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The worker's answer to a validate command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ValidateOutcome {
    /// The attempt was decided and recorded by this command.
    Decided(Success<ValidateResult>),
    /// The same command (message id) was decided before: the stored result.
    Replayed(Success<ValidateResult>),
    /// Cannot be decided as sent (unknown validation, closed, bad challenge…).
    Rejected(ApiError),
    /// The database could not be reached; the caller may retry.
    Unavailable,
}

impl Outcome for ValidateOutcome {
    const MESSAGE_TYPE: &'static str = VALIDATE_REPLY_MESSAGE_TYPE;
    const KINDS: &'static [&'static str] = &["decided", "replayed", "rejected", "unavailable"];

    fn kind(&self) -> &'static str {
        match self {
            ValidateOutcome::Decided(_) => "decided",
            ValidateOutcome::Replayed(_) => "replayed",
            ValidateOutcome::Rejected(_) => "rejected",
            ValidateOutcome::Unavailable => "unavailable",
        }
    }
}

/// The worker's answer to a challenge command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ChallengeOutcome {
    Issued(Success<Challenge>),
    Rejected(ApiError),
    Unavailable,
}

impl Outcome for ChallengeOutcome {
    const MESSAGE_TYPE: &'static str = CHALLENGE_REPLY_MESSAGE_TYPE;
    const KINDS: &'static [&'static str] = &["issued", "rejected", "unavailable"];

    fn kind(&self) -> &'static str {
        match self {
            ChallengeOutcome::Issued(_) => "issued",
            ChallengeOutcome::Rejected(_) => "rejected",
            ChallengeOutcome::Unavailable => "unavailable",
        }
    }
}

/// The worker's answer to a delete-person command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum DeletePersonOutcome {
    /// The person's template is gone.
    Deleted(Success<PersonView>),
    Rejected(ApiError),
    Unavailable,
}

impl Outcome for DeletePersonOutcome {
    const MESSAGE_TYPE: &'static str = PERSON_DELETE_REPLY_MESSAGE_TYPE;
    const KINDS: &'static [&'static str] = &["deleted", "rejected", "unavailable"];

    fn kind(&self) -> &'static str {
        match self {
            DeletePersonOutcome::Deleted(_) => "deleted",
            DeletePersonOutcome::Rejected(_) => "rejected",
            DeletePersonOutcome::Unavailable => "unavailable",
        }
    }
}

crate::closed_set! {
    /// The state of a command the broker took but no worker has answered
    /// yet (the `202 Accepted` body's `status`).
    pub enum AcceptedStatus {
        Queued = "queued",
    }
}

/// The `202 Accepted` body's `data`: what was queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    #[serde(rename = "_id")]
    pub id: String,
    pub status: AcceptedStatus,
}

impl Accepted {
    pub fn queued(id: impl ToString) -> Self {
        Accepted {
            id: id.to_string(),
            status: AcceptedStatus::Queued,
        }
    }
}

/// Asks the worker to send one delivery again (the API's redeliver endpoint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeliverCommand {
    pub client: String,
    pub validation: uuid::Uuid,
    pub delivery: uuid::Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_command_round_trips() {
        let body = json!({"client": "c1", "project": "p", "projectFlow": "f", "identifier": "i", "type": "login"});
        let cmd =
            CreateCommand::decode(&serde_json::to_vec(&body).unwrap(), Expiry::AnyTime).unwrap();
        assert_eq!(cmd.client, "c1");
        let again = CreateCommand::decode(&cmd.encode(), Expiry::AnyTime).unwrap();
        assert_eq!(again, cmd);
    }

    #[test]
    fn bad_commands_say_why() {
        let cases: [(&[u8], ErrorCode); 4] = [
            (b"{not json", ErrorCode::InvalidJson),
            (b"[1]", ErrorCode::InvalidJson),
            (br#"{"project": "p", "projectFlow": "f", "identifier": "i", "type": "login"}"#, ErrorCode::MissingField),
            (br#"{"client": "c", "projectFlow": "f", "identifier": "i", "type": "login", "extra": 1}"#, ErrorCode::UnknownField),
        ];
        for (body, code) in cases {
            assert_eq!(
                CreateCommand::decode(body, Expiry::AnyTime)
                    .unwrap_err()
                    .code,
                code
            );
        }
    }

    #[test]
    fn outcomes_name_themselves_and_keep_the_api_body() {
        let rejected: CreateOutcome = serde_json::from_value(
            json!({"type": "rejected", "success": false, "error": "x", "code": "INVALID_PROJECT"}),
        )
        .unwrap();
        assert_eq!(
            rejected,
            CreateOutcome::Rejected(ApiError::new(ErrorCode::InvalidProject, "x"))
        );
        assert_eq!(rejected.kind(), "rejected");
        // Each kind is the serde tag, and listed.
        let tag = serde_json::to_value(&rejected).unwrap()["type"].clone();
        assert_eq!(tag, rejected.kind());
        assert!(CreateOutcome::KINDS.contains(&rejected.kind()));
        for outcome in [RedeliverOutcome::NotFound, RedeliverOutcome::Unavailable] {
            let tag = serde_json::to_value(&outcome).unwrap()["type"].clone();
            assert_eq!(tag, outcome.kind());
            assert!(RedeliverOutcome::KINDS.contains(&outcome.kind()));
        }
        let not_found = serde_json::to_value(RedeliverOutcome::NotFound).unwrap();
        assert_eq!(not_found, json!({"type": "notFound"}));
        assert_eq!(
            serde_json::from_value::<RedeliverOutcome>(not_found).unwrap(),
            RedeliverOutcome::NotFound
        );
    }
}

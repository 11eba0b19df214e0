//! The create command (AMQP body) and the worker's reply.
//!
//! The command body is the seed's request body plus the `client` it is created
//! for. The validation `_id` is not in the body: it is the message's
//! `message_id` property, which is also the idempotency key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};
use crate::request::{Expiry, NewValidation};
use crate::validation::BiometricValidation;

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

/// The worker's answer to a command, which is also the HTTP response body:
/// `{"success": true, "data": {...}}` or the error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplyBody {
    Created(Box<Created>),
    Failed(ApiError),
}

/// The seed's success body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub success: bool,
    pub data: BiometricValidation,
}

impl ReplyBody {
    pub fn created(data: BiometricValidation) -> Self {
        ReplyBody::Created(Box::new(Created {
            success: true,
            data,
        }))
    }

    /// The HTTP status the ingress answers this reply with.
    pub fn http_status(&self) -> u16 {
        match self {
            ReplyBody::Created(_) => 201,
            ReplyBody::Failed(e) => e.http_status(),
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
    fn replies_deserialize_to_the_right_variant() {
        let err: ReplyBody = serde_json::from_value(
            json!({"success": false, "error": "x", "code": "INVALID_PROJECT"}),
        )
        .unwrap();
        assert_eq!(err.http_status(), 400);
    }
}

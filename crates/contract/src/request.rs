//! The seed's create request, parsed into a [`NewValidation`].
//!
//! Parse, don't validate: [`NewValidation::parse`] takes the raw JSON object and
//! either returns a value whose every field already satisfies its rule, or the
//! first error, naming the field. Nothing downstream checks these rules again.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use url::Url;

use crate::error::{ApiError, ErrorCode};
use crate::project::FlowType;

/// The request fields the seed documents, in its order.
pub const FIELDS: [&str; 12] = [
    "project",
    "projectFlow",
    "identifier",
    "type",
    "expiresAt",
    "redirectUrl",
    "webhookUrl",
    "requires2FA",
    "ipAddress",
    "sendViaEmail",
    "email",
    "language",
];

const MAX_ID_LEN: usize = 128;
const MAX_IDENTIFIER_LEN: usize = 512;
const MAX_URL_LEN: usize = 2048;

crate::closed_set! {
    /// What the validation is for.
    pub enum ValidationType {
        Validation = "validation",
        Login = "login",
        Onboarding = "onboarding",
        OneTimeLink = "oneTimeLink",
    }
}

impl ValidationType {
    /// Whether a flow of `flow_type` can serve a request of this type:
    /// `login` and `onboarding` need a flow of their own type; `validation`
    /// and `oneTimeLink` take either.
    pub fn fits_flow(self, flow_type: FlowType) -> bool {
        match self {
            ValidationType::Login => flow_type == FlowType::Login,
            ValidationType::Onboarding => flow_type == FlowType::Onboarding,
            ValidationType::Validation | ValidationType::OneTimeLink => true,
        }
    }
}

crate::closed_set! {
    /// The language of the email templates (and, later, the hosted page).
    #[derive(Default)]
    pub enum Language {
        #[default]
        En = "en",
        Es = "es",
    }
}

/// A create request whose every field satisfies its rule.
///
/// Serializes back to the seed's request body (camelCase, with `language`
/// defaulted), which is also the body of the AMQP create command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewValidation {
    pub project: String,
    pub project_flow: String,
    pub identifier: String,
    #[serde(rename = "type")]
    pub kind: ValidationType,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_time"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<Url>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Url>,
    #[serde(rename = "requires2FA")]
    pub requires_2fa: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<IpAddr>,
    pub send_via_email: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub language: Language,
}

fn ser_opt_time<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&crate::format_timestamp(*t)),
        None => s.serialize_none(),
    }
}

/// How strictly `expiresAt` is checked against the clock.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    /// `expiresAt` must be after this instant (the ingress: now).
    MustBeAfter(DateTime<Utc>),
    /// Any well-formed `expiresAt` is accepted (the worker: a command that
    /// expired while queued is stored as `expired`, not rejected).
    AnyTime,
}

impl NewValidation {
    /// Parses a raw JSON request body.
    pub fn parse(body: &Value, expiry: Expiry) -> Result<Self, ApiError> {
        let Value::Object(map) = body else {
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                "The request body must be a JSON object",
            ));
        };
        Self::parse_object(map, expiry)
    }

    /// Parses the fields of a JSON object; unknown fields are rejected by name.
    pub fn parse_object(map: &Map<String, Value>, expiry: Expiry) -> Result<Self, ApiError> {
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            let hint = FIELDS
                .iter()
                .find(|f| f.eq_ignore_ascii_case(unknown))
                .map(|f| format!(" (did you mean `{f}`?)"))
                .unwrap_or_default();
            return Err(ApiError::field(
                ErrorCode::UnknownField,
                unknown,
                format!("Unknown field `{unknown}`{hint}"),
            ));
        }
        let fields = Fields(map);

        let project = fields.required_str("project", MAX_ID_LEN)?;
        let project_flow = fields.required_str("projectFlow", MAX_ID_LEN)?;
        let identifier = fields.required_str("identifier", MAX_IDENTIFIER_LEN)?;
        let kind_raw = fields.required_str("type", MAX_ID_LEN)?;
        let kind = ValidationType::parse(&kind_raw).ok_or_else(|| {
            invalid(
                "type",
                &format!("must be one of {}", ValidationType::expected()),
            )
        })?;

        let expires_at = fields
            .optional_str("expiresAt")?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        invalid(
                            "expiresAt",
                            "must be an RFC 3339 date-time, e.g. 2030-01-15T11:30:00Z",
                        )
                    })
            })
            .transpose()?;
        if let (Some(at), Expiry::MustBeAfter(now)) = (expires_at, expiry)
            && at <= now
        {
            return Err(invalid("expiresAt", "must be in the future"));
        }

        let redirect_url = fields.optional_url("redirectUrl")?;
        let webhook_url = fields.optional_url("webhookUrl")?;
        let requires_2fa = fields.optional_bool("requires2FA")?.unwrap_or(false);
        let ip_address = fields
            .optional_str("ipAddress")?
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| invalid("ipAddress", "must be an IPv4 or IPv6 address"))
            })
            .transpose()?;
        let send_via_email = fields.optional_bool("sendViaEmail")?.unwrap_or(false);
        let email = fields
            .optional_str("email")?
            .map(|s| {
                if s.len() <= 254 && email_address::EmailAddress::is_valid(&s) {
                    Ok(s)
                } else {
                    Err(invalid("email", "must be a valid email address"))
                }
            })
            .transpose()?;
        if send_via_email && email.is_none() {
            return Err(ApiError::field(
                ErrorCode::EmailRequired,
                "email",
                "`email` is required when `sendViaEmail` is true",
            ));
        }
        let language = fields
            .optional_str("language")?
            .map(|s| {
                Language::parse(&s).ok_or_else(|| {
                    invalid("language", &format!("must be {}", Language::expected()))
                })
            })
            .transpose()?
            .unwrap_or_default();

        Ok(NewValidation {
            project,
            project_flow,
            identifier,
            kind,
            expires_at,
            redirect_url,
            webhook_url,
            requires_2fa,
            ip_address,
            send_via_email,
            email,
            language,
        })
    }
}

fn invalid(field: &str, rule: &str) -> ApiError {
    ApiError::field(ErrorCode::InvalidField, field, format!("`{field}` {rule}"))
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn required_str(&self, name: &str, max: usize) -> Result<String, ApiError> {
        match self.get(name) {
            None => Err(ApiError::field(
                ErrorCode::MissingField,
                name,
                format!("`{name}` is required"),
            )),
            Some(v) => self.string(name, v, max),
        }
    }

    fn optional_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.get(name)
            .map(|v| self.string(name, v, MAX_URL_LEN))
            .transpose()
    }

    fn string(&self, name: &str, v: &Value, max: usize) -> Result<String, ApiError> {
        let Value::String(s) = v else {
            return Err(invalid(name, "must be a string"));
        };
        let s = s.trim();
        if s.is_empty() {
            return Err(invalid(name, "must not be empty"));
        }
        if s.len() > max {
            return Err(invalid(name, &format!("must be at most {max} characters")));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid(name, "must not contain control characters"));
        }
        Ok(s.to_owned())
    }

    fn optional_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(invalid(name, "must be a boolean")),
        }
    }

    fn optional_url(&self, name: &str) -> Result<Option<Url>, ApiError> {
        self.optional_str(name)?
            .map(|s| {
                Url::parse(&s)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| invalid(name, "must be an absolute http(s) URL"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn seed() -> Value {
        json!({
            "project": "project_123456789",
            "projectFlow": "flow_123456789",
            "identifier": "user@example.com",
            "type": "validation",
            "expiresAt": "2030-01-15T11:30:00Z",
            "redirectUrl": "https://example.com/success",
            "webhookUrl": "https://example.com/webhook",
            "requires2FA": false,
            "ipAddress": "192.168.1.1",
            "sendViaEmail": true,
            "email": "user@example.com",
            "language": "en"
        })
    }

    fn parse(v: Value) -> Result<NewValidation, ApiError> {
        NewValidation::parse(&v, Expiry::MustBeAfter(now()))
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = seed();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = seed();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    fn err(v: Value) -> (ErrorCode, Option<String>) {
        let e = parse(v).unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn the_seed_example_parses_and_serializes_back_unchanged() {
        let parsed = parse(seed()).unwrap();
        assert_eq!(parsed.kind, ValidationType::Validation);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), seed());
    }

    #[test]
    fn optional_fields_default() {
        let v = json!({"project": "p", "projectFlow": "f", "identifier": "i", "type": "login"});
        let parsed = parse(v).unwrap();
        assert_eq!(parsed.language, Language::En);
        assert!(!parsed.requires_2fa && !parsed.send_via_email);
        assert_eq!(parsed.expires_at, None);
    }

    #[test]
    fn required_fields_are_named_when_missing_or_empty() {
        for f in ["project", "projectFlow", "identifier", "type"] {
            assert_eq!(err(without(f)), (ErrorCode::MissingField, Some(f.into())));
            assert_eq!(
                err(with(f, Value::Null)),
                (ErrorCode::MissingField, Some(f.into()))
            );
            assert_eq!(
                err(with(f, json!("  "))),
                (ErrorCode::InvalidField, Some(f.into()))
            );
            assert_eq!(
                err(with(f, json!(12))),
                (ErrorCode::InvalidField, Some(f.into()))
            );
        }
    }

    #[test]
    fn each_field_rule_is_enforced() {
        let cases = [
            ("type", json!("selfie")),
            ("expiresAt", json!("tomorrow")),
            ("expiresAt", json!("2025-01-01T00:00:00Z")),
            ("redirectUrl", json!("/relative")),
            ("redirectUrl", json!("ftp://example.com/x")),
            ("webhookUrl", json!("javascript:alert(1)")),
            ("requires2FA", json!("false")),
            ("ipAddress", json!("999.1.1.1")),
            ("sendViaEmail", json!(1)),
            ("email", json!("not-an-email")),
            ("language", json!("fr")),
            ("project", json!("x".repeat(200))),
            ("identifier", json!("nul\u{0}byte")),
            ("email", json!("a\u{7}@example.com")),
        ];
        for (field, value) in cases {
            assert_eq!(
                err(with(field, value.clone())),
                (ErrorCode::InvalidField, Some(field.into())),
                "{field} = {value}"
            );
        }
    }

    #[test]
    fn ipv6_is_accepted() {
        assert!(parse(with("ipAddress", json!("2001:db8::1"))).is_ok());
    }

    #[test]
    fn send_via_email_needs_an_email() {
        assert_eq!(
            err(without("email")),
            (ErrorCode::EmailRequired, Some("email".into()))
        );
        let mut v = without("email");
        v["sendViaEmail"] = json!(false);
        assert!(parse(v).is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected_by_name_with_a_hint() {
        let e = parse(with("projectflow", json!("x"))).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownField);
        assert_eq!(e.field.as_deref(), Some("projectflow"));
        assert!(
            e.error.contains("did you mean `projectFlow`"),
            "{}",
            e.error
        );
    }

    #[test]
    fn a_non_object_body_is_invalid_json() {
        assert_eq!(
            parse(json!([1, 2])).unwrap_err().code,
            ErrorCode::InvalidJson
        );
    }

    #[test]
    fn expiry_any_time_accepts_a_past_date() {
        let v = with("expiresAt", json!("2020-01-01T00:00:00Z"));
        assert!(NewValidation::parse(&v, Expiry::AnyTime).is_ok());
    }

    #[test]
    fn flow_types_fit_as_documented() {
        use ValidationType::*;
        assert!(Login.fits_flow(FlowType::Login) && !Login.fits_flow(FlowType::Onboarding));
        assert!(
            Onboarding.fits_flow(FlowType::Onboarding) && !Onboarding.fits_flow(FlowType::Login)
        );
        for t in [Validation, OneTimeLink] {
            assert!(t.fits_flow(FlowType::Login) && t.fits_flow(FlowType::Onboarding));
        }
    }
}

//! Bearer-token authentication: every request's client comes from a JWT claim.
//!
//! Tokens are HS256 (shared secret, as `bvctl token issue` makes them) or RS256
//! (an external issuer's public key). `exp` is required.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use bv_contract::ApiError;
use bv_runtime::AuthSettings;
use bv_runtime::settings::ExposeSecret;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde_json::{Map, Value};

use crate::answer::Failure;
use crate::state::AppState;

/// Checks tokens.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    claim: String,
}

impl Verifier {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings.jwt_secret.as_ref().map(|s| s.expose_secret());
        let (key, algorithm) = match (&settings.jwt_public_key, secret) {
            (Some(pem), _) if !pem.is_empty() => {
                (DecodingKey::from_rsa_pem(pem.as_bytes())?, Algorithm::RS256)
            }
            (_, Some(secret)) => (
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            ),
            _ => anyhow::bail!("no JWT key configured"),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        match &settings.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &settings.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(Verifier {
            key,
            validation,
            claim: settings.client_claim.clone(),
        })
    }

    /// The client a bearer token was issued to.
    pub fn client(&self, token: &str) -> Result<String, ApiError> {
        let data =
            decode::<Map<String, Value>>(token, &self.key, &self.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let reason = match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                    ErrorKind::InvalidSignature => "the token signature is invalid",
                    ErrorKind::InvalidAudience => "the token audience is not accepted",
                    ErrorKind::InvalidIssuer => "the token issuer is not accepted",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (exp)",
                    ErrorKind::InvalidAlgorithm => "the token algorithm is not accepted",
                    _ => "the token is malformed",
                };
                ApiError::unauthorized(reason)
            })?;
        match data.claims.get(&self.claim) {
            Some(Value::String(c)) if !c.trim().is_empty() => Ok(c.trim().to_owned()),
            _ => Err(ApiError::unauthorized(&format!(
                "the token has no `{}` claim",
                self.claim
            ))),
        }
    }
}

/// The bearer token of a request.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// Whether a token presents itself as a session token: signed with EdDSA,
/// which client tokens (HS256 or RS256) never are. Its signature is checked
/// by [`Session`]; this only picks which check applies, and which error.
fn is_session_token(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok_and(|h| h.alg == Algorithm::EdDSA)
}

/// The authenticated client of a request (a client token).
pub struct Client(pub String);

impl FromRequestParts<AppState> for Client {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if is_session_token(token) {
            // A genuine session token is the wrong kind here (403); a forged
            // one is no credential at all (401).
            session_of(state, token)?;
            return Err(ApiError::forbidden(
                "a session token opens only its validation's page; this endpoint takes a client token",
            )
            .into());
        }
        let client = state.verifier.client(token)?;
        tracing::Span::current().record("bv.client", client.as_str());
        Ok(Client(client))
    }
}

/// The validation whose session token authorised the request (the hosted
/// page: its public view, its challenge, validate).
pub struct Session(pub uuid::Uuid);

impl FromRequestParts<AppState> for Session {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if !is_session_token(token) {
            // Only a genuine client token is the wrong kind here (403): a
            // forged token (`alg: none`, an HS256 token under any secret
            // but the service's) is no credential at all (401).
            state.verifier.client(token)?;
            return Err(ApiError::forbidden(
                "this endpoint takes the validation's session token (`token` in the create answer), not a client token",
            )
            .into());
        }
        Ok(Session(session_of(state, token)?))
    }
}

fn session_of(state: &AppState, token: &str) -> Result<uuid::Uuid, ApiError> {
    let claims = state
        .sessions
        .keys
        .verify_session(token)
        .map_err(|e| ApiError::unauthorized(&e.to_string()))?;
    uuid::Uuid::parse_str(&claims.sub)
        .map_err(|_| ApiError::unauthorized("the session token's subject is not a validation id"))
}

/// Either kind of caller, for the one endpoint both may call
/// (`GET /v2/biometric-validations/{id}`: the full view or the page's view).
pub enum Caller {
    Client(String),
    Session(uuid::Uuid),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        if is_session_token(token) {
            return Ok(Caller::Session(session_of(state, token)?));
        }
        let client = state.verifier.client(token)?;
        tracing::Span::current().record("bv.client", client.as_str());
        Ok(Caller::Client(client))
    }
}

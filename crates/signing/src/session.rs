//! Session tokens: the JWT in the hosted page's link, scoped to one
//! validation (`sub`) and to the page (`aud: "bv-session"`), until `exp`.
//!
//! A token is derived from its arguments alone, so issuing it twice (the
//! worker for the email, the ingress for a client's GET) gives one string.

use bv_contract::biometrics::{SESSION_AUDIENCE, SessionClaims};

use crate::jws::{self, Token, TokenError};
use crate::keys::KeySet;

/// Clock skew allowed on `exp`, in seconds.
const LEEWAY_SECS: u64 = 30;

impl KeySet {
    /// The session token of one validation: `{sub, aud: "bv-session", iat,
    /// exp}` (seconds since the epoch), signed by the signing key.
    pub fn issue_session(&self, validation_id: &str, iat: i64, exp: i64) -> String {
        self.sign(&SessionClaims {
            sub: validation_id.to_owned(),
            aud: SESSION_AUDIENCE.to_owned(),
            iat,
            exp,
        })
    }

    /// The claims of a session token signed by any key of the set: EdDSA
    /// only, `aud` must be `bv-session`, `exp` is required and checked
    /// against the system clock with 30 s of leeway, and so is `nbf` when
    /// the token has one.
    pub fn verify_session(&self, token: &str) -> Result<SessionClaims, TokenError> {
        let mut validation = jws::validation();
        validation.set_required_spec_claims(&["exp", "aud"]);
        validation.set_audience(&[SESSION_AUDIENCE]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = self.verify(token, Token::Session, &validation)?;
        serde_json::from_value(claims).map_err(|_| TokenError::Malformed(Token::Session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{entry, now, result_claims, session_claims};
    use serde_json::json;

    #[test]
    fn a_session_token_round_trips() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let (iat, exp) = (now(), now() + 600);
        let token = keys.issue_session("0197a9c2-validation", iat, exp);
        let claims = keys.verify_session(&token).unwrap();
        assert_eq!(
            claims,
            SessionClaims {
                iat,
                ..session_claims("0197a9c2-validation", exp)
            }
        );
    }

    #[test]
    fn the_same_session_is_the_same_string_wherever_it_is_signed() {
        let spec = format!("{},{}", entry("k2", 2), entry("k1", 1));
        let (worker, ingress) = (KeySet::parse(&spec).unwrap(), KeySet::parse(&spec).unwrap());
        let (iat, exp) = (1_750_000_000, 1_750_086_400);
        assert_eq!(
            worker.issue_session("v1", iat, exp),
            ingress.issue_session("v1", iat, exp)
        );
        assert_ne!(
            worker.issue_session("v1", iat, exp),
            worker.issue_session("v2", iat, exp)
        );
    }

    #[test]
    fn after_a_rotation_the_old_keys_tokens_still_verify() {
        let old = KeySet::parse(&entry("k1", 1)).unwrap();
        let rotated = KeySet::parse(&format!("{},{}", entry("k2", 2), entry("k1", 1))).unwrap();
        let retired = KeySet::parse(&entry("k2", 2)).unwrap();
        let token = old.issue_session("v1", now(), now() + 600);
        assert_eq!(rotated.verify_session(&token).unwrap().sub, "v1");
        assert_eq!(
            retired.verify_session(&token),
            Err(TokenError::InvalidSignature(Token::Session))
        );
        let fresh = rotated.issue_session("v1", now(), now() + 600);
        assert!(fresh.starts_with(&crate::fixtures::header_of("k2")));
        assert!(old.verify_session(&fresh).is_err());
    }

    #[test]
    fn expiry_is_checked_with_30_seconds_of_leeway() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let late = keys.issue_session("v1", now() - 3600, now() - 10);
        assert!(keys.verify_session(&late).is_ok());
        let expired = keys.issue_session("v1", now() - 3600, now() - 60);
        assert_eq!(
            keys.verify_session(&expired),
            Err(TokenError::Expired(Token::Session))
        );
        assert_eq!(
            TokenError::Expired(Token::Session).to_string(),
            "the session token has expired"
        );
    }

    #[test]
    fn a_token_before_its_nbf_is_refused() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let claims = |nbf: i64| json!({"sub": "v1", "aud": SESSION_AUDIENCE, "iat": now(), "exp": now() + 600, "nbf": nbf});
        let early = keys.sign(&claims(now() + 3600));
        assert_eq!(
            keys.verify_session(&early),
            Err(TokenError::NotYetValid(Token::Session))
        );
        assert!(keys.verify_session(&keys.sign(&claims(now() - 5))).is_ok());
    }

    #[test]
    fn another_audience_or_no_expiry_is_not_a_session_token() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let exp = now() + 600;
        let not_session = [
            keys.sign(&json!({"sub": "v1", "aud": "bv-client", "iat": now(), "exp": exp})),
            keys.sign(&json!({"sub": "v1", "aud": ["bv-client"], "iat": now(), "exp": exp})),
            keys.sign(&json!({"sub": "v1", "iat": now(), "exp": exp})),
            keys.sign(&json!({"sub": "v1", "aud": "bv-session", "iat": now()})),
            keys.sign_result(&result_claims()),
        ];
        for token in not_session {
            assert_eq!(
                keys.verify_session(&token),
                Err(TokenError::WrongKind(Token::Session))
            );
        }
        // Signed by us, with the right audience, but not the contract's shape.
        let odd = keys.sign(&json!({"aud": "bv-session", "exp": exp}));
        assert_eq!(
            keys.verify_session(&odd),
            Err(TokenError::Malformed(Token::Session))
        );
    }
}

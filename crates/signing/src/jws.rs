//! Compact JWS (RFC 7515) with EdDSA (RFC 8037): how both kinds of token are
//! written, the checks every one gets before its signature is looked at, and
//! the errors a caller sees.
//!
//! We write the three parts ourselves, signing with the one `Ed25519KeyPair`
//! the key set holds (jsonwebtoken's encoder would re-parse a PKCS#8 copy of
//! the private key for every token), and read them with jsonwebtoken, allowing
//! EdDSA only: an independent reader of what we write, checked against the
//! RFC 8037 vector below and, in `tests/`, by joserfc.

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keys::{KeySet, Verifier};

/// The only algorithm we sign or accept.
pub(crate) const ALG: &str = "EdDSA";
/// Both payloads are JWT claims sets (see the crate's documentation).
const TYP: &str = "JWT";

/// Longest token read. Ours are a few hundred bytes; a session token arrives
/// in a URL anyone can write.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What was being verified: it names the token in the error's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    Session,
    Result,
}

impl Token {
    fn name(self) -> &'static str {
        match self {
            Token::Session => "session token",
            Token::Result => "signed result",
        }
    }
}

/// Why a token was refused, with a short reason for a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with a JSON header and payload of the
    /// expected shape, or too long.
    #[error("the {} is malformed", .0.name())]
    Malformed(Token),
    /// Not signed by one of our keys: a bad signature, an algorithm other
    /// than EdDSA (`none`, HS256 …), or a kid we do not publish.
    #[error("the {}'s signature is invalid", .0.name())]
    InvalidSignature(Token),
    /// Signed by us, but the other kind (a session token's `aud` is
    /// `bv-session`; a result has no `aud`).
    #[error("the token is not a {}", .0.name())]
    WrongKind(Token),
    /// Past its `exp` (with leeway): session tokens only.
    #[error("the {} has expired", .0.name())]
    Expired(Token),
    /// Before its `nbf` (with leeway).
    #[error("the {} is not valid yet (nbf)", .0.name())]
    NotYetValid(Token),
}

impl TokenError {
    /// What was being verified.
    pub fn token(self) -> Token {
        match self {
            TokenError::Malformed(t)
            | TokenError::InvalidSignature(t)
            | TokenError::WrongKind(t)
            | TokenError::Expired(t)
            | TokenError::NotYetValid(t) => t,
        }
    }
}

/// The protected header we write: always these members, in this order.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// What we read of a header before verifying: enough to choose the key.
#[derive(Deserialize)]
struct ReceivedHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

impl KeySet {
    /// The compact JWS of `claims`, signed by the signing key.
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> String {
        let header = Header {
            alg: ALG,
            typ: TYP,
            kid: &self.signer.kid,
        };
        // Structs of strings and numbers: serde_json cannot fail on them
        // (it writes a non-finite float as null).
        let header = serde_json::to_vec(&header).expect("a JWS header serialises");
        let payload = serde_json::to_vec(claims).expect("token claims serialise");
        compact(&self.signer.pair, &header, &payload)
    }

    /// The verified payload of `token`, or why it was refused. `validation`
    /// says which claims it must carry; its algorithms are EdDSA alone.
    pub(crate) fn verify(
        &self,
        token: &str,
        kind: Token,
        validation: &Validation,
    ) -> Result<Value, TokenError> {
        let key = self.key_for(token, kind)?;
        jsonwebtoken::decode::<Value>(token, &key.decoding, validation)
            .map(|data| data.claims)
            .map_err(|e| refusal(e.kind(), kind))
    }

    /// The key a token names, after the checks that need no key.
    fn key_for(&self, token: &str, kind: Token) -> Result<&Verifier, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed(kind));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(kind));
        };
        let header: ReceivedHeader = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenError::Malformed(kind))?;
        // We never write `crit`; RFC 7515 §4.1.11: refuse what is not understood.
        if header.crit.is_some() {
            return Err(TokenError::Malformed(kind));
        }
        // `none`, or HS256 keyed with our public key (algorithm confusion):
        // refused before any key is chosen.
        if header.alg != ALG {
            return Err(TokenError::InvalidSignature(kind));
        }
        header
            .kid
            .and_then(|kid| self.verifier(&kid))
            .ok_or(TokenError::InvalidSignature(kind))
    }
}

/// A validation that accepts EdDSA only and requires no claim; each kind of
/// token adds what it needs. With no audience set, a token that has an `aud`
/// is refused.
pub(crate) fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation
}

/// `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`.
fn compact(pair: &Ed25519KeyPair, header: &[u8], payload: &[u8]) -> String {
    let mut jws = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = pair.sign(jws.as_bytes());
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jws);
    jws
}

fn refusal(error: &ErrorKind, kind: Token) -> TokenError {
    match error {
        ErrorKind::ExpiredSignature => TokenError::Expired(kind),
        ErrorKind::ImmatureSignature => TokenError::NotYetValid(kind),
        // Signed by us, but without a session token's `aud` and `exp`, or
        // with an `aud` a result never has.
        ErrorKind::InvalidAudience | ErrorKind::MissingRequiredClaim(_) => {
            TokenError::WrongKind(kind)
        }
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidKeyFormat => TokenError::InvalidSignature(kind),
        _ => TokenError::Malformed(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{RFC8037_ENTRY, entry, forge, now, session_claims};
    use serde_json::json;

    fn verify_any(keys: &KeySet, token: &str) -> Result<Value, TokenError> {
        keys.verify(token, Token::Session, &validation())
    }

    #[test]
    fn signs_the_rfc_8037_example() {
        // RFC 8037, A.4: header {"alg":"EdDSA"}, payload "Example of Ed25519 signing".
        let keys = KeySet::parse(RFC8037_ENTRY).unwrap();
        let jws = compact(
            &keys.signer.pair,
            br#"{"alg":"EdDSA"}"#,
            b"Example of Ed25519 signing",
        );
        assert_eq!(
            jws,
            "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
             hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn the_header_is_alg_typ_kid() {
        let keys = KeySet::parse(RFC8037_ENTRY).unwrap();
        let token = keys.sign(&json!({"a": 1}));
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        assert_eq!(header, br#"{"alg":"EdDSA","typ":"JWT","kid":"rfc8037"}"#);
    }

    #[test]
    fn a_tampered_payload_fails() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let token = keys.sign(&json!({"sub": "a"}));
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"b"}"#);
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(
            verify_any(&keys, &tampered),
            Err(TokenError::InvalidSignature(Token::Session))
        );
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[0] ^= 1;
        let flipped = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(signature)
        );
        assert_eq!(
            verify_any(&keys, &flipped),
            Err(TokenError::InvalidSignature(Token::Session))
        );
    }

    #[test]
    fn hs256_keyed_with_our_public_key_fails() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let x = keys.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
        let raw = URL_SAFE_NO_PAD.decode(&x).unwrap();
        let claims = session_claims("v1", now() + 600);
        for secret in [raw.as_slice(), x.as_bytes()] {
            let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
            header.kid = Some("k1".into());
            let token = jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .unwrap();
            assert_eq!(
                keys.verify_session(&token),
                Err(TokenError::InvalidSignature(Token::Session))
            );
            assert_eq!(
                keys.verify_result(&token),
                Err(TokenError::InvalidSignature(Token::Result))
            );
        }
    }

    #[test]
    fn alg_none_fails() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let claims = serde_json::to_value(session_claims("v1", now() + 600)).unwrap();
        let header = json!({"alg": "none", "typ": "JWT", "kid": "k1"});
        // With no signature, and with one of ours lifted from a real token.
        let real = keys.issue_session("v1", now(), now() + 600);
        for signature in ["", real.rsplit('.').next().unwrap()] {
            let token = forge(&header, &claims, signature);
            assert_eq!(
                keys.verify_session(&token),
                Err(TokenError::InvalidSignature(Token::Session))
            );
        }
    }

    #[test]
    fn an_unknown_or_missing_kid_fails() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let stranger = KeySet::parse(&entry("k9", 9)).unwrap();
        // Same kid, another key: the signature decides, not the name.
        let impostor = KeySet::parse(&entry("k1", 9)).unwrap();
        for other in [stranger, impostor] {
            let token = other.issue_session("v1", now(), now() + 600);
            assert_eq!(
                keys.verify_session(&token),
                Err(TokenError::InvalidSignature(Token::Session))
            );
        }
        let token = keys.issue_session("v1", now(), now() + 600);
        let parts: Vec<&str> = token.split('.').collect();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        let no_kid = format!("{header}.{}.{}", parts[1], parts[2]);
        assert_eq!(
            keys.verify_session(&no_kid),
            Err(TokenError::InvalidSignature(Token::Session))
        );
    }

    #[test]
    fn malformed_tokens_say_so() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let token = keys.issue_session("v1", now(), now() + 600);
        let parts: Vec<&str> = token.split('.').collect();
        let crit = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k1","crit":["exp"],"exp":1}"#);
        let cases = [
            String::new(),
            "abc".into(),
            "a.b".into(),
            format!("{token}.{}", parts[2]),
            format!("!!.{}.{}", parts[1], parts[2]),
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode("not json"),
                parts[1],
                parts[2]
            ),
            compact(
                &keys.signer.pair,
                br#"{"alg":"EdDSA","kid":"k1"}"#,
                b"signed, but not JSON",
            ),
            format!("{}.{}.!!", parts[0], parts[1]),
            format!("{crit}.{}.{}", parts[1], parts[2]),
            format!("{}.{}.{}", parts[0], "A".repeat(MAX_TOKEN_LEN), parts[2]),
        ];
        for case in cases {
            assert_eq!(
                keys.verify_session(&case),
                Err(TokenError::Malformed(Token::Session)),
                "{case}"
            );
        }
    }

    #[test]
    fn messages_are_short_and_human() {
        let cases = [
            (
                TokenError::Expired(Token::Session),
                "the session token has expired",
            ),
            (
                TokenError::InvalidSignature(Token::Session),
                "the session token's signature is invalid",
            ),
            (
                TokenError::WrongKind(Token::Session),
                "the token is not a session token",
            ),
            (
                TokenError::Malformed(Token::Session),
                "the session token is malformed",
            ),
            (
                TokenError::InvalidSignature(Token::Result),
                "the signed result's signature is invalid",
            ),
            (
                TokenError::WrongKind(Token::Result),
                "the token is not a signed result",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }
}

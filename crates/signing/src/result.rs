//! Signed results: a compact JWS over a validation's outcome
//! ([`ResultClaims`]) that a relying party checks offline against our JWKS.
//!
//! How a relying party checks one (what [`KeySet::verify_result`] does, and
//! `tests/jose/verify_jws.py` does with joserfc):
//! 1. split the three parts; the header must be `alg: EdDSA` (refuse anything
//!    else, `none` above all) and carry a `kid`;
//! 2. take the key with that `kid` from `GET /.well-known/jwks.json`
//!    (`kty: OKP`, `crv: Ed25519`; refetch the set once on an unknown kid,
//!    since keys rotate);
//! 3. verify the Ed25519 signature over `part1.part2` (the ASCII text);
//! 4. only then parse the payload: `_id`, `client`, `project`, `identifier`,
//!    `type`, `status`, `scores`, `dateTime`.
//!
//! A result has no `exp`: it states what was decided at `dateTime`, and it
//! stays verifiable while its key is published.

use bv_contract::biometrics::ResultClaims;

use crate::jws::{self, Token, TokenError};
use crate::keys::KeySet;

impl KeySet {
    /// The compact JWS of a result, signed by the signing key. The same
    /// claims and key always give the same string.
    pub fn sign_result(&self, claims: &ResultClaims) -> String {
        self.sign(claims)
    }

    /// The claims of a result signed by any key of the set (EdDSA only). A
    /// session token is refused: it has an `aud`, a result never does.
    pub fn verify_result(&self, jws: &str) -> Result<ResultClaims, TokenError> {
        let claims = self.verify(jws, Token::Result, &jws::validation())?;
        serde_json::from_value(claims).map_err(|_| TokenError::Malformed(Token::Result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{entry, header_of, now, result_claims};
    use serde_json::json;

    #[test]
    fn a_result_round_trips() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let jws = keys.sign_result(&result_claims());
        assert!(jws.starts_with(&header_of("k1")));
        assert_eq!(keys.verify_result(&jws).unwrap(), result_claims());
    }

    #[test]
    fn the_worker_and_the_ingress_sign_the_same_result_alike() {
        let spec = format!("{},{}", entry("k2", 2), entry("k1", 1));
        let (worker, ingress) = (KeySet::parse(&spec).unwrap(), KeySet::parse(&spec).unwrap());
        assert_eq!(
            worker.sign_result(&result_claims()),
            ingress.sign_result(&result_claims())
        );
        let other = bv_contract::biometrics::ResultClaims {
            status: bv_contract::ValidationStatus::Failed,
            ..result_claims()
        };
        assert_ne!(
            worker.sign_result(&result_claims()),
            worker.sign_result(&other)
        );
    }

    #[test]
    fn after_a_rotation_the_old_keys_results_still_verify() {
        let old = KeySet::parse(&entry("k1", 1)).unwrap();
        let rotated = KeySet::parse(&format!("{},{}", entry("k2", 2), entry("k1", 1))).unwrap();
        let outsider = KeySet::parse(&entry("k3", 3)).unwrap();
        let jws = old.sign_result(&result_claims());
        assert_eq!(rotated.verify_result(&jws).unwrap(), result_claims());
        let foreign = outsider.sign_result(&result_claims());
        assert_eq!(
            rotated.verify_result(&foreign),
            Err(TokenError::InvalidSignature(Token::Result))
        );
    }

    #[test]
    fn a_session_token_is_not_a_result() {
        let keys = KeySet::parse(&entry("k1", 1)).unwrap();
        let session = keys.issue_session("v1", now(), now() + 600);
        assert_eq!(
            keys.verify_result(&session),
            Err(TokenError::WrongKind(Token::Result))
        );
        let odd = keys.sign(&json!({"_id": "v1"}));
        assert_eq!(
            keys.verify_result(&odd),
            Err(TokenError::Malformed(Token::Result))
        );
    }
}

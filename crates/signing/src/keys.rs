//! The key set: parsed once from `kid:seed[,kid:seed…]`, it holds the one
//! private key that signs and the public keys that verify and are published.
//!
//! Rotation is a change of the setting: put the new key first, keep the old
//! one after it until everything it signed has expired, then drop it. A seed
//! never appears in an error, in `Debug`, or anywhere but the signer.

use std::fmt;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::DecodingKey;
use serde_json::{Value, json};

/// Seeds are base64url; padding is accepted on input, never written.
const SEED_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const SEED_LEN: usize = 32;

/// Longest `kid`: it is echoed in every token header.
const MAX_KID_LEN: usize = 64;

/// Why a key setting was refused. Entries are named by position (from 1) and,
/// once it is known to be well formed, by kid; never by seed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no keys: expected `kid:seed[,kid:seed…]`")]
    Empty,
    #[error("key {entry}: expected `kid:seed`")]
    NotAnEntry { entry: usize },
    #[error("key {entry}: the kid must be 1 to {MAX_KID_LEN} characters of A-Z a-z 0-9 . _ -")]
    InvalidKid { entry: usize },
    #[error("key {entry} (`{kid}`): the seed must be 32 bytes in base64url")]
    InvalidSeed { entry: usize, kid: String },
    #[error("key {entry}: the kid `{kid}` is already key {first}'s")]
    DuplicateKid {
        entry: usize,
        kid: String,
        first: usize,
    },
}

/// The key that signs: its private half lives in aws-lc, once.
pub(crate) struct Signer {
    pub(crate) kid: String,
    pub(crate) pair: Ed25519KeyPair,
}

/// A key that verifies (the signer's own public key among them).
pub(crate) struct Verifier {
    pub(crate) kid: String,
    public: [u8; SEED_LEN],
    pub(crate) decoding: DecodingKey,
}

/// Ed25519 keys by kid: the first signs, every one verifies and is published.
///
/// Not `Clone`: share it behind an `Arc`, so the private key is never copied.
pub struct KeySet {
    pub(crate) signer: Signer,
    /// In the setting's order; the signer's public key first.
    verifiers: Vec<Verifier>,
}

impl KeySet {
    /// Parses `kid:seed[,kid:seed…]`, where seed is the base64url (padding
    /// optional) of a 32-byte Ed25519 seed and kid is 1 to 64 characters of
    /// `[A-Za-z0-9._-]`. Whitespace around an entry is ignored. The first key
    /// signs; every key verifies and is published. Duplicate kids are refused.
    pub fn parse(spec: &str) -> Result<KeySet, KeyError> {
        if spec.trim().is_empty() {
            return Err(KeyError::Empty);
        }
        let mut signer = None;
        let mut verifiers: Vec<Verifier> = Vec::new();
        for (index, entry) in spec.split(',').enumerate() {
            let number = index + 1;
            let (kid, seed) = entry
                .trim()
                .split_once(':')
                .ok_or(KeyError::NotAnEntry { entry: number })?;
            check_kid(kid).map_err(|()| KeyError::InvalidKid { entry: number })?;
            if let Some(first) = verifiers.iter().position(|v| v.kid == kid) {
                return Err(KeyError::DuplicateKid {
                    entry: number,
                    kid: kid.to_owned(),
                    first: first + 1,
                });
            }
            let pair = key_pair(seed).ok_or_else(|| KeyError::InvalidSeed {
                entry: number,
                kid: kid.to_owned(),
            })?;
            verifiers.push(Verifier::of(kid, &pair));
            // Only the first private key is kept; the others drop here.
            if signer.is_none() {
                signer = Some(Signer {
                    kid: kid.to_owned(),
                    pair,
                });
            }
        }
        let signer = signer.ok_or(KeyError::Empty)?;
        Ok(KeySet { signer, verifiers })
    }

    /// A fresh `kid:seed` entry, its seed from aws-lc's RNG, for the setting.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn generate_entry(kid: &str) -> Result<String, KeyError> {
        check_kid(kid).map_err(|()| KeyError::InvalidKid { entry: 1 })?;
        let mut seed = [0u8; SEED_LEN];
        aws_lc_rs::rand::fill(&mut seed).expect("the system's random number generator failed");
        Ok(format!("{kid}:{}", SEED_BASE64.encode(seed)))
    }

    /// The kid that new tokens and results carry.
    pub fn signing_kid(&self) -> &str {
        &self.signer.kid
    }

    /// The JSON Web Key Set to publish (`GET /.well-known/jwks.json`), the
    /// signing key first: `{"keys":[{"kty":"OKP","crv":"Ed25519","x",
    /// "kid","alg":"EdDSA","use":"sig"}, …]}` (RFC 8037).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .verifiers
            .iter()
            .map(|v| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(v.public),
                    "kid": v.kid,
                    "alg": crate::jws::ALG,
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    /// The key a token's `kid` names, if it is one of ours.
    pub(crate) fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.iter().find(|v| v.kid == kid)
    }
}

impl Verifier {
    fn of(kid: &str, pair: &Ed25519KeyPair) -> Verifier {
        let mut public = [0u8; SEED_LEN];
        public.copy_from_slice(pair.public_key().as_ref());
        Verifier {
            kid: kid.to_owned(),
            public,
            // aws-lc verifies EdDSA against the raw 32-byte public key.
            decoding: DecodingKey::from_ed_der(&public),
        }
    }
}

/// Kids only, never key material.
impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.verifiers.iter().map(|v| v.kid.as_str()).collect();
        f.debug_struct("KeySet")
            .field("signing_kid", &self.signer.kid)
            .field("kids", &kids)
            .finish()
    }
}

fn check_kid(kid: &str) -> Result<(), ()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=MAX_KID_LEN).contains(&kid.len()) && kid.chars().all(allowed) {
        Ok(())
    } else {
        Err(())
    }
}

fn key_pair(seed: &str) -> Option<Ed25519KeyPair> {
    let seed = SEED_BASE64.decode(seed).ok()?;
    if seed.len() != SEED_LEN {
        return None;
    }
    Ed25519KeyPair::from_seed_unchecked(&seed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{RFC8037_ENTRY, RFC8037_SEED, RFC8037_X, entry, seed};

    #[test]
    fn the_rfc_8037_key_publishes_the_rfc_8037_public_key() {
        let keys = KeySet::parse(RFC8037_ENTRY).unwrap();
        assert_eq!(
            keys.jwks(),
            json!({"keys": [{
                "kty": "OKP", "crv": "Ed25519", "x": RFC8037_X,
                "kid": "rfc8037", "alg": "EdDSA", "use": "sig",
            }]})
        );
    }

    #[test]
    fn the_first_key_signs_and_every_key_is_published_in_order() {
        let keys = KeySet::parse(&format!(
            "{}, {} ,{}",
            entry("new", 2),
            entry("old", 1),
            RFC8037_ENTRY
        ))
        .unwrap();
        assert_eq!(keys.signing_kid(), "new");
        let jwks = keys.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["new", "old", "rfc8037"]);
        assert_eq!(jwks["keys"][2]["x"], RFC8037_X);
    }

    #[test]
    fn a_padded_seed_is_the_same_key() {
        let padded = format!("{RFC8037_ENTRY}=");
        assert_eq!(
            KeySet::parse(&padded).unwrap().jwks(),
            KeySet::parse(RFC8037_ENTRY).unwrap().jwks()
        );
    }

    #[test]
    fn errors_name_the_entry_and_never_the_seed() {
        let good = entry("a", 1);
        let short = format!("b:{}", SEED_BASE64.encode([7u8; 31]));
        let long = format!("b:{}", SEED_BASE64.encode([7u8; 33]));
        let not_base64 = format!("b:*{}", &seed(7)[1..]);
        let cases: Vec<(String, KeyError)> = vec![
            (String::new(), KeyError::Empty),
            ("  ".into(), KeyError::Empty),
            (format!("{good},"), KeyError::NotAnEntry { entry: 2 }),
            (
                format!("{good},{}", seed(7)),
                KeyError::NotAnEntry { entry: 2 },
            ),
            (format!(":{}", seed(7)), KeyError::InvalidKid { entry: 1 }),
            (
                format!("{good},b c:{}", seed(7)),
                KeyError::InvalidKid { entry: 2 },
            ),
            (
                format!("{good},{}:{}", "k".repeat(65), seed(7)),
                KeyError::InvalidKid { entry: 2 },
            ),
            (
                format!("{good},{short}"),
                KeyError::InvalidSeed {
                    entry: 2,
                    kid: "b".into(),
                },
            ),
            (
                format!("{good},{long}"),
                KeyError::InvalidSeed {
                    entry: 2,
                    kid: "b".into(),
                },
            ),
            (
                format!("{good},{not_base64}"),
                KeyError::InvalidSeed {
                    entry: 2,
                    kid: "b".into(),
                },
            ),
            (
                format!("{good},{}", entry("a", 7)),
                KeyError::DuplicateKid {
                    entry: 2,
                    kid: "a".into(),
                    first: 1,
                },
            ),
        ];
        for (spec, expected) in cases {
            let err = KeySet::parse(&spec).unwrap_err();
            assert_eq!(err, expected, "{spec}");
            let message = err.to_string();
            for secret in [seed(1), seed(7)] {
                assert!(!message.contains(&secret), "{message}");
            }
        }
        assert_eq!(
            KeySet::parse(&format!("{good},{short}"))
                .unwrap_err()
                .to_string(),
            "key 2 (`b`): the seed must be 32 bytes in base64url"
        );
    }

    #[test]
    fn debug_shows_kids_and_no_key_material() {
        let keys = KeySet::parse(&format!("{RFC8037_ENTRY},{}", entry("old", 1))).unwrap();
        let debug = format!("{keys:?}");
        assert_eq!(
            debug,
            r#"KeySet { signing_kid: "rfc8037", kids: ["rfc8037", "old"] }"#
        );
        assert!(!debug.contains(RFC8037_SEED) && !debug.contains(&seed(1)));
    }

    #[test]
    fn generated_entries_parse_and_differ() {
        let a = KeySet::generate_entry("2025-06").unwrap();
        let b = KeySet::generate_entry("2025-06").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("2025-06:") && !a.ends_with('='));
        assert_eq!(KeySet::parse(&a).unwrap().signing_kid(), "2025-06");
        assert_eq!(
            KeySet::generate_entry("no spaces"),
            Err(KeyError::InvalidKid { entry: 1 })
        );
    }
}

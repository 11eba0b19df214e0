//! Face templates sealed at rest: AES-256-GCM (aws-lc), each template bound
//! to the row it is stored in.
//!
//! Keys come from one setting, `kid:key[,kid:key…]` ([`TemplateKeys::parse`]),
//! each key 32 bytes in base64. The first key seals; every key opens, so a
//! key rotates by putting a new one first and keeping the old ones after it
//! for as long as templates sealed with them are stored. The key id is
//! stored beside each template, so opening picks its key.
//!
//! A sealed template is `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`,
//! the nonce random (aws-lc's `RandomizedNonceKey`). The additional
//! authenticated data is the [`Binding`]: the person's id, project,
//! identifier and the template's model. A template copied into another
//! person's row, or relabelled as another model, does not open: the tag
//! fails. A database dump holds no face without the keys.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Keys are standard base64 (`openssl rand -base64 32`); padding optional.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const MAX_KID_LEN: usize = 64;

/// What a sealed template is bound to: the row it belongs in.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    /// The person's id (the row's primary key).
    pub person: &'a str,
    pub project: &'a str,
    pub identifier: &'a str,
    /// The model that made the template.
    pub model: &'a str,
}

impl Binding<'_> {
    /// The AAD: a version tag, then each field's length and bytes, so that
    /// no two bindings share an encoding.
    fn aad(&self) -> Vec<u8> {
        let mut out = b"bv-template-v1".to_vec();
        for field in [self.person, self.project, self.identifier, self.model] {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }
}

/// Why a template key setting was refused. Entries are named by position
/// (from 1) and by kid once it is known to be well formed; never by key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateKeyError {
    #[error("no keys: expected `kid:key[,kid:key…]`, each key 32 bytes in base64")]
    Empty,
    #[error("key {entry}: expected `kid:key`")]
    NotAnEntry { entry: usize },
    #[error("key {entry}: the kid must be 1 to {MAX_KID_LEN} characters of A-Z a-z 0-9 . _ -")]
    InvalidKid { entry: usize },
    #[error(
        "key {entry} (`{kid}`): the key must be 32 bytes in base64 (`openssl rand -base64 32`)"
    )]
    InvalidKey { entry: usize, kid: String },
    #[error("key {entry}: the kid `{kid}` is already key {first}'s")]
    DuplicateKid {
        entry: usize,
        kid: String,
        first: usize,
    },
}

/// Why a stored template did not open.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the template was sealed with key `{kid}`, which is not in biometrics.template_keys")]
    UnknownKey { kid: String },
    #[error(
        "the template does not open with key `{kid}`: it was altered, or belongs to another row"
    )]
    Tampered { kid: String },
}

/// A sealed template and the id of the key that sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub kid: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("kid", &self.kid)
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .finish()
    }
}

/// AES-256-GCM keys by kid: the first seals, every one opens.
///
/// Not `Clone`: share it behind an `Arc`, so keys are not copied around.
pub struct TemplateKeys {
    keys: Vec<(String, RandomizedNonceKey)>,
}

impl TemplateKeys {
    /// Parses `kid:key[,kid:key…]`: kid 1 to 64 characters of
    /// `[A-Za-z0-9._-]`, key the base64 of 32 bytes. Whitespace around an
    /// entry is ignored; duplicate kids are refused.
    pub fn parse(spec: &str) -> Result<TemplateKeys, TemplateKeyError> {
        if spec.trim().is_empty() {
            return Err(TemplateKeyError::Empty);
        }
        let mut keys: Vec<(String, RandomizedNonceKey)> = Vec::new();
        for (index, entry) in spec.split(',').enumerate() {
            let number = index + 1;
            let (kid, key) = entry
                .trim()
                .split_once(':')
                .ok_or(TemplateKeyError::NotAnEntry { entry: number })?;
            if !valid_kid(kid) {
                return Err(TemplateKeyError::InvalidKid { entry: number });
            }
            if let Some(first) = keys.iter().position(|(k, _)| k == kid) {
                return Err(TemplateKeyError::DuplicateKid {
                    entry: number,
                    kid: kid.to_owned(),
                    first: first + 1,
                });
            }
            let key = KEY_BASE64
                .decode(key.trim())
                .ok()
                .filter(|bytes| bytes.len() == KEY_LEN)
                .and_then(|bytes| RandomizedNonceKey::new(&AES_256_GCM, &bytes).ok())
                .ok_or_else(|| TemplateKeyError::InvalidKey {
                    entry: number,
                    kid: kid.to_owned(),
                })?;
            keys.push((kid.to_owned(), key));
        }
        Ok(TemplateKeys { keys })
    }

    /// A fresh `kid:key` entry, its key from aws-lc's RNG.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn generate_entry(kid: &str) -> Result<String, TemplateKeyError> {
        if !valid_kid(kid) {
            return Err(TemplateKeyError::InvalidKid { entry: 1 });
        }
        let mut key = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut key).expect("the system's random number generator failed");
        Ok(format!("{kid}:{}", KEY_BASE64.encode(key)))
    }

    /// The kid new templates are sealed with.
    pub fn sealing_kid(&self) -> &str {
        // `parse` refuses an empty set.
        self.keys.first().map(|(kid, _)| kid.as_str()).unwrap_or("")
    }

    /// Seals a template for the row `binding` names, with the first key.
    ///
    /// # Panics
    /// If aws-lc cannot seal (its RNG failed): nothing may be stored then.
    pub fn seal(&self, template: &[u8], binding: &Binding<'_>) -> Sealed {
        let (kid, key) = &self.keys[0];
        let mut in_out = template.to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(binding.aad()), &mut in_out)
            .expect("aws-lc failed to seal a template");
        let mut bytes = Vec::with_capacity(NONCE_LEN + in_out.len());
        bytes.extend_from_slice(nonce.as_ref());
        bytes.extend_from_slice(&in_out);
        Sealed {
            kid: kid.clone(),
            bytes,
        }
    }

    /// Opens a template sealed with key `kid` for the row `binding` names.
    pub fn open(&self, sealed: &Sealed, binding: &Binding<'_>) -> Result<Vec<u8>, OpenError> {
        let kid = &sealed.kid;
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or_else(|| OpenError::UnknownKey { kid: kid.clone() })?;
        let tampered = || OpenError::Tampered { kid: kid.clone() };
        if sealed.bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(tampered());
        }
        let (nonce, body) = sealed.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| tampered())?;
        let mut in_out = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(binding.aad()), &mut in_out)
            .map_err(|_| tampered())?;
        Ok(plain.to_vec())
    }
}

/// Kids only, never keys.
impl fmt::Debug for TemplateKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("TemplateKeys").field("kids", &kids).finish()
    }
}

fn valid_kid(kid: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    (1..=MAX_KID_LEN).contains(&kid.len()) && kid.chars().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kid:key` with the key 32 bytes of `byte`.
    fn entry(kid: &str, byte: u8) -> String {
        format!("{kid}:{}", KEY_BASE64.encode([byte; KEY_LEN]))
    }

    fn binding<'a>(person: &'a str) -> Binding<'a> {
        Binding {
            person,
            project: "project_1",
            identifier: "user@example.com",
            model: "dlib-resnet-v1",
        }
    }

    const TEMPLATE: &[u8] = b"0123456789abcdef0123456789abcdef: a face, as bytes";

    #[test]
    fn a_sealed_template_is_not_the_template_and_opens_to_it() {
        let keys = TemplateKeys::parse(&entry("k1", 7)).unwrap();
        let sealed = keys.seal(TEMPLATE, &binding("p1"));
        assert_eq!(sealed.kid, "k1");
        assert_eq!(sealed.bytes.len(), 12 + TEMPLATE.len() + 16);
        assert!(
            !sealed
                .bytes
                .windows(8)
                .any(|w| TEMPLATE.windows(8).any(|t| t == w)),
            "no 8 bytes of the template appear in what is stored"
        );
        assert_eq!(keys.open(&sealed, &binding("p1")).unwrap(), TEMPLATE);
        // A fresh nonce each time: the same template seals differently.
        assert_ne!(keys.seal(TEMPLATE, &binding("p1")).bytes, sealed.bytes);
    }

    #[test]
    fn a_template_moved_to_another_row_or_model_does_not_open() {
        let keys = TemplateKeys::parse(&entry("k1", 7)).unwrap();
        let sealed = keys.seal(TEMPLATE, &binding("p1"));
        let tampered = Err(OpenError::Tampered { kid: "k1".into() });
        assert_eq!(keys.open(&sealed, &binding("p2")), tampered);
        let other_project = Binding {
            project: "project_2",
            ..binding("p1")
        };
        assert_eq!(keys.open(&sealed, &other_project), tampered);
        let other_identifier = Binding {
            identifier: "someone@example.com",
            ..binding("p1")
        };
        assert_eq!(keys.open(&sealed, &other_identifier), tampered);
        let other_model = Binding {
            model: "sandbox-1",
            ..binding("p1")
        };
        assert_eq!(keys.open(&sealed, &other_model), tampered);

        let mut flipped = sealed.clone();
        flipped.bytes[20] ^= 1;
        assert_eq!(keys.open(&flipped, &binding("p1")), tampered);
        let short = Sealed {
            kid: "k1".into(),
            bytes: vec![0; 27],
        };
        assert_eq!(keys.open(&short, &binding("p1")), tampered);
    }

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let keys = TemplateKeys::parse(&entry("k1", 7)).unwrap();
        let a = Binding {
            person: "p1",
            project: "ab",
            identifier: "c",
            model: "m",
        };
        let b = Binding {
            project: "a",
            identifier: "bc",
            ..a
        };
        let sealed = keys.seal(TEMPLATE, &a);
        assert!(keys.open(&sealed, &b).is_err());
    }

    #[test]
    fn rotation_seals_with_the_first_key_and_opens_with_any() {
        let old = TemplateKeys::parse(&entry("old", 1)).unwrap();
        let sealed_old = old.seal(TEMPLATE, &binding("p1"));

        let rotated =
            TemplateKeys::parse(&format!("{}, {}", entry("new", 2), entry("old", 1))).unwrap();
        assert_eq!(rotated.sealing_kid(), "new");
        assert_eq!(rotated.open(&sealed_old, &binding("p1")).unwrap(), TEMPLATE);
        let sealed_new = rotated.seal(TEMPLATE, &binding("p1"));
        assert_eq!(sealed_new.kid, "new");

        // Once the old key is dropped, what it sealed no longer opens.
        let new_only = TemplateKeys::parse(&entry("new", 2)).unwrap();
        assert_eq!(
            new_only.open(&sealed_new, &binding("p1")).unwrap(),
            TEMPLATE
        );
        assert_eq!(
            new_only.open(&sealed_old, &binding("p1")),
            Err(OpenError::UnknownKey { kid: "old".into() })
        );
        // A key of another value under the same kid does not open it either.
        let impostor = TemplateKeys::parse(&entry("old", 9)).unwrap();
        assert_eq!(
            impostor.open(&sealed_old, &binding("p1")),
            Err(OpenError::Tampered { kid: "old".into() })
        );
    }

    #[test]
    fn bad_settings_are_refused_without_showing_a_key() {
        let cases = [
            ("", TemplateKeyError::Empty),
            ("  ", TemplateKeyError::Empty),
            ("nokey", TemplateKeyError::NotAnEntry { entry: 1 }),
            (
                &format!("bad kid!:{}", KEY_BASE64.encode([1; 32])),
                TemplateKeyError::InvalidKid { entry: 1 },
            ),
            (
                &format!("k1:{}", KEY_BASE64.encode([1; 16])),
                TemplateKeyError::InvalidKey {
                    entry: 1,
                    kid: "k1".into(),
                },
            ),
            (
                &format!("{},{}", entry("k1", 1), entry("k1", 2)),
                TemplateKeyError::DuplicateKid {
                    entry: 2,
                    kid: "k1".into(),
                    first: 1,
                },
            ),
        ];
        for (spec, expected) in cases {
            let err = TemplateKeys::parse(spec).unwrap_err();
            assert_eq!(err, expected, "{spec:?}");
            assert!(!err.to_string().contains("AQEB"), "{err}");
        }
        let keys = TemplateKeys::parse(&entry("k1", 1)).unwrap();
        assert_eq!(format!("{keys:?}"), r#"TemplateKeys { kids: ["k1"] }"#);
    }

    #[test]
    fn a_generated_entry_parses() {
        let entry = TemplateKeys::generate_entry("tk-1").unwrap();
        let keys = TemplateKeys::parse(&entry).unwrap();
        assert_eq!(keys.sealing_kid(), "tk-1");
        assert!(TemplateKeys::generate_entry("no spaces").is_err());
    }
}

//! Ed25519 (EdDSA) signatures for the two things the service signs: session
//! tokens (a JWT scoped to one validation, in the hosted page's link) and
//! signed results (a compact JWS over a validation's outcome, which a relying
//! party checks offline against our published JWKS).
//!
//! Both are compact JWS with the protected header
//! `{"alg":"EdDSA","typ":"JWT","kid":"…"}`. They share the header because both
//! payloads are JWT claims sets and because generic JWT libraries (Nimbus, for
//! one) accept `typ: JWT` by default; they are told apart by their claims: a
//! session token carries `aud: "bv-session"` and `exp`, a result carries no
//! `aud`, and each verifier refuses the other kind.
//!
//! Keys come from one setting, `kid:seed[,kid:seed…]` ([`KeySet::parse`]).
//! Only the first key's private half is kept (it signs); the others are kept
//! as public keys, to verify and to publish. Ed25519 signatures are
//! deterministic, so the worker and the ingress signing the same claims with
//! the same key write the same string.
//!
//! The crate also seals face templates at rest ([`sealing`]): AES-256-GCM
//! from the same aws-lc, with keys of their own (`biometrics.template_keys`).

mod jws;
mod keys;
mod result;
pub mod sealing;
mod session;

pub use jws::{Token, TokenError};
pub use keys::{KeyError, KeySet};
pub use sealing::{Binding, OpenError, Sealed, TemplateKeyError, TemplateKeys};

#[cfg(test)]
mod fixtures;

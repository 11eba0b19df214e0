//! The biometric engine: the interface every face engine implements, the
//! rules that turn an engine's analysis into a decision, a deterministic
//! sandbox engine for integrators' tests, and safe image decoding.
//!
//! An [`Engine`] only measures: it finds the face in each capture, checks
//! quality and liveness, and turns the face into a [`Template`]; it compares
//! two templates. What the measurements *mean* for a `login`, an
//! `onboarding` or a `validation` is decided once, for every engine, by
//! [`rules::evaluate`]. The worker decodes the captures
//! ([`image::decode_base64`]), calls `evaluate` on a blocking thread, and
//! stores what it returns; the ingress decodes them too, only to refuse bad
//! images before they are queued.

pub mod image;
pub mod rules;
pub mod sandbox;

use std::fmt;

use bv_contract::{ChallengeStep, LivenessMode, Reason};

pub use crate::image::{Capture, ImageError, ImageLimits, decode_base64, decode_bytes};
pub use crate::rules::{EvaluateInput, Evaluation, evaluate};
pub use crate::sandbox::SandboxEngine;

/// A face template: opaque bytes of one model, so that templates of
/// different models are never compared.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    /// The model (and its version) that produced the bytes, e.g. `sandbox-1`.
    pub model: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Template {
    /// The model and the length only: a template is biometric data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("model", &self.model)
            .field("bytes", &format_args!("[{} bytes]", self.bytes.len()))
            .finish()
    }
}

/// One decoded capture and, when it answers a challenge, the step it
/// answers and the burst of frames taken while the person moved to it.
#[derive(Clone, Copy, Debug)]
pub struct CaptureInput<'a> {
    pub step: Option<ChallengeStep>,
    pub image: &'a Capture,
    /// Oldest first, ending before `image`; empty when none was sent.
    pub burst: &'a [Capture],
}

/// Everything an engine may look at for one attempt.
#[derive(Clone, Copy, Debug)]
pub struct AnalyzeInput<'a> {
    /// The validation's identifier. Only the sandbox looks at it; a face
    /// engine must not.
    pub identifier: &'a str,
    /// The 1-based number of this attempt within its validation.
    pub attempt: u32,
    /// The flow's liveness mode.
    pub liveness: LivenessMode,
    /// The steps of the challenge the captures answer, when there is one.
    pub challenge: Option<&'a [ChallengeStep]>,
    pub captures: &'a [CaptureInput<'a>],
}

/// What an engine measured in one attempt's captures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    /// What stops the captures from being judged (`NO_FACE`,
    /// `MULTIPLE_FACES`, `POOR_QUALITY`); empty when a face was found.
    pub problems: Vec<Reason>,
    /// The liveness score in [0, 1], when it was measured.
    pub liveness: Option<f32>,
    /// The face's template. Present whenever `problems` is empty; the rules
    /// count a missing one as `POOR_QUALITY` (the face could not be embedded).
    pub template: Option<Template>,
}

/// A face engine. Implementations measure and never decide: the decision
/// is [`rules::evaluate`]'s, the same for every engine.
pub trait Engine: Send + Sync {
    /// The engine's name, recorded with each attempt (e.g. `sandbox`).
    fn name(&self) -> &'static str;

    /// The engine's version, recorded with each attempt.
    fn version(&self) -> &'static str;

    /// The steps of a new challenge for a flow with this liveness mode:
    /// for `active`, several, in an order the engine chooses; otherwise
    /// `[Front]`.
    fn challenge(&self, liveness: LivenessMode) -> Vec<ChallengeStep>;

    /// The match score at and above which two templates are the same person,
    /// when the flow does not set its own.
    fn default_match_threshold(&self) -> f32;

    /// The liveness score at and above which captures are of a live person.
    fn liveness_threshold(&self) -> f32;

    /// Detects the face in each capture, checks quality and liveness, and
    /// embeds the face. CPU-bound: callers run it on a blocking thread.
    fn analyze(&self, input: &AnalyzeInput<'_>) -> Analysis;

    /// The similarity of two templates in [0, 1]; `None` when they are of
    /// different models and cannot be compared.
    fn compare(&self, a: &Template, b: &Template) -> Option<f32>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_never_prints_its_bytes() {
        let template = Template {
            model: "sandbox-1".to_owned(),
            bytes: vec![0xAB; 32],
        };
        let printed = format!("{template:?}");
        assert_eq!(
            printed,
            r#"Template { model: "sandbox-1", bytes: [32 bytes] }"#
        );
    }
}

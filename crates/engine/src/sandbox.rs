//! The sandbox engine: deterministic outcomes for integrators' tests.
//!
//! The sandbox looks at no face. Each attempt's outcome is chosen by
//! markers in the validation's `identifier`, found anywhere in it and in any
//! case (`user-42+sandbox-spoof`, `SANDBOX-NO-FACE-7`). The images must still
//! be JPEG or PNG captures that decode; what they show does not matter.
//!
//! | Marker in the identifier | Outcome |
//! |---|---|
//! | `sandbox-no-face` | fails with `NO_FACE` |
//! | `sandbox-multiple-faces` | fails with `MULTIPLE_FACES` |
//! | `sandbox-poor-quality` | fails with `POOR_QUALITY` |
//! | `sandbox-spoof` | liveness 0.08: fails with `LIVENESS_FAILED` whenever the flow checks liveness (`passive` or `active`) |
//! | `sandbox-fail-first` | the validation's first attempt has liveness 0.08 (fails with `LIVENESS_FAILED` when the flow checks liveness); later attempts pass |
//! | `sandbox-impostor` | a face that matches nobody, not even itself: with nobody enrolled for the identifier, `onboarding` passes and enrols it; from then on every attempt for that identifier fails with `FACE_MISMATCH` (match 0.21) |
//! | none of these | liveness 0.97 and the identifier's own face |
//!
//! - The identifier's own face is the same for every attempt with that
//!   identifier, whatever its case: `onboarding` enrols it, and a later
//!   `login`, `validation` or `oneTimeLink` with the same identifier matches
//!   it (match 0.94). Faces of different identifiers match 0.21.
//! - The liveness threshold is 0.5; the default match threshold is 0.8 (a
//!   flow may set its own: above 0.94 nothing matches, below 0.21
//!   everything does).
//! - `NO_FACE`, `MULTIPLE_FACES` and `POOR_QUALITY` come before liveness,
//!   and liveness before matching; markers combine (`sandbox-no-face` and
//!   `sandbox-poor-quality` fail with both reasons).
//! - An `active` liveness challenge is `front`, `left`, `right`; otherwise
//!   `front`.
//! - The rules every engine shares still apply: `login` with nobody
//!   enrolled fails with `PERSON_NOT_ENROLLED`, an expired challenge with
//!   `CHALLENGE_EXPIRED`, frames that do not follow the challenge with
//!   `CHALLENGE_MISMATCH`.

use bv_contract::{ChallengeStep, LivenessMode, Reason};
use sha2::{Digest, Sha256};

use crate::{Analysis, AnalyzeInput, Engine, Template};

/// The model of the sandbox's templates.
pub const MODEL: &str = "sandbox-1";

/// The markers that stop the captures from being judged, with their reason.
const PROBLEMS: [(&str, Reason); 3] = [
    ("sandbox-no-face", Reason::NoFace),
    ("sandbox-multiple-faces", Reason::MultipleFaces),
    ("sandbox-poor-quality", Reason::PoorQuality),
];
const SPOOF: &str = "sandbox-spoof";
const FAIL_FIRST: &str = "sandbox-fail-first";
const IMPOSTOR: &str = "sandbox-impostor";

const LIVE: f32 = 0.97;
const SPOOFED: f32 = 0.08;
const SAME_FACE: f32 = 0.94;
const OTHER_FACE: f32 = 0.21;

/// How an impostor's template begins: the sandbox's `compare` reads it, so
/// that an impostor matches nobody, not even the impostor enrolled by an
/// earlier `onboarding` (which is what lets a test enrol and then fail a
/// login under one identifier).
const IMPOSTOR_TAG: &[u8] = b"impostor:";

/// The sandbox engine (module docs: its rules, as integrators read them).
#[derive(Clone, Copy, Debug, Default)]
pub struct SandboxEngine;

impl Engine for SandboxEngine {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn challenge(&self, liveness: LivenessMode) -> Vec<ChallengeStep> {
        match liveness {
            LivenessMode::Active => vec![
                ChallengeStep::Front,
                ChallengeStep::Left,
                ChallengeStep::Right,
            ],
            LivenessMode::None | LivenessMode::Passive => vec![ChallengeStep::Front],
        }
    }

    fn default_match_threshold(&self) -> f32 {
        0.8
    }

    fn liveness_threshold(&self) -> f32 {
        0.5
    }

    fn analyze(&self, input: &AnalyzeInput<'_>) -> Analysis {
        let identifier = input.identifier.to_lowercase();

        let problems: Vec<Reason> = PROBLEMS
            .iter()
            .filter(|(marker, _)| identifier.contains(marker))
            .map(|&(_, reason)| reason)
            .collect();
        if !problems.is_empty() {
            return Analysis {
                problems,
                liveness: None,
                template: None,
            };
        }
        // Like a real engine, no capture is no face.
        if input.captures.is_empty() {
            return Analysis {
                problems: vec![Reason::NoFace],
                liveness: None,
                template: None,
            };
        }

        let spoofed =
            identifier.contains(SPOOF) || (identifier.contains(FAIL_FIRST) && input.attempt <= 1);
        let liveness = if spoofed { SPOOFED } else { LIVE };
        Analysis {
            problems: Vec::new(),
            liveness: Some(liveness),
            template: Some(face(&identifier)),
        }
    }

    fn compare(&self, a: &Template, b: &Template) -> Option<f32> {
        if a.model != MODEL || b.model != MODEL {
            return None;
        }
        let same_face = a.bytes == b.bytes && !a.bytes.starts_with(IMPOSTOR_TAG);
        Some(if same_face { SAME_FACE } else { OTHER_FACE })
    }
}

/// The face of a lower-cased identifier: sha256 of `sandbox:` and the
/// identifier without its `sandbox-impostor` marker; an impostor's is the
/// same, tagged, so it is never that face.
fn face(identifier: &str) -> Template {
    let key = identifier.replace(IMPOSTOR, "");
    let digest = Sha256::digest(format!("sandbox:{key}").as_bytes());
    let bytes = if identifier.contains(IMPOSTOR) {
        [IMPOSTOR_TAG, &digest[..]].concat()
    } else {
        digest.to_vec()
    };
    Template {
        model: MODEL.to_owned(),
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use bv_contract::{Decision, ValidationType};

    use super::*;
    use crate::rules::{EvaluateInput, Evaluation, evaluate};
    use crate::{Capture, CaptureInput};

    fn capture() -> Capture {
        Capture {
            width: 2,
            height: 2,
            rgb: image::RgbImage::new(2, 2),
        }
    }

    fn analyze(identifier: &str, attempt: u32) -> Analysis {
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        SandboxEngine.analyze(&AnalyzeInput {
            identifier,
            attempt,
            liveness: LivenessMode::Passive,
            challenge: None,
            captures: &captures,
        })
    }

    /// One attempt through the shared rules, as the worker runs it.
    fn attempt(
        kind: ValidationType,
        identifier: &str,
        number: u32,
        liveness: LivenessMode,
        enrolled: Option<&Template>,
    ) -> Evaluation {
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        evaluate(
            &SandboxEngine,
            &EvaluateInput {
                kind,
                analyze: AnalyzeInput {
                    identifier,
                    attempt: number,
                    liveness,
                    challenge: None,
                    captures: &captures,
                },
                enrolled,
                match_threshold: None,
                challenge_expired: false,
            },
        )
    }

    #[test]
    fn it_names_itself_and_its_thresholds() {
        assert_eq!(SandboxEngine.name(), "sandbox");
        assert_eq!(SandboxEngine.version(), env!("CARGO_PKG_VERSION"));
        assert_eq!(SandboxEngine.default_match_threshold(), 0.8);
        assert_eq!(SandboxEngine.liveness_threshold(), 0.5);
    }

    #[test]
    fn an_active_challenge_is_front_left_right() {
        use ChallengeStep::{Front, Left, Right};
        assert_eq!(
            SandboxEngine.challenge(LivenessMode::Active),
            [Front, Left, Right]
        );
        assert_eq!(SandboxEngine.challenge(LivenessMode::Passive), [Front]);
        assert_eq!(SandboxEngine.challenge(LivenessMode::None), [Front]);
    }

    #[test]
    fn problem_markers_are_reported_in_any_case_and_combine() {
        let cases: [(&str, &[Reason]); 5] = [
            ("user-1+sandbox-no-face", &[Reason::NoFace]),
            ("SANDBOX-MULTIPLE-FACES", &[Reason::MultipleFaces]),
            ("x-Sandbox-Poor-Quality-y", &[Reason::PoorQuality]),
            (
                "sandbox-no-face+sandbox-poor-quality",
                &[Reason::NoFace, Reason::PoorQuality],
            ),
            ("user-1", &[]),
        ];
        for (identifier, problems) in cases {
            let analysis = analyze(identifier, 1);
            assert_eq!(analysis.problems, problems, "{identifier}");
            assert_eq!(
                analysis.template.is_some(),
                problems.is_empty(),
                "{identifier}"
            );
        }
        let e = attempt(
            ValidationType::Validation,
            "sandbox-multiple-faces",
            1,
            LivenessMode::None,
            None,
        );
        assert_eq!(
            (e.decision, e.reasons),
            (Decision::Fail, vec![Reason::MultipleFaces])
        );
    }

    #[test]
    fn no_capture_is_no_face() {
        let analysis = SandboxEngine.analyze(&AnalyzeInput {
            identifier: "user-1",
            attempt: 1,
            liveness: LivenessMode::Passive,
            challenge: None,
            captures: &[],
        });
        assert_eq!(analysis.problems, [Reason::NoFace]);
    }

    #[test]
    fn a_spoof_fails_whenever_liveness_is_checked() {
        assert_eq!(analyze("user-1+Sandbox-Spoof", 1).liveness, Some(0.08));
        assert_eq!(analyze("user-1", 1).liveness, Some(0.97));
        for mode in [LivenessMode::Passive, LivenessMode::Active] {
            for number in [1, 2, 5] {
                let e = attempt(
                    ValidationType::Validation,
                    "user-1+sandbox-spoof",
                    number,
                    mode,
                    None,
                );
                assert_eq!(
                    e.reasons,
                    [Reason::LivenessFailed],
                    "{mode} attempt {number}"
                );
            }
        }
        let e = attempt(
            ValidationType::Validation,
            "user-1+sandbox-spoof",
            1,
            LivenessMode::None,
            None,
        );
        assert_eq!(e.decision, Decision::Pass, "{e:?}");
    }

    #[test]
    fn fail_first_fails_the_first_attempt_only() {
        assert_eq!(analyze("sandbox-fail-first", 1).liveness, Some(0.08));
        assert_eq!(analyze("sandbox-fail-first", 2).liveness, Some(0.97));

        let first = attempt(
            ValidationType::Validation,
            "u+SANDBOX-FAIL-FIRST",
            1,
            LivenessMode::Passive,
            None,
        );
        assert_eq!(first.reasons, [Reason::LivenessFailed]);
        for number in [2, 3] {
            let later = attempt(
                ValidationType::Validation,
                "u+sandbox-fail-first",
                number,
                LivenessMode::Passive,
                None,
            );
            assert_eq!(
                later.decision,
                Decision::Pass,
                "attempt {number}: {later:?}"
            );
        }
    }

    #[test]
    fn the_identifiers_face_is_its_lower_cased_hash() {
        let template = analyze("User-1", 1).template.unwrap();
        assert_eq!(template.model, "sandbox-1");
        assert_eq!(template.bytes, Sha256::digest(b"sandbox:user-1").to_vec());
        assert_eq!(analyze("USER-1", 3).template, Some(template.clone()));
        assert_ne!(analyze("user-2", 1).template, Some(template));
    }

    #[test]
    fn compare_scores_the_same_face_094_another_021_another_model_none() {
        let alice = analyze("alice", 1).template.unwrap();
        let bob = analyze("bob", 1).template.unwrap();
        assert_eq!(SandboxEngine.compare(&alice, &alice.clone()), Some(0.94));
        assert_eq!(SandboxEngine.compare(&alice, &bob), Some(0.21));
        let foreign = Template {
            model: "face-1".to_owned(),
            bytes: alice.bytes.clone(),
        };
        assert_eq!(SandboxEngine.compare(&alice, &foreign), None);
        assert_eq!(SandboxEngine.compare(&foreign, &alice), None);
    }

    #[test]
    fn onboarding_then_login_with_the_same_identifier_matches() {
        let onboarding = attempt(
            ValidationType::Onboarding,
            "Alice",
            1,
            LivenessMode::Active,
            None,
        );
        assert_eq!(onboarding.decision, Decision::Pass);
        let person = onboarding.enrol.unwrap();

        let login = attempt(
            ValidationType::Login,
            "alice",
            1,
            LivenessMode::Active,
            Some(&person),
        );
        assert_eq!(login.decision, Decision::Pass, "{login:?}");
        assert!(login.matched);
        assert_eq!(login.scores.face_match, Some(0.94));
    }

    #[test]
    fn an_impostor_enrols_then_matches_nobody() {
        let id = "bob+sandbox-impostor";
        let impostor = analyze(id, 1).template.unwrap();
        let bob = analyze("bob+", 1).template.unwrap();
        assert_eq!(
            SandboxEngine.compare(&bob, &impostor),
            Some(0.21),
            "not the face it claims"
        );
        assert_eq!(
            SandboxEngine.compare(&impostor, &impostor.clone()),
            Some(0.21),
            "not even itself"
        );

        let onboarding = attempt(
            ValidationType::Onboarding,
            id,
            1,
            LivenessMode::Passive,
            None,
        );
        assert_eq!(onboarding.decision, Decision::Pass);
        let person = onboarding.enrol.unwrap();
        for kind in ValidationType::ALL {
            let e = attempt(*kind, id, 1, LivenessMode::Passive, Some(&person));
            assert_eq!(e.reasons, [Reason::FaceMismatch], "{kind}");
            assert_eq!(e.scores.face_match, Some(0.21), "{kind}");
        }
    }

    #[test]
    fn login_with_nobody_enrolled_fails_as_with_any_engine() {
        let e = attempt(
            ValidationType::Login,
            "carol",
            1,
            LivenessMode::Passive,
            None,
        );
        assert_eq!(e.reasons, [Reason::PersonNotEnrolled]);
    }
}

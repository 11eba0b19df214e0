//! What an engine's analysis means for each validation type: the decision
//! rules shared by every engine (Verifik's meaning of the types).
//!
//! In order, the first that applies decides:
//!
//! 1. The challenge expired before the captures arrived: `CHALLENGE_EXPIRED`.
//! 2. There is a challenge and the captures' steps are not exactly its
//!    steps, in its order: `CHALLENGE_MISMATCH`.
//!
//!    Neither runs the engine: the captures are not looked at.
//! 3. The engine found problems (`NO_FACE`, `MULTIPLE_FACES`,
//!    `POOR_QUALITY`): fail with them.
//! 4. The flow checks liveness (`passive` or `active`) and the liveness
//!    score is missing or below the engine's threshold: `LIVENESS_FAILED`.
//! 5. A person is enrolled for the identifier: whatever the type, the face
//!    must match theirs (a score at or above the flow's match threshold, or
//!    the engine's default), else `FACE_MISMATCH`. A match passes and never
//!    enrols: `onboarding` again cannot replace someone's face. A template
//!    of another model cannot be compared, and counts as `FACE_MISMATCH`
//!    (re-enrolment with the new engine is the way out).
//! 6. Nobody is enrolled: `onboarding` passes and enrols the face; `login`
//!    fails `PERSON_NOT_ENROLLED`; `validation` and `oneTimeLink` pass on
//!    liveness alone.

use bv_contract::{ChallengeStep, Decision, LivenessMode, Reason, Scores, ValidationType};

use crate::{AnalyzeInput, Engine, Template};

/// One attempt to decide.
#[derive(Clone, Copy, Debug)]
pub struct EvaluateInput<'a> {
    /// The validation's type.
    pub kind: ValidationType,
    /// What the engine analyzes.
    pub analyze: AnalyzeInput<'a>,
    /// The template of the person enrolled for the identifier, if any.
    pub enrolled: Option<&'a Template>,
    /// The flow's match threshold; `None` for the engine's default.
    pub match_threshold: Option<f32>,
    /// Whether the challenge the captures answer expired before they arrived.
    pub challenge_expired: bool,
}

/// The decision on one attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub decision: Decision,
    /// Empty on a pass; at least one on a fail.
    pub reasons: Vec<Reason>,
    /// The liveness score the engine measured, and the match score when a
    /// comparison was made.
    pub scores: Scores,
    /// The template to enrol for the identifier (a passing `onboarding` with
    /// nobody enrolled).
    pub enrol: Option<Template>,
    /// Whether the face matched the enrolled person.
    pub matched: bool,
}

impl Evaluation {
    fn fail(reasons: Vec<Reason>, scores: Scores) -> Self {
        debug_assert!(!reasons.is_empty(), "a fail says why");
        Evaluation {
            decision: Decision::Fail,
            reasons,
            scores,
            enrol: None,
            matched: false,
        }
    }

    fn pass(scores: Scores, enrol: Option<Template>, matched: bool) -> Self {
        Evaluation {
            decision: Decision::Pass,
            reasons: Vec::new(),
            scores,
            enrol,
            matched,
        }
    }
}

/// Decides one attempt with `engine` (module docs: the rules, in order).
/// Runs the engine's analysis, so it is CPU-bound like `Engine::analyze`.
pub fn evaluate(engine: &dyn Engine, input: &EvaluateInput<'_>) -> Evaluation {
    let steps: Vec<Option<ChallengeStep>> = input.analyze.captures.iter().map(|c| c.step).collect();
    if let Some(failed) = before_analysis(input.challenge_expired, input.analyze.challenge, &steps)
    {
        return failed;
    }

    let analysis = engine.analyze(&input.analyze);
    let mut scores = Scores {
        liveness: analysis.liveness,
        face_match: None,
    };
    if !analysis.problems.is_empty() {
        return Evaluation::fail(analysis.problems, scores);
    }
    let checks_liveness = input.analyze.liveness != LivenessMode::None;
    let live = analysis
        .liveness
        .is_some_and(|score| score >= engine.liveness_threshold());
    if checks_liveness && !live {
        return Evaluation::fail(vec![Reason::LivenessFailed], scores);
    }
    let Some(template) = analysis.template else {
        return Evaluation::fail(vec![Reason::PoorQuality], scores);
    };

    let Some(enrolled) = input.enrolled else {
        return match input.kind {
            ValidationType::Onboarding => Evaluation::pass(scores, Some(template), false),
            ValidationType::Login => Evaluation::fail(vec![Reason::PersonNotEnrolled], scores),
            ValidationType::Validation | ValidationType::OneTimeLink => {
                Evaluation::pass(scores, None, false)
            }
        };
    };
    let threshold = input
        .match_threshold
        .unwrap_or_else(|| engine.default_match_threshold());
    scores.face_match = engine.compare(enrolled, &template);
    if scores.face_match.is_some_and(|score| score >= threshold) {
        Evaluation::pass(scores, None, true)
    } else {
        Evaluation::fail(vec![Reason::FaceMismatch], scores)
    }
}

/// Whether the captures answer the challenge's steps, one each, in order.
/// The decision that needs no pixels: a challenge answered too late, or not
/// in its steps' order. The worker asks before it decodes a frame, so such
/// an answer costs nothing to refuse.
pub fn before_analysis(
    challenge_expired: bool,
    challenge: Option<&[ChallengeStep]>,
    steps: &[Option<ChallengeStep>],
) -> Option<Evaluation> {
    if challenge_expired {
        return Some(Evaluation::fail(
            vec![Reason::ChallengeExpired],
            Scores::default(),
        ));
    }
    if challenge.is_some_and(|challenge| !follows(challenge, steps)) {
        return Some(Evaluation::fail(
            vec![Reason::ChallengeMismatch],
            Scores::default(),
        ));
    }
    None
}

fn follows(challenge: &[ChallengeStep], steps: &[Option<ChallengeStep>]) -> bool {
    challenge.len() == steps.len()
        && challenge
            .iter()
            .zip(steps)
            .all(|(step, sent)| *sent == Some(*step))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{Analysis, Capture, CaptureInput};

    /// An engine that returns a fixed analysis and similarity, and counts
    /// how often it was asked to analyze.
    struct Scripted {
        analysis: Analysis,
        similarity: Option<f32>,
        analyzed: AtomicUsize,
    }

    const LIVENESS_THRESHOLD: f32 = 0.5;
    const DEFAULT_MATCH: f32 = 0.8;

    impl Scripted {
        /// A live face (liveness 0.9) whose template is `face`, matching the
        /// enrolled person with `similarity`.
        fn live(similarity: Option<f32>) -> Self {
            Scripted::with(
                Analysis {
                    problems: vec![],
                    liveness: Some(0.9),
                    template: Some(face("new")),
                },
                similarity,
            )
        }

        fn with(analysis: Analysis, similarity: Option<f32>) -> Self {
            Scripted {
                analysis,
                similarity,
                analyzed: AtomicUsize::new(0),
            }
        }

        fn analyzed(&self) -> usize {
            self.analyzed.load(Ordering::SeqCst)
        }
    }

    impl Engine for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn version(&self) -> &'static str {
            "0"
        }
        fn challenge(&self, _: LivenessMode) -> Vec<ChallengeStep> {
            vec![ChallengeStep::Front]
        }
        fn default_match_threshold(&self) -> f32 {
            DEFAULT_MATCH
        }
        fn liveness_threshold(&self) -> f32 {
            LIVENESS_THRESHOLD
        }
        fn analyze(&self, _: &AnalyzeInput<'_>) -> Analysis {
            self.analyzed.fetch_add(1, Ordering::SeqCst);
            self.analysis.clone()
        }
        fn compare(&self, _: &Template, _: &Template) -> Option<f32> {
            self.similarity
        }
    }

    fn face(name: &str) -> Template {
        Template {
            model: "scripted-1".to_owned(),
            bytes: name.as_bytes().to_vec(),
        }
    }

    fn capture() -> Capture {
        Capture {
            width: 2,
            height: 2,
            rgb: image::RgbImage::new(2, 2),
        }
    }

    /// An attempt of `kind` with one unanswered capture, liveness `passive`,
    /// nobody enrolled, the engine's threshold.
    fn attempt<'a>(kind: ValidationType, captures: &'a [CaptureInput<'a>]) -> EvaluateInput<'a> {
        EvaluateInput {
            kind,
            analyze: AnalyzeInput {
                identifier: "user-1",
                attempt: 1,
                liveness: LivenessMode::Passive,
                challenge: None,
                captures,
            },
            enrolled: None,
            match_threshold: None,
            challenge_expired: false,
        }
    }

    fn passes(e: &Evaluation) -> bool {
        e.decision == Decision::Pass && e.reasons.is_empty()
    }

    fn fails_with(e: &Evaluation, reasons: &[Reason]) -> bool {
        e.decision == Decision::Fail && e.reasons == reasons && e.enrol.is_none() && !e.matched
    }

    #[test]
    fn an_expired_challenge_fails_without_analysis() {
        let engine = Scripted::live(Some(0.99));
        let image = capture();
        let captures = [CaptureInput {
            step: Some(ChallengeStep::Front),
            image: &image,
            burst: &[],
        }];
        let mut input = attempt(ValidationType::Validation, &captures);
        input.analyze.challenge = Some(&[ChallengeStep::Front]);
        input.challenge_expired = true;

        let e = evaluate(&engine, &input);
        assert!(fails_with(&e, &[Reason::ChallengeExpired]), "{e:?}");
        assert_eq!(e.scores, Scores::default());
        assert_eq!(engine.analyzed(), 0);
    }

    #[test]
    fn captures_must_answer_the_challenge_exactly_in_order() {
        use ChallengeStep::{Front, Left, Right};
        let challenge = [Front, Left, Right];
        let image = capture();
        let frames = |steps: &[Option<ChallengeStep>]| -> Vec<CaptureInput<'_>> {
            steps
                .iter()
                .map(|&step| CaptureInput {
                    step,
                    image: &image,
                    burst: &[],
                })
                .collect()
        };
        let wrong = [
            (
                "out of order",
                frames(&[Some(Front), Some(Right), Some(Left)]),
            ),
            ("a step missing", frames(&[Some(Front), Some(Left)])),
            (
                "a step extra",
                frames(&[Some(Front), Some(Left), Some(Right), Some(Right)]),
            ),
            (
                "a frame without its step",
                frames(&[Some(Front), None, Some(Right)]),
            ),
            (
                "another challenge's step",
                frames(&[Some(Front), Some(Left), Some(ChallengeStep::Up)]),
            ),
        ];
        for (what, captures) in &wrong {
            let engine = Scripted::live(None);
            let mut input = attempt(ValidationType::Validation, captures);
            input.analyze.challenge = Some(&challenge);
            let e = evaluate(&engine, &input);
            assert!(
                fails_with(&e, &[Reason::ChallengeMismatch]),
                "{what}: {e:?}"
            );
            assert_eq!(engine.analyzed(), 0, "{what}");
        }

        let engine = Scripted::live(None);
        let captures = frames(&[Some(Front), Some(Left), Some(Right)]);
        let mut input = attempt(ValidationType::Validation, &captures);
        input.analyze.challenge = Some(&challenge);
        assert!(passes(&evaluate(&engine, &input)));
        assert_eq!(engine.analyzed(), 1);
    }

    #[test]
    fn the_engines_problems_fail_the_attempt() {
        let problems = vec![Reason::NoFace, Reason::PoorQuality];
        let engine = Scripted::with(
            Analysis {
                problems: problems.clone(),
                liveness: None,
                template: None,
            },
            Some(0.99),
        );
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        for kind in ValidationType::ALL {
            let e = evaluate(&engine, &attempt(*kind, &captures));
            assert!(fails_with(&e, &problems), "{kind}: {e:?}");
        }
    }

    #[test]
    fn liveness_below_the_threshold_or_unmeasured_fails_when_the_flow_checks_it() {
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        let analysis = |liveness| Analysis {
            problems: vec![],
            liveness,
            template: Some(face("new")),
        };

        for mode in [LivenessMode::Passive, LivenessMode::Active] {
            for (score, live) in [
                (Some(0.49), false),
                (None, false),
                (Some(LIVENESS_THRESHOLD), true),
            ] {
                let engine = Scripted::with(analysis(score), None);
                let mut input = attempt(ValidationType::Validation, &captures);
                input.analyze.liveness = mode;
                let e = evaluate(&engine, &input);
                if live {
                    assert!(passes(&e), "{mode} {score:?}: {e:?}");
                } else {
                    assert!(
                        fails_with(&e, &[Reason::LivenessFailed]),
                        "{mode} {score:?}: {e:?}"
                    );
                }
                assert_eq!(e.scores.liveness, score);
            }
        }
    }

    #[test]
    fn a_flow_without_liveness_skips_the_check() {
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        for score in [Some(0.0), None] {
            let engine = Scripted::with(
                Analysis {
                    problems: vec![],
                    liveness: score,
                    template: Some(face("new")),
                },
                None,
            );
            let mut input = attempt(ValidationType::Validation, &captures);
            input.analyze.liveness = LivenessMode::None;
            let e = evaluate(&engine, &input);
            assert!(passes(&e), "{score:?}: {e:?}");
        }
    }

    #[test]
    fn onboarding_enrols_the_face_when_nobody_is_enrolled() {
        let engine = Scripted::live(None);
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        let e = evaluate(&engine, &attempt(ValidationType::Onboarding, &captures));
        assert!(passes(&e), "{e:?}");
        assert_eq!(e.enrol, Some(face("new")));
        assert!(!e.matched);
        assert_eq!(
            e.scores,
            Scores {
                liveness: Some(0.9),
                face_match: None
            }
        );
    }

    #[test]
    fn onboarding_an_enrolled_person_must_match_and_never_replaces_them() {
        let enrolled = face("enrolled");
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];

        let same = Scripted::live(Some(0.9));
        let mut input = attempt(ValidationType::Onboarding, &captures);
        input.enrolled = Some(&enrolled);
        let e = evaluate(&same, &input);
        assert!(passes(&e), "{e:?}");
        assert!(e.matched);
        assert_eq!(e.enrol, None);
        assert_eq!(e.scores.face_match, Some(0.9));

        let other = Scripted::live(Some(0.3));
        let e = evaluate(&other, &input);
        assert!(fails_with(&e, &[Reason::FaceMismatch]), "{e:?}");
        assert_eq!(e.scores.face_match, Some(0.3));
    }

    #[test]
    fn login_needs_an_enrolled_person() {
        let engine = Scripted::live(Some(0.99));
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        let e = evaluate(&engine, &attempt(ValidationType::Login, &captures));
        assert!(fails_with(&e, &[Reason::PersonNotEnrolled]), "{e:?}");
        assert_eq!(e.scores.face_match, None);
    }

    #[test]
    fn login_matches_against_the_engines_default_threshold() {
        let enrolled = face("enrolled");
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        let mut input = attempt(ValidationType::Login, &captures);
        input.enrolled = Some(&enrolled);

        let e = evaluate(&Scripted::live(Some(DEFAULT_MATCH)), &input);
        assert!(passes(&e) && e.matched && e.enrol.is_none(), "{e:?}");
        assert_eq!(
            e.scores,
            Scores {
                liveness: Some(0.9),
                face_match: Some(DEFAULT_MATCH)
            }
        );

        let e = evaluate(&Scripted::live(Some(0.79)), &input);
        assert!(fails_with(&e, &[Reason::FaceMismatch]), "{e:?}");
    }

    #[test]
    fn login_uses_the_flows_threshold_when_it_sets_one() {
        let enrolled = face("enrolled");
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        let mut input = attempt(ValidationType::Login, &captures);
        input.enrolled = Some(&enrolled);

        // Stricter than the default: 0.85 would pass by default.
        input.match_threshold = Some(0.9);
        let e = evaluate(&Scripted::live(Some(0.85)), &input);
        assert!(fails_with(&e, &[Reason::FaceMismatch]), "{e:?}");

        // Looser than the default: 0.7 would fail by default.
        input.match_threshold = Some(0.6);
        let e = evaluate(&Scripted::live(Some(0.7)), &input);
        assert!(passes(&e) && e.matched, "{e:?}");
    }

    #[test]
    fn validation_and_one_time_link_check_liveness_only_when_nobody_is_enrolled() {
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        for kind in [ValidationType::Validation, ValidationType::OneTimeLink] {
            // The similarity would fail a match: none must be attempted.
            let engine = Scripted::live(Some(0.0));
            let e = evaluate(&engine, &attempt(kind, &captures));
            assert!(passes(&e), "{kind}: {e:?}");
            assert!(!e.matched && e.enrol.is_none(), "{kind}: {e:?}");
            assert_eq!(e.scores.face_match, None);
        }
    }

    #[test]
    fn validation_and_one_time_link_match_an_enrolled_person() {
        let enrolled = face("enrolled");
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        for kind in [ValidationType::Validation, ValidationType::OneTimeLink] {
            let mut input = attempt(kind, &captures);
            input.enrolled = Some(&enrolled);

            let e = evaluate(&Scripted::live(Some(0.95)), &input);
            assert!(
                passes(&e) && e.matched && e.enrol.is_none(),
                "{kind}: {e:?}"
            );
            assert_eq!(e.scores.face_match, Some(0.95));

            let e = evaluate(&Scripted::live(Some(0.2)), &input);
            assert!(fails_with(&e, &[Reason::FaceMismatch]), "{kind}: {e:?}");
        }
    }

    #[test]
    fn a_template_of_another_model_is_a_mismatch_without_a_score() {
        let enrolled = face("enrolled");
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        for kind in ValidationType::ALL {
            let mut input = attempt(*kind, &captures);
            input.enrolled = Some(&enrolled);
            let e = evaluate(&Scripted::live(None), &input);
            assert!(fails_with(&e, &[Reason::FaceMismatch]), "{kind}: {e:?}");
            assert_eq!(
                e.scores,
                Scores {
                    liveness: Some(0.9),
                    face_match: None
                }
            );
        }
    }

    #[test]
    fn an_analysis_without_a_template_is_poor_quality() {
        let engine = Scripted::with(
            Analysis {
                problems: vec![],
                liveness: Some(0.9),
                template: None,
            },
            None,
        );
        let image = capture();
        let captures = [CaptureInput {
            step: None,
            image: &image,
            burst: &[],
        }];
        let e = evaluate(&engine, &attempt(ValidationType::Onboarding, &captures));
        assert!(fails_with(&e, &[Reason::PoorQuality]), "{e:?}");
    }
}

//! The built-in offline face engine: dlib's HOG face detector, its 5-point
//! landmarks and its ResNet face descriptor, behind [`bv_engine::Engine`].
//!
//! Nothing leaves the process and nothing is downloaded at run time: the two
//! model files are read from a directory at start ([`FaceEngine::load`];
//! `scripts/models.sh` fetches them, checked by sha256) and a missing or
//! corrupt one is an error naming it.
//!
//! Per capture ([`observe`]): detect the one face (`NO_FACE`,
//! `MULTIPLE_FACES`), check it is whole, large, sharp and well exposed
//! (`POOR_QUALITY`), find its five landmarks, estimate its pose
//! ([`pose`]), and embed it ([`template`]: dlib aligns the face to its
//! template from the landmarks; the 128-d descriptor is L2-normalised).
//! Per attempt: the template is the `front` capture's; with `active`
//! liveness the [`liveness`] verifier checks the captures follow the
//! challenge's head poses, show one person, and are not one image repeated.
//! With `passive` liveness there is no spoof detection at all: the score
//! only says the capture passed the quality checks (README, "Face engine").

pub mod fixtures;
pub mod liveness;
pub mod models;
pub mod observe;
pub mod population;
pub mod pose;
pub mod quality;
pub mod shape;
pub mod template;
mod vision;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bv_contract::{ChallengeStep, LivenessMode, Reason};
use bv_engine::{Analysis, AnalyzeInput, Capture, Engine, Template};
use rand::seq::SliceRandom;

pub use crate::models::LoadError;
pub use crate::observe::{Observation, Rejection, Want, observe};
pub use crate::template::{Embedding, MODEL};
use crate::vision::Vision;

/// The match score at and above which two faces are one person, when a
/// flow does not set its own: a distance of 0.40 between unit embeddings.
/// Placed midway between the evidence there is: five people the engine had
/// never seen (55 photos made into 640×480 captures) scored at least 0.667
/// with themselves and at most 0.534 with each other, and the test photos'
/// 24 variants at least 0.661 and at most 0.431 (README, "Face engine").
/// At 0.55 the closest impostor was only 0.016 below: the default leaned
/// towards accepting.
pub const DEFAULT_MATCH_THRESHOLD: f32 = 0.60;

/// The liveness score at and above which captures are of a live person.
pub const LIVENESS_THRESHOLD: f32 = 0.5;

/// A face box in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
}

impl Rect {
    fn scaled(self, by: f32) -> Rect {
        Rect {
            left: self.left * by,
            top: self.top * by,
            right: self.right * by,
            bottom: self.bottom * by,
        }
    }
}

/// The face engine: dlib's models, loaded once, shared by every thread.
pub struct FaceEngine {
    vision: Vision,
}

impl std::fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEngine")
            .field("model", &MODEL)
            .finish_non_exhaustive()
    }
}

/// The engines loaded in this process, by models directory.
static LOADED: Mutex<Option<HashMap<PathBuf, Arc<FaceEngine>>>> = Mutex::new(None);

impl FaceEngine {
    /// Loads the models from `dir` (each checked by its sha256, then read
    /// by dlib). Takes about half a second and 70 MB; prefer [`shared`].
    ///
    /// [`shared`]: FaceEngine::shared
    pub fn load(dir: impl AsRef<Path>) -> Result<FaceEngine, LoadError> {
        let dir = dir.as_ref();
        let _span = tracing::info_span!("load face models", dir = %dir.display()).entered();
        Ok(FaceEngine {
            vision: Vision::load(dir)?,
        })
    }

    /// The engine of `dir`, loaded the first time this process asks for it:
    /// models load once per process, however many workers run in it.
    pub fn shared(dir: impl AsRef<Path>) -> Result<Arc<FaceEngine>, LoadError> {
        let dir = dir.as_ref();
        let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut loaded = LOADED.lock().unwrap_or_else(PoisonError::into_inner);
        let loaded = loaded.get_or_insert_with(HashMap::new);
        if let Some(engine) = loaded.get(&key) {
            return Ok(engine.clone());
        }
        let engine = Arc::new(FaceEngine::load(&key)?);
        loaded.insert(key, engine.clone());
        Ok(engine)
    }

    /// Measures the one face in a capture ([`observe`]), without its 68
    /// landmarks.
    pub fn observe(&self, capture: &Capture) -> Result<Observation, Rejection> {
        observe::observe(&self.vision, capture, Want::default())
    }

    /// Measures the one face in a capture, and what `want` asks for.
    pub fn observe_with(&self, capture: &Capture, want: Want) -> Result<Observation, Rejection> {
        observe::observe(&self.vision, capture, want)
    }

    /// Follows the face of a step's capture back through the burst that
    /// led to it ([`observe::follow`]).
    pub fn follow(
        &self,
        burst: &[Capture],
        last: (&Capture, &shape::Shape),
        face: Rect,
    ) -> Vec<observe::Followed> {
        observe::follow(&self.vision, burst, last, face)
    }

    /// Reads the 68-point landmark model, which is otherwise read the first
    /// time active liveness needs it (it is 100 MB and takes seconds): a
    /// worker that preloads its models calls this at start.
    pub fn load_shapes(&self) -> Result<(), LoadError> {
        self.vision.load_shapes()
    }

    /// What [`Engine::analyze`] measures, with the liveness verifier's
    /// findings when it ran (for measuring the engine: `make bench`, the
    /// liveness sets' tests).
    pub fn examine(&self, input: &AnalyzeInput<'_>) -> (Analysis, Option<liveness::Verdict>) {
        let _span = tracing::info_span!("analyze", captures = input.captures.len()).entered();
        if input.captures.is_empty() {
            return (problems(vec![Reason::NoFace]), None);
        }
        let mut observations = Vec::with_capacity(input.captures.len());
        let mut reasons = Vec::new();
        let want = Want {
            shape: input.liveness == LivenessMode::Active,
        };
        for (index, capture) in input.captures.iter().enumerate() {
            match self.observe_with(capture.image, want) {
                Ok(observation) => observations.push(observation),
                Err(rejection) => {
                    tracing::info!(frame = index, ?rejection, "capture refused");
                    reasons.push(reason(rejection));
                }
            }
        }
        if !reasons.is_empty() {
            // In the order the reasons are declared, once each.
            let problems: Vec<Reason> = Reason::ALL
                .iter()
                .copied()
                .filter(|r| reasons.contains(r))
                .collect();
            return (self::problems(problems), None);
        }

        // The template is the front capture's (the best lit for matching).
        let front = input
            .captures
            .iter()
            .position(|c| matches!(c.step, None | Some(ChallengeStep::Front)))
            .unwrap_or(0);
        let template = observations[front].embedding.to_template();
        let mut verdict = None;
        let liveness = match input.liveness {
            LivenessMode::None => None,
            LivenessMode::Passive => {
                let least = observations
                    .iter()
                    .map(|o| o.quality.margin())
                    .fold(1.0f32, f32::min);
                Some(0.5 + 0.5 * least)
            }
            LivenessMode::Active => {
                let _span = tracing::info_span!("liveness").entered();
                // Each turned step's burst, followed back from its capture.
                let bursts: Vec<Vec<observe::Followed>> = input
                    .captures
                    .iter()
                    .zip(&observations)
                    .map(|(capture, o)| match (&o.shape, capture.step) {
                        (Some(shape), Some(step))
                            if step != ChallengeStep::Front && !capture.burst.is_empty() =>
                        {
                            let _span =
                                tracing::info_span!("follow burst", frames = capture.burst.len())
                                    .entered();
                            self.follow(capture.burst, (capture.image, shape), o.face)
                        }
                        _ => Vec::new(),
                    })
                    .collect();
                let frames: Option<Vec<liveness::Frame<'_>>> = input
                    .captures
                    .iter()
                    .zip(&observations)
                    .zip(&bursts)
                    .map(|((capture, o), burst)| {
                        Some(liveness::Frame {
                            step: capture.step,
                            landmarks: &o.landmarks,
                            shape: o.shape.as_ref()?,
                            burst,
                            embedding: &o.embedding,
                            thumbnail: &o.thumbnail,
                        })
                    })
                    .collect();
                // Observed with `shape`: each has one, or was refused.
                let Some(frames) = frames else {
                    return (problems(vec![Reason::PoorQuality]), None);
                };
                let found = liveness::verify(&frames, liveness::SAME_PERSON_IN_CHALLENGE);
                tracing::debug!(measured = ?found.measured, "liveness measured");
                if !found.failures.is_empty() {
                    tracing::info!(failures = ?found.failures, "liveness not shown");
                }
                let score = found.score;
                verdict = Some(found);
                Some(score)
            }
        };
        let analysis = Analysis {
            problems: Vec::new(),
            liveness,
            template: Some(template),
        };
        (analysis, verdict)
    }
}

impl Engine for FaceEngine {
    fn name(&self) -> &'static str {
        "face"
    }

    fn version(&self) -> &'static str {
        concat!(env!("CARGO_PKG_VERSION"), "+dlib-resnet-v1")
    }

    /// `active`: `front`, then two of `left`, `right` and `up` in a random
    /// order (six challenges); otherwise `[front]`.
    fn challenge(&self, liveness: LivenessMode) -> Vec<ChallengeStep> {
        match liveness {
            LivenessMode::Active => {
                let mut others = [ChallengeStep::Left, ChallengeStep::Right, ChallengeStep::Up];
                others.shuffle(&mut rand::rng());
                vec![ChallengeStep::Front, others[0], others[1]]
            }
            LivenessMode::None | LivenessMode::Passive => vec![ChallengeStep::Front],
        }
    }

    fn default_match_threshold(&self) -> f32 {
        DEFAULT_MATCH_THRESHOLD
    }

    fn liveness_threshold(&self) -> f32 {
        LIVENESS_THRESHOLD
    }

    fn analyze(&self, input: &AnalyzeInput<'_>) -> Analysis {
        self.examine(input).0
    }

    fn compare(&self, a: &Template, b: &Template) -> Option<f32> {
        let _span = tracing::info_span!("match").entered();
        let (a, b) = (Embedding::from_template(a)?, Embedding::from_template(b)?);
        Some(a.similarity(&b))
    }
}

fn problems(problems: Vec<Reason>) -> Analysis {
    Analysis {
        problems,
        liveness: None,
        template: None,
    }
}

/// The reason code a refused capture gives the user.
pub fn reason(rejection: Rejection) -> Reason {
    match rejection {
        Rejection::NoFace => Reason::NoFace,
        Rejection::MultipleFaces(_) => Reason::MultipleFaces,
        Rejection::CutOff
        | Rejection::TooSmall { .. }
        | Rejection::Flawed(_)
        | Rejection::NotEmbedded => Reason::PoorQuality,
    }
}

//! Completing a validation: the challenge, the validate request and command,
//! attempts, decisions and reason codes, and the session token's claims.
//!
//! The end user's side of the journey (README, "Completing a validation"): the
//! hosted page asks for a challenge (`GET …/{id}/challenge`, which moves `new`
//! to `pending`), sends its captures (`POST
//! /v2/biometric-validations/validate`), and a worker decides through an
//! engine. Every type here crosses a process boundary.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// The audience of a session token: it opens one validation's page and
/// nothing else (client tokens never carry it).
pub const SESSION_AUDIENCE: &str = "bv-session";

crate::closed_set! {
    /// The device the capture came from (Verifik's `os`).
    pub enum Os {
        Ios = "ios",
        Android = "android",
        Web = "web",
    }
}

crate::closed_set! {
    /// What one attempt decided.
    pub enum Decision {
        Pass = "pass",
        Fail = "fail",
    }
}

crate::closed_set! {
    /// Why an attempt failed (documented in the README, "Reasons").
    pub enum Reason {
        /// No face in a capture.
        NoFace = "NO_FACE",
        /// More than one face in a capture.
        MultipleFaces = "MULTIPLE_FACES",
        /// The face is too small, cut off, blurred or badly exposed.
        PoorQuality = "POOR_QUALITY",
        /// The captures are not of a live person following the challenge.
        LivenessFailed = "LIVENESS_FAILED",
        /// The face is not the enrolled person's.
        FaceMismatch = "FACE_MISMATCH",
        /// `login` needs a person enrolled for the identifier; there is none.
        PersonNotEnrolled = "PERSON_NOT_ENROLLED",
        /// The challenge's lifetime passed before the captures arrived.
        ChallengeExpired = "CHALLENGE_EXPIRED",
        /// A frame's step is not the challenge's, or a step is missing.
        ChallengeMismatch = "CHALLENGE_MISMATCH",
    }
}

crate::closed_set! {
    /// A flow's liveness check: none, on each capture (`passive`), or a
    /// challenge of head poses the user follows (`active`).
    pub enum LivenessMode {
        None = "none",
        Passive = "passive",
        Active = "active",
    }
}

crate::closed_set! {
    /// Which engine decides a project's validations.
    pub enum EngineKind {
        /// Deterministic outcomes for integrators' tests (README, "Sandbox").
        Sandbox = "sandbox",
        /// The built-in offline face engine (README, "Face engine"): the
        /// default for new projects.
        Face = "face",
    }
}

crate::closed_set! {
    /// One step of an active liveness challenge: where the face looks.
    pub enum ChallengeStep {
        Front = "front",
        Left = "left",
        Right = "right",
        Up = "up",
    }
}

/// A challenge issued to the page: the steps to follow, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    #[serde(rename = "challengeId")]
    pub id: Uuid,
    /// The validation it belongs to.
    #[serde(rename = "_id")]
    pub validation: Uuid,
    pub steps: Vec<ChallengeStep>,
    pub expires_at: String,
}

/// One capture in a validate request or command: a base64 JPEG or PNG and,
/// for a challenge, the step it answers, with the burst of frames taken
/// while the person moved to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<ChallengeStep>,
    pub image: String,
    /// Up to [`MAX_BURST`] base64 JPEGs or PNGs, oldest first, taken while
    /// the person turned towards the step's pose (about a second, ending
    /// just before `image`): the motion that active liveness checks.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::validate_body::at_most_max_burst"
    )]
    pub burst: Vec<String>,
}

/// Most frames one step's burst may hold.
pub const MAX_BURST: usize = 8;

/// `POST /v2/biometric-validations/validate`: Verifik's `{image, os}`, or
/// for a challenge `{os, challengeId, frames: [{step, image}]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateRequest {
    pub os: Os,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<Frame>>,
}

/// Most frames one challenge answer may carry.
pub const MAX_FRAMES: usize = 8;

impl ValidateRequest {
    /// The captures, whichever form was sent: exactly one of `image` or
    /// `frames`, and `frames` only with a `challengeId`.
    pub fn frames(self) -> Result<(Option<Uuid>, Vec<Frame>), ApiError> {
        match (self.image, self.frames, self.challenge_id) {
            (Some(_), Some(_), _) => Err(ApiError::field(
                ErrorCode::InvalidField,
                "frames",
                "Send either `image` or `frames`, not both",
            )),
            (Some(_), None, Some(_)) => Err(ApiError::field(
                ErrorCode::InvalidField,
                "frames",
                "A challenge is answered with `frames` (one per step), not `image`",
            )),
            (Some(image), None, None) => Ok((
                None,
                vec![Frame {
                    step: None,
                    image,
                    burst: Vec::new(),
                }],
            )),
            (None, Some(_), None) => Err(ApiError::field(
                ErrorCode::MissingField,
                "challengeId",
                "`frames` answer a challenge: `challengeId` is required with them",
            )),
            (None, Some(frames), Some(challenge)) => {
                if frames.is_empty() || frames.len() > MAX_FRAMES {
                    return Err(ApiError::field(
                        ErrorCode::InvalidField,
                        "frames",
                        format!("`frames` must hold 1 to {MAX_FRAMES} captures"),
                    ));
                }
                Ok((Some(challenge), frames))
            }
            (None, None, _) => Err(ApiError::field(
                ErrorCode::MissingField,
                "image",
                "`image` (a base64 JPEG or PNG) is required",
            )),
        }
    }
}

/// The frames fit what they answer, checked before any image is looked at:
/// one per step of the challenge (`challenge_steps`), or a single image
/// without a challenge.
pub fn frames_fit(challenge_steps: Option<usize>, frames: usize) -> Result<(), ApiError> {
    let expected = challenge_steps.unwrap_or(1);
    if frames == expected {
        return Ok(());
    }
    let error = match challenge_steps {
        Some(steps) => {
            format!("The challenge has {steps} step(s): send one frame per step, not {frames}")
        }
        None => format!("Without a challenge, send one image, not {frames} frames"),
    };
    Err(ApiError::field(ErrorCode::InvalidField, "frames", error))
}

/// The validate command (AMQP body of `biometric_validation.validate.v1`).
/// Its `message_id` is the attempt's id, which makes it idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateCommand {
    /// The validation's `_id`.
    pub validation: Uuid,
    pub os: Os,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<Uuid>,
    #[serde(deserialize_with = "crate::validate_body::at_most_max_frames")]
    pub frames: Vec<Frame>,
}

/// The challenge command (`biometric_validation.challenge.v1`): issue a
/// challenge for one validation. Its `message_id` is the challenge's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChallengeCommand {
    pub validation: Uuid,
}

/// The delete-person command (`biometric_validation.person.delete.v1`):
/// remove the person enrolled for a validation's project and identifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletePersonCommand {
    pub client: String,
    pub validation: Uuid,
}

/// An attempt's scores, each in [0, 1] when it was measured (written with
/// four decimals: `0.97`, not the f32's `0.9700000286102295`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "four_decimals"
    )]
    pub liveness: Option<f32>,
    #[serde(
        default,
        rename = "match",
        skip_serializing_if = "Option::is_none",
        serialize_with = "four_decimals"
    )]
    pub face_match: Option<f32>,
}

fn four_decimals<S: serde::Serializer>(score: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
    match score {
        Some(v) => {
            let rounded: f64 = format!("{v:.4}").parse().unwrap_or(f64::from(*v));
            s.serialize_some(&rounded)
        }
        None => s.serialize_none(),
    }
}

/// One recorded attempt, as the API shows it (never an image).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    #[serde(rename = "_id")]
    pub id: Uuid,
    pub created_at: String,
    pub os: Os,
    pub decision: Decision,
    pub reasons: Vec<Reason>,
    pub scores: Scores,
    pub engine: String,
    pub engine_version: String,
    pub duration_ms: u32,
}

/// The person a validation enrolled or matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    #[serde(rename = "_id")]
    pub id: Uuid,
    /// `true` when this validation enrolled the person, `false` when it matched them.
    pub enrolled: bool,
}

/// What the end user's page may see of its validation (session token).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicView {
    #[serde(rename = "_id")]
    pub id: Uuid,
    pub status: crate::ValidationStatus,
    #[serde(rename = "type")]
    pub kind: crate::ValidationType,
    pub language: crate::Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    pub liveness: LivenessMode,
    pub attempts_left: u32,
    /// The latest attempt's decision and reasons (what the page tells the
    /// user after an answer it did not wait for); never scores or images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<LastAttempt>,
}

/// The latest attempt, as the page may see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAttempt {
    pub decision: Decision,
    pub reasons: Vec<Reason>,
}

/// The claims a session token carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The validation's `_id`.
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// The claims of a signed result (a compact JWS, EdDSA).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultClaims {
    #[serde(rename = "_id")]
    pub id: String,
    pub client: String,
    pub project: String,
    pub identifier: String,
    #[serde(rename = "type")]
    pub kind: crate::ValidationType,
    pub status: crate::ValidationStatus,
    pub scores: Scores,
    pub date_time: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verifiks_body_and_the_challenge_body_both_parse() {
        let r: ValidateRequest =
            serde_json::from_value(json!({"image": "aGk=", "os": "ios"})).unwrap();
        let (challenge, frames) = r.frames().unwrap();
        assert_eq!((challenge, frames.len()), (None, 1));

        let id = Uuid::now_v7();
        let r: ValidateRequest = serde_json::from_value(json!({
            "os": "web", "challengeId": id,
            "frames": [{"step": "front", "image": "aGk="}, {"step": "left", "image": "aGk="}]
        }))
        .unwrap();
        let (challenge, frames) = r.frames().unwrap();
        assert_eq!(challenge, Some(id));
        assert_eq!(frames[1].step, Some(ChallengeStep::Left));
    }

    #[test]
    fn bad_validate_bodies_say_which_field() {
        let cases = [
            (json!({"os": "web"}), "image"),
            (
                json!({"os": "web", "frames": [{"image": "x"}]}),
                "challengeId",
            ),
            (
                json!({"os": "web", "image": "x", "frames": [], "challengeId": Uuid::nil()}),
                "frames",
            ),
            (
                json!({"os": "web", "frames": [], "challengeId": Uuid::nil()}),
                "frames",
            ),
            (
                json!({"os": "web", "image": "x", "challengeId": Uuid::nil()}),
                "frames",
            ),
        ];
        for (body, field) in cases {
            let r: ValidateRequest = serde_json::from_value(body.clone()).unwrap();
            let err = r.frames().unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
        assert!(
            serde_json::from_value::<ValidateRequest>(json!({"os": "windows", "image": "x"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<ValidateRequest>(
                json!({"os": "web", "image": "x", "extra": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn frames_fit_their_challenge_or_are_one_image() {
        assert!(frames_fit(Some(3), 3).is_ok());
        assert!(frames_fit(None, 1).is_ok());
        for (steps, frames) in [(Some(3), 2), (Some(1), 8), (None, 2)] {
            let err = frames_fit(steps, frames).unwrap_err();
            assert_eq!(
                (err.code, err.field.as_deref()),
                (ErrorCode::InvalidField, Some("frames"))
            );
        }
    }

    #[test]
    fn scores_use_the_api_names() {
        let s = Scores {
            liveness: Some(0.5),
            face_match: Some(0.25),
        };
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!({"liveness": 0.5, "match": 0.25})
        );
        assert_eq!(serde_json::to_value(Scores::default()).unwrap(), json!({}));
    }
}

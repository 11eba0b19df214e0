//! Active liveness: do the captures show one live person following the
//! challenge's head poses?
//!
//! The verifier sees, for each capture, the step it answers, its landmarks,
//! its embedding and a small thumbnail, and checks:
//!
//! 1. **Pose.** The first `front` capture is the person's baseline: it must
//!    face the camera (|yaw| ≤ [`FRONT_MAX_YAW`], |pitch| against the mean
//!    face ≤ [`FRONT_MAX_PITCH`]). Every other capture's pose is measured
//!    against it (yaw as a difference, pitch from that capture's own nose
//!    drop, [`crate::pose`]): `left` must be turned at least [`TURN_MIN_YAW`]
//!    to the person's left, `right` as far to their right, `up` tilted at
//!    least [`UP_MIN_PITCH`] up, each without more than [`OFF_AXIS_MAX`] on
//!    the other axis; a further `front` faces the camera like the first.
//! 2. **One person.** Every capture's embedding matches the baseline's at
//!    [`SAME_PERSON_IN_CHALLENGE`].
//! 3. **Distinct frames.** No two captures are one image sent twice: their
//!    face thumbnails correlate below [`REPEAT_MIN_CORRELATION`], or their
//!    landmarks sit differently in the face.
//! 4. **A head, not a picture.** Every turned capture's 68 landmarks are
//!    explained, against the front's, three ways ([`crate::shape::fit`],
//!    over the burst's frames turned at least [`PARALLAX_MIN_TURN`] with
//!    one fold line for all of them, [`crate::shape::fit_over`]):
//!    as the person's head turned (their front's landmarks given the mean
//!    face's depths), as one flat picture of the front seen from any angle
//!    (a print turned or tilted), and as one folded once along a line, its
//!    two sides meeting on it (a print folded down the nose or across the
//!    face, square or askew). A head turning shows
//!    parallax that no flat or folded picture has: the nose moves across
//!    the cheeks, the far side of the jaw hides. So the best picture must
//!    miss the landmarks by at least [`FLAT_MIN`] eye-distances, and by at
//!    least [`FLAT_RATIO`] times what the head misses them by; else the
//!    capture is a picture. (Only captures whose pose was right are judged:
//!    a turn not made shows no depth, and fails as a pose.)
//! 5. **Motion, not poses.** Each turned step is answered with a burst: the
//!    frames taken while the person turned, then the capture. At least
//!    [`MIN_BURST`] frames; the head must have turned towards the step by
//!    at least [`BURST_MIN_SWEEP`] within them (stills of the person in the
//!    right poses, each sent as a burst, do not move); and neighbouring
//!    frames must be one scene moving: the landmarks move by at most
//!    [`BURST_MAX_JUMP`] eye-distances and the face looks alike (thumbnails
//!    correlate at least [`BURST_MIN_LIKENESS`]), so unrelated photos
//!    stitched together jump.
//!
//! The score is in [0, 1], the threshold 0.5. When every check passes it is
//! `0.5 + 0.5 · m`, `m` the smallest pose margin in units of 10° (capped at
//! 1): a challenge followed by a wide margin scores near 1. When a capture
//! is another person's, repeats another, is a picture or lacks its motion,
//! it is 0. Otherwise (a pose not
//! followed) it is `0.25 ×` the share of captures whose pose was right.
//!
//! A still photo held to the camera fails: it cannot turn; turned, tilted
//! or folded, it is a picture. Not always: a print folded steeply (70–80°)
//! along the nose and turned far (35–40°) passed in 1 of 20 samples of the
//! liveness sets, and through the hosted page in a browser test; dlib's
//! landmarks on such a fold keep a face's shape. Replayed video of the
//! person following *another* order fails the order; the challenge's order
//! is random and its lifetime short (the rules check it).
//! What this does not catch: a live replay by someone holding a video of
//! the person and the right poses ready, a 3D mask, or a deepfake driven in
//! real time. The thresholds were placed on the liveness sets `make bench`
//! measures (rendered heads and prints, README "Face engine": every attack
//! there refused, but too many rendered live heads refused too).

use bv_contract::ChallengeStep;

use crate::observe::{Followed, Thumbnail};
use crate::pose::{self, Landmarks, MEAN_NOSE_DROP};
use crate::shape::{self, Shape};
use crate::template::Embedding;

/// The most a `front` capture may be turned, in degrees.
pub const FRONT_MAX_YAW: f32 = 15.0;
/// The most a `front` capture may be tilted against the mean face (cameras
/// sit above or below the eyes), in degrees.
pub const FRONT_MAX_PITCH: f32 = 25.0;
/// The least turn of a `left` or `right` capture from the front, in degrees.
pub const TURN_MIN_YAW: f32 = 15.0;
/// The least upward tilt of an `up` capture from the front, in degrees.
pub const UP_MIN_PITCH: f32 = 10.0;
/// The most a turn may tilt, or a tilt turn, from the front, in degrees.
pub const OFF_AXIS_MAX: f32 = 25.0;
/// Two captures whose face thumbnails correlate at least this much and
/// whose landmarks sit alike are one image sent twice.
pub const REPEAT_MIN_CORRELATION: f32 = 0.97;
/// How alike, in eye-distances, the nose offsets of a repeated image are.
pub const REPEAT_MAX_OFFSET: f32 = 0.03;

/// The least a flat or folded picture must miss a turned capture's
/// landmarks by, in eye-distances, for the capture to be a head: above
/// what dlib's landmarks wander by on one face (module docs, item 4).
pub const FLAT_MIN: f32 = 0.025;
/// The least share of what the turned head misses a capture's landmarks by
/// that a flat or folded picture must miss them by. Below 1: the head is
/// the mean face's depths under the front's landmarks, not the person's
/// own, and dlib's landmarks on a picture keep something of a face's shape
/// (its predictor knows only faces). Placed on the liveness sets (README,
/// "Active liveness, measured"): rendered live heads turned 20–35° are
/// missed by the pictures by 0.58–1.5 × the head's distance; a print folded
/// askew along the nose (7° off the vertical), turned 36°, by 0.648 × in
/// one frame: at 0.6 it passed, so the line sits above it, with no margin
/// to spare and more live heads refused.
pub const FLAT_RATIO: f32 = 0.65;

/// The similarity at and above which a challenge's captures are one
/// person. Lower than the match threshold (0.60): one person's face turned
/// 20–35° from their own front scores lower than two frontal photos of
/// them (the bona fide set of `make bench`: at least 0.52, median 0.69),
/// and a challenge's captures are also held to one scene moving by their
/// bursts; two people in one challenge scored at most 0.45 there.
pub const SAME_PERSON_IN_CHALLENGE: f32 = 0.50;

/// The least turn from the front, in degrees, at which a burst's frame is
/// judged for the head's depth with the capture.
pub const PARALLAX_MIN_TURN: f32 = 10.0;

/// The fewest frames, the capture included, a turned step's burst holds.
pub const MIN_BURST: usize = 3;
/// The least the head turns towards a step's pose within its burst, in
/// degrees.
pub const BURST_MIN_SWEEP: f32 = 5.0;
/// The most the landmarks may move between neighbouring frames of a burst,
/// on average, in eye-distances.
pub const BURST_MAX_JUMP: f32 = 0.6;
/// The least two neighbouring frames' face thumbnails correlate.
pub const BURST_MIN_LIKENESS: f32 = 0.25;

/// One capture, as the verifier sees it.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub step: Option<ChallengeStep>,
    pub landmarks: &'a Landmarks,
    pub shape: &'a Shape,
    /// The burst that led to the capture, the capture last
    /// ([`crate::observe::follow`]); empty when none was sent.
    pub burst: &'a [Followed],
    pub embedding: &'a Embedding,
    pub thumbnail: &'a Thumbnail,
}

/// Why the captures are not a live person following the challenge.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// No capture answers a step.
    NoChallenge,
    /// A capture's pose is not its step's (angles in degrees, against the
    /// front).
    Pose {
        frame: usize,
        step: ChallengeStep,
        yaw: f32,
        pitch: f32,
    },
    /// A capture is not the baseline's person.
    OtherPerson { frame: usize, similarity: f32 },
    /// A capture is another one sent again.
    Repeated { frame: usize, of: usize },
    /// A turned capture is explained as well by a flat or folded picture of
    /// the front as by a head (distances in eye-distances).
    Flat { frame: usize, flat: f32, head: f32 },
    /// A turned step came without the burst that shows the turn.
    NoBurst { frame: usize, frames: usize },
    /// Within its burst the head did not turn towards the step (degrees).
    Still { frame: usize, sweep: f32 },
    /// Two neighbouring frames of a burst are not one scene moving: the
    /// landmarks jumped (eye-distances) or the face changed.
    Jump {
        frame: usize,
        at: usize,
        moved: f32,
        likeness: f32,
    },
}

/// The verifier's finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// In [0, 1]; at least 0.5 only when `failures` is empty.
    pub score: f32,
    pub failures: Vec<Failure>,
    /// What was measured on each capture other than the front, pass or
    /// fail (for logs and for choosing thresholds: `make bench`).
    pub measured: Vec<Measured>,
}

/// The measurements behind a capture's checks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    pub frame: usize,
    /// Its embedding's similarity to the front's.
    pub similarity: f32,
    /// A turned capture's fits: the best flat or folded picture's distance
    /// and the head's (eye-distances).
    pub flat: Option<(f32, f32)>,
    /// A turned capture's burst: frames, the largest move and the lowest
    /// likeness between neighbours, and the turn towards the step.
    pub burst: Option<BurstMeasures>,
}

/// A burst, measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BurstMeasures {
    pub frames: usize,
    pub most_moved: f32,
    pub least_likeness: f32,
    pub sweep: f32,
}

/// Checks the captures (module docs): at least two, each answering a step.
/// `same_person` is the similarity at which two embeddings are one person.
pub fn verify(frames: &[Frame<'_>], same_person: f32) -> Verdict {
    // One capture shows no movement: a challenge has a front and a turn.
    if frames.len() < 2 || frames.iter().any(|f| f.step.is_none()) {
        return Verdict {
            score: 0.0,
            failures: vec![Failure::NoChallenge],
            measured: Vec::new(),
        };
    }
    let anchor = frames
        .iter()
        .position(|f| f.step == Some(ChallengeStep::Front))
        .unwrap_or(0);
    let base = pose::estimate(frames[anchor].landmarks, MEAN_NOSE_DROP);

    let mut failures = Vec::new();
    let mut margins = Vec::with_capacity(frames.len());
    let mut poses_ok = 0usize;
    let mut followed = vec![false; frames.len()];
    for (index, frame) in frames.iter().enumerate() {
        let step = frame.step.unwrap_or(ChallengeStep::Front);
        let judged = base.and_then(|base| {
            let own = pose::estimate(frame.landmarks, base.nose_drop)?;
            let absolute = pose::estimate(frame.landmarks, MEAN_NOSE_DROP)?;
            Some(margin(
                step,
                own.yaw - base.yaw,
                own.pitch,
                absolute.yaw,
                absolute.pitch,
            ))
        });
        match judged {
            Some((m, _, _)) if m >= 0.0 => {
                poses_ok += 1;
                followed[index] = true;
                margins.push(m);
            }
            Some((_, yaw, pitch)) => failures.push(Failure::Pose {
                frame: index,
                step,
                yaw,
                pitch,
            }),
            None => failures.push(Failure::Pose {
                frame: index,
                step,
                yaw: f32::NAN,
                pitch: f32::NAN,
            }),
        }
    }

    let mut spoofed = false;
    let mut measured = Vec::new();
    for (index, frame) in frames.iter().enumerate() {
        if index == anchor {
            continue;
        }
        let similarity = frame.embedding.similarity(frames[anchor].embedding);
        measured.push(Measured {
            frame: index,
            similarity,
            ..Measured::default()
        });
        if similarity < same_person {
            failures.push(Failure::OtherPerson {
                frame: index,
                similarity,
            });
            spoofed = true;
        }
    }
    for (later, frame) in frames.iter().enumerate() {
        if let Some(of) = (0..later).find(|&earlier| repeats(&frames[earlier], frame)) {
            failures.push(Failure::Repeated { frame: later, of });
            spoofed = true;
        }
    }
    // Only a turn that was made can show the head's depth.
    for (index, frame) in frames.iter().enumerate() {
        if index == anchor || frame.step == Some(ChallengeStep::Front) || !followed[index] {
            continue;
        }
        // Each burst frame's pose against the front, found once for both
        // checks.
        let turns: Vec<Option<(f32, f32)>> = frame
            .burst
            .iter()
            .map(|f| shape::turn(frames[anchor].shape, &f.shape))
            .collect();
        let (flat, head) = picture(frames[anchor].shape, frame, &turns);
        if flat < FLAT_MIN || flat < FLAT_RATIO * head {
            failures.push(Failure::Flat {
                frame: index,
                flat,
                head,
            });
            spoofed = true;
        }
        let (failure, burst) = motion(index, frame, &turns);
        if let Some(failure) = failure {
            failures.push(failure);
            spoofed = true;
        }
        if let Some(m) = measured.iter_mut().find(|m| m.frame == index) {
            m.flat = Some((flat, head));
            m.burst = burst;
        }
    }

    let score = if failures.is_empty() {
        let least = margins.iter().copied().fold(f32::INFINITY, f32::min);
        0.5 + 0.5 * (least / 10.0).clamp(0.0, 1.0)
    } else if spoofed {
        0.0
    } else {
        0.25 * poses_ok as f32 / frames.len() as f32
    };
    Verdict {
        score,
        failures,
        measured,
    }
}

/// How far, in degrees, a pose is past what its step needs (negative when
/// it falls short), with the yaw and pitch judged. `rel_*` are against the
/// person's front; `abs_*` against the mean face (for `front` itself).
fn margin(
    step: ChallengeStep,
    rel_yaw: f32,
    rel_pitch: f32,
    abs_yaw: f32,
    abs_pitch: f32,
) -> (f32, f32, f32) {
    let off_axis = |v: f32| OFF_AXIS_MAX - v.abs();
    match step {
        ChallengeStep::Front => (
            (FRONT_MAX_YAW - abs_yaw.abs()).min(FRONT_MAX_PITCH - abs_pitch.abs()),
            abs_yaw,
            abs_pitch,
        ),
        ChallengeStep::Left => (
            (rel_yaw - TURN_MIN_YAW).min(off_axis(rel_pitch)),
            rel_yaw,
            rel_pitch,
        ),
        ChallengeStep::Right => (
            (-rel_yaw - TURN_MIN_YAW).min(off_axis(rel_pitch)),
            rel_yaw,
            rel_pitch,
        ),
        ChallengeStep::Up => (
            (rel_pitch - UP_MIN_PITCH).min(off_axis(rel_yaw)),
            rel_yaw,
            rel_pitch,
        ),
    }
}

/// How far the best flat or folded picture of `front`, and the head, miss
/// a turned capture's landmarks (module docs, item 4), over the frames of
/// its burst turned at least [`PARALLAX_MIN_TURN`] from the front (the
/// capture among them) when it has one; zeros when the shapes are
/// degenerate (a picture, then). `turns`: each burst frame's pose against
/// the front.
fn picture(front: &Shape, frame: &Frame<'_>, turns: &[Option<(f32, f32)>]) -> (f32, f32) {
    let turned = turned(frame, turns);
    let found = if turned.is_empty() {
        shape::fit(front, frame.shape).map(|fit| (fit.flat(), fit.rigid))
    } else {
        shape::fit_over(front, &turned)
    };
    found.unwrap_or((0.0, 0.0))
}

/// The frames of a capture's burst turned at least [`PARALLAX_MIN_TURN`]
/// from the front (`turns`: each one's pose against it).
fn turned<'a>(frame: &Frame<'a>, turns: &[Option<(f32, f32)>]) -> Vec<&'a Shape> {
    frame
        .burst
        .iter()
        .zip(turns)
        .filter(|(_, turn)| {
            turn.is_some_and(|(yaw, pitch)| yaw.abs().max(pitch.abs()) >= PARALLAX_MIN_TURN)
        })
        .map(|(f, _)| &f.shape)
        .collect()
}

/// Whether a turned step's burst shows the head turning to it (module
/// docs, item 5): the first thing wrong, if any, and what was measured.
/// `turns`: each burst frame's pose against the front.
fn motion(
    index: usize,
    frame: &Frame<'_>,
    turns: &[Option<(f32, f32)>],
) -> (Option<Failure>, Option<BurstMeasures>) {
    let burst = frame.burst;
    if burst.len() < MIN_BURST {
        let failure = Failure::NoBurst {
            frame: index,
            frames: burst.len(),
        };
        return (Some(failure), None);
    }
    let mut failure = None;
    let mut measures = BurstMeasures {
        frames: burst.len(),
        most_moved: 0.0,
        least_likeness: 1.0,
        sweep: 0.0,
    };
    for (at, pair) in burst.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let moved = mean_distance(&a.shape, &b.shape) / b.shape.eye_distance().max(1.0);
        let likeness = a.thumbnail.correlation(&b.thumbnail);
        measures.most_moved = measures.most_moved.max(moved);
        measures.least_likeness = measures.least_likeness.min(likeness);
        if failure.is_none() && (moved > BURST_MAX_JUMP || likeness < BURST_MIN_LIKENESS) {
            failure = Some(Failure::Jump {
                frame: index,
                at,
                moved,
                likeness,
            });
        }
    }
    // Towards the step: more to the person's left, right, or up.
    let towards = |(yaw, pitch): (f32, f32)| match frame.step {
        Some(ChallengeStep::Left) => yaw,
        Some(ChallengeStep::Right) => -yaw,
        Some(ChallengeStep::Up) => pitch,
        Some(ChallengeStep::Front) | None => 0.0,
    };
    let along: Vec<f32> = turns.iter().map(|t| t.map_or(f32::NAN, towards)).collect();
    let last = along[along.len() - 1];
    let least = along.iter().copied().fold(f32::INFINITY, f32::min);
    let sweep = last - least;
    measures.sweep = sweep;
    // NaN (a degenerate frame) fails too.
    if failure.is_none() && (sweep.is_nan() || sweep < BURST_MIN_SWEEP) {
        failure = Some(Failure::Still {
            frame: index,
            sweep,
        });
    }
    (failure, Some(measures))
}

/// The mean distance between corresponding landmarks, in pixels.
fn mean_distance(a: &Shape, b: &Shape) -> f32 {
    a.0.iter()
        .zip(&b.0)
        .map(|(p, q)| (p.x - q.x).hypot(p.y - q.y))
        .sum::<f32>()
        / a.0.len() as f32
}

/// Whether `b` is `a` sent again: the same picture of the face, with the
/// landmarks where they were.
fn repeats(a: &Frame<'_>, b: &Frame<'_>) -> bool {
    let (Some((ax, ay)), Some((bx, by))) = (a.landmarks.nose_offset(), b.landmarks.nose_offset())
    else {
        return false;
    };
    let alike = (ax - bx).abs() <= REPEAT_MAX_OFFSET && (ay - by).abs() <= REPEAT_MAX_OFFSET;
    alike && a.thumbnail.correlation(b.thumbnail) >= REPEAT_MIN_CORRELATION
}

#[cfg(test)]
mod tests {
    use ChallengeStep::{Front, Left, Right, Up};

    use super::*;
    use crate::pose::tests::project;
    use crate::shape::tests::{Surface, seen as shape_seen};

    const SAME: f32 = 0.57;

    /// A person: their embedding is a unit vector along axis `who` (two
    /// people are at similarity 1 − √2 < 0).
    fn person(who: usize) -> Embedding {
        let mut v = [0f32; 128];
        v[who] = 1.0;
        Embedding(v)
    }

    /// A person's embedding as a capture at another angle moves it: `drift`
    /// of the way to another axis (similarity about 1 − drift).
    fn seen(who: usize, drift: f32) -> Embedding {
        let mut v = [0f32; 128];
        v[who] = 1.0 - drift;
        v[who + 1] = drift;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        Embedding(v.map(|x| x / norm))
    }

    /// A thumbnail unique to `seed`.
    fn thumb(seed: u32) -> Thumbnail {
        Thumbnail(
            (0..576u32)
                .map(|i| ((i * 31 + seed * 97) % 251) as u8)
                .collect(),
        )
    }

    struct Capture {
        step: ChallengeStep,
        landmarks: Landmarks,
        shape: Shape,
        burst: Vec<Followed>,
        embedding: Embedding,
        thumbnail: Thumbnail,
    }

    /// A burst of `surface` moving from the front to (yaw, pitch) in four
    /// frames, the last at the pose itself.
    fn burst(surface: Surface, yaw: f32, pitch: f32, seed: u32) -> Vec<Followed> {
        [0.0, 0.35, 0.7, 1.0]
            .into_iter()
            .map(|t| Followed {
                shape: shape_seen(surface, yaw * t, pitch * t, 1.0),
                thumbnail: thumb(seed),
            })
            .collect()
    }

    impl Capture {
        /// The head at (yaw, pitch), rolled in the photo (the five
        /// landmarks only: the shape's fits do not depend on it), with the
        /// burst that turned it there.
        fn pose(&mut self, yaw: f32, pitch: f32, roll: f32) {
            self.landmarks = project(yaw, pitch, roll);
            self.shape = shape_seen(Surface::Head, yaw, pitch, 1.0);
            self.burst = burst(Surface::Head, yaw, pitch, 7);
        }

        /// A picture of the face, rather than the head, turned to (yaw,
        /// pitch) in its burst.
        fn picture(&mut self, surface: Surface, yaw: f32, pitch: f32) {
            self.shape = shape_seen(surface, yaw, pitch, 1.0);
            self.burst = burst(surface, yaw, pitch, 7);
        }
    }

    /// A capture of `who` answering `step` with the head at (yaw, pitch),
    /// after a burst that turned it there (none for `front`).
    fn capture(step: ChallengeStep, who: usize, yaw: f32, pitch: f32, seed: u32) -> Capture {
        Capture {
            step,
            landmarks: project(yaw, pitch, 3.0),
            shape: shape_seen(Surface::Head, yaw, pitch, 1.0),
            burst: if step == Front {
                Vec::new()
            } else {
                burst(Surface::Head, yaw, pitch, seed)
            },
            embedding: seen(who, 0.05),
            thumbnail: thumb(seed),
        }
    }

    fn run(captures: &[Capture]) -> Verdict {
        let frames: Vec<Frame<'_>> = captures
            .iter()
            .map(|c| Frame {
                step: Some(c.step),
                landmarks: &c.landmarks,
                shape: &c.shape,
                burst: &c.burst,
                embedding: &c.embedding,
                thumbnail: &c.thumbnail,
            })
            .collect();
        verify(&frames, SAME)
    }

    /// Front, left 25°, up 18°, right 25°: a person following the
    /// challenge `[front, left, up, right]`.
    fn followed() -> Vec<Capture> {
        vec![
            capture(Front, 0, 2.0, 3.0, 1),
            capture(Left, 0, 27.0, 3.0, 2),
            capture(Up, 0, 2.0, 21.0, 3),
            capture(Right, 0, -23.0, 3.0, 4),
        ]
    }

    #[test]
    fn the_right_order_passes_with_its_margin() {
        let verdict = run(&followed());
        assert_eq!(verdict.failures, []);
        // The smallest margin: up about 18° from the front against the
        // 10° needed, some 8–9° of 10.
        assert!(
            (0.88..0.97).contains(&verdict.score),
            "score {}",
            verdict.score
        );
    }

    #[test]
    fn the_baseline_is_the_persons_own_front() {
        // Filmed from below: every capture reads 12° "up" against the mean
        // face; the up step is still measured from the front.
        let mut captures = followed();
        captures[0].pose(2.0, 12.0, 0.0);
        captures[1].pose(26.0, 12.0, 0.0);
        captures[2].pose(2.0, 17.0, 0.0); // 5° above the front only
        captures[3].pose(-24.0, 12.0, 0.0);
        let verdict = run(&captures);
        assert!(
            matches!(
                verdict.failures.as_slice(),
                [Failure::Pose {
                    frame: 2,
                    step: Up,
                    ..
                }]
            ),
            "{verdict:?}"
        );
        captures[2].pose(2.0, 28.0, 0.0);
        assert_eq!(run(&captures).failures, []);
    }

    #[test]
    fn the_wrong_order_fails_on_pose() {
        // The person turned right when asked left, and left when asked right.
        let mut captures = followed();
        captures[1].pose(-25.0, 3.0, 3.0);
        captures[3].pose(25.0, 3.0, 3.0);
        let verdict = run(&captures);
        let frames: Vec<usize> = verdict
            .failures
            .iter()
            .map(|f| match f {
                Failure::Pose { frame, .. } => *frame,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(frames, [1, 3]);
        assert!((verdict.score - 0.125).abs() < 1e-6, "{}", verdict.score);
    }

    #[test]
    fn a_still_photo_fails_every_turn() {
        // The same frontal face (new pixels each time: a photo filmed again).
        let captures: Vec<Capture> = [Front, Right, Up]
            .into_iter()
            .enumerate()
            .map(|(i, step)| capture(step, 0, 1.0, 2.0, i as u32))
            .collect();
        let verdict = run(&captures);
        assert_eq!(verdict.failures.len(), 2, "{verdict:?}");
        assert!(verdict.score < 0.5);
    }

    #[test]
    fn a_turn_too_small_or_off_axis_fails() {
        let mut captures = followed();
        captures[1].pose(12.0, 3.0, 0.0); // 10° from the front
        assert!(!run(&captures).failures.is_empty());
        let mut captures = followed();
        captures[2].pose(30.0, 21.0, 0.0); // up, but turned
        assert!(!run(&captures).failures.is_empty());
        let mut captures = followed();
        captures[0].pose(20.0, 3.0, 0.0); // "front", turned
        assert!(
            run(&captures)
                .failures
                .iter()
                .any(|f| matches!(f, Failure::Pose { frame: 0, .. }))
        );
    }

    #[test]
    fn a_print_turned_tilted_or_folded_is_a_picture() {
        // The five landmarks read the poses asked for (a fold along the
        // nose turns its halves like cheeks); the 68 show a picture.
        let folds = [
            Surface::Folded {
                at: 0.0,
                tilt: 0.0,
                angle: 60.0,
                tent: true,
            },
            Surface::Folded {
                at: 0.1,
                tilt: 0.0,
                angle: 75.0,
                tent: true,
            },
            Surface::Folded {
                at: -0.1,
                tilt: 0.0,
                angle: 50.0,
                tent: false,
            },
        ];
        for surface in folds.into_iter().chain([Surface::Print]) {
            let mut captures = followed();
            captures[0].picture(surface, 0.0, 0.0);
            captures[1].picture(surface, 30.0, 0.0);
            captures[2].picture(surface, 0.0, 35.0);
            captures[3].picture(surface, -30.0, 0.0);
            let verdict = run(&captures);
            let flat: Vec<usize> = verdict
                .failures
                .iter()
                .filter_map(|f| match f {
                    Failure::Flat { frame, .. } => Some(*frame),
                    _ => None,
                })
                .collect();
            assert_eq!(flat, [1, 2, 3], "{verdict:?}");
            assert_eq!(verdict.score, 0.0);
        }
    }

    #[test]
    fn a_turn_is_shown_by_its_burst() {
        // Without a burst: the poses alone prove nothing.
        let mut captures = followed();
        captures[1].burst.clear();
        captures[3].burst.truncate(2);
        let verdict = run(&captures);
        let without: Vec<&Failure> = verdict
            .failures
            .iter()
            .filter(|f| matches!(f, Failure::NoBurst { .. }))
            .collect();
        assert_eq!(
            without,
            [
                &Failure::NoBurst {
                    frame: 1,
                    frames: 0
                },
                &Failure::NoBurst {
                    frame: 3,
                    frames: 2
                }
            ],
            "{verdict:?}"
        );
        assert_eq!(verdict.score, 0.0);

        // Stills of the person in each pose, each repeated as its burst.
        let mut captures = followed();
        for c in &mut captures[1..] {
            let last = c.burst.last().unwrap().clone();
            c.burst = vec![last; 4];
        }
        let verdict = run(&captures);
        assert!(
            verdict
                .failures
                .iter()
                .all(|f| matches!(f, Failure::Still { sweep, .. } if sweep.abs() < 1.0)),
            "{verdict:?}"
        );
        assert_eq!(verdict.failures.len(), 3);

        // A turn of 4° within the burst is too little.
        let mut captures = followed();
        for (i, f) in captures[1].burst.iter_mut().enumerate() {
            f.shape = shape_seen(Surface::Head, 23.0 + 1.3 * i as f32, 3.0, 1.0);
        }
        assert!(matches!(
            run(&captures).failures.as_slice(),
            [Failure::Still { frame: 1, .. }]
        ));
    }

    #[test]
    fn a_burst_that_jumps_is_not_one_scene() {
        // Another photo in the middle of a burst: the face changed.
        let mut captures = followed();
        captures[1].burst[2].thumbnail = thumb(99);
        assert!(matches!(
            run(&captures).failures.as_slice(),
            [Failure::Jump {
                frame: 1,
                at: 1,
                ..
            }]
        ));
        // The face moved across the frame between two frames.
        let mut captures = followed();
        for p in &mut captures[2].burst[1].shape.0 {
            p.x += 60.0;
        }
        assert!(matches!(
            run(&captures).failures.as_slice(),
            [Failure::Jump {
                frame: 2,
                at: 0,
                ..
            }]
        ));
    }

    #[test]
    fn a_repeated_frame_fails_with_a_zero_score() {
        let mut captures = followed();
        captures.push(capture(Front, 0, 2.0, 3.0, 1)); // the first, again
        let verdict = run(&captures);
        assert_eq!(verdict.failures, [Failure::Repeated { frame: 4, of: 0 }]);
        assert_eq!(verdict.score, 0.0);

        // A recompressed copy: the same landmarks, a slightly different
        // picture.
        let mut captures = followed();
        let mut copy = capture(Front, 0, 2.0, 3.0, 1);
        copy.thumbnail.0[10] = copy.thumbnail.0[10].wrapping_add(3);
        captures.push(copy);
        assert_eq!(
            run(&captures).failures,
            [Failure::Repeated { frame: 4, of: 0 }]
        );
    }

    #[test]
    fn another_person_in_one_frame_fails_with_a_zero_score() {
        let mut captures = followed();
        captures[2].embedding = person(40);
        let verdict = run(&captures);
        assert!(
            matches!(
                verdict.failures.as_slice(),
                [Failure::OtherPerson { frame: 2, .. }]
            ),
            "{verdict:?}"
        );
        assert_eq!(verdict.score, 0.0);
    }

    #[test]
    fn frames_without_steps_are_no_challenge() {
        let c = capture(Front, 0, 0.0, 0.0, 1);
        let frames = [Frame {
            step: None,
            landmarks: &c.landmarks,
            shape: &c.shape,
            burst: &c.burst,
            embedding: &c.embedding,
            thumbnail: &c.thumbnail,
        }];
        assert_eq!(verify(&frames, SAME).failures, [Failure::NoChallenge]);
        assert_eq!(verify(&[], SAME).score, 0.0);
        // A single front capture, however frontal, shows no movement.
        let alone = [Frame {
            step: Some(Front),
            ..frames[0]
        }];
        assert_eq!(verify(&alone, SAME).failures, [Failure::NoChallenge]);
    }
}

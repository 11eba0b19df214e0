//! Active liveness against the attacks of the liveness sets
//! (`bv_e2e::spoof`), a few samples of each class, with bona fide samples
//! beside them (a check that refused everything would pass the attacks):
//! folded, turned and tilted prints, one photo repeated, stills of the
//! person stitched into a challenge, two people, a print waved across the
//! frame. `make bench` measures every sample of the sets (README, "Face
//! engine"), the classes not yet caught too (`Class::NOT_YET_CAUGHT`: a
//! print folded steeply and turned far).

use bv_e2e::liveness_eval::{Report, judge};
use bv_e2e::spoof::sets::{Class, Generator, Options};
use bv_face_engine::{FaceEngine, fixtures};

/// Attack samples per class: each must be refused.
const ATTACKS: usize = 2;
/// Bona fide samples: some must be accepted.
const BONA_FIDE: usize = 4;

/// The shared face engine with its 68-point model, and the sets' generator.
fn engine_and_sets() -> (std::sync::Arc<FaceEngine>, Generator) {
    let engine = FaceEngine::shared(fixtures::models_dir()).expect("the face models load");
    engine.load_shapes().expect("the 68-point model loads");
    let generator = Generator::new(&engine, Options::default()).unwrap();
    (engine, generator)
}

/// A set's JPEG, decoded as the worker decodes a command's images.
fn decode(jpeg: &[u8]) -> bv_engine::Capture {
    bv_engine::decode_bytes(jpeg, &bv_engine::ImageLimits::default()).expect("a set's JPEG decodes")
}

#[test]
fn attacks_of_every_class_are_refused_and_live_heads_are_not_all_refused() {
    let (engine, generator) = engine_and_sets();
    let mut report = Report::default();
    for class in Class::ALL {
        let count = if class == Class::BonaFide {
            BONA_FIDE
        } else if Class::NOT_YET_CAUGHT.contains(&class) {
            0
        } else {
            ATTACKS
        };
        for index in 0..count {
            report.add(judge(&engine, &generator.sample(class, index)));
        }
    }
    println!("{report}");
    for class in Class::ATTACKS {
        // Measured, not yet caught: README, "Active liveness, measured".
        if Class::NOT_YET_CAUGHT.contains(&class) {
            continue;
        }
        let (accepted, presented) = report.accepted(class);
        assert_eq!(
            (accepted, presented),
            (0, ATTACKS),
            "{class}: {:#?}",
            report.errors
        );
    }
    let (refused, presented) = report.refused_bona_fide();
    assert_eq!(presented, BONA_FIDE);
    assert!(
        refused < presented,
        "every live head refused: {:#?}",
        report.errors
    );
}

/// A burst is followed by the face's landmarks, from the box the detector
/// found the capture's face in: a still of a turned head, sent as a burst
/// (each frame the same photo shifted by up to 3 px), shows no turn. Its
/// landmarks were once followed from a box drawn round the last frame's
/// landmarks, which drifted towards the front frame by frame: the still
/// seemed to turn 20° and passed as motion.
#[test]
fn a_still_of_a_turned_head_is_followed_without_turning() {
    use bv_face_engine::{Want, liveness::BURST_MIN_SWEEP, shape};

    let (engine, generator) = engine_and_sets();
    for index in [0, 2] {
        let sample = generator.sample(Class::StitchedStills, index);
        let front = decode(sample.steps[0].jpeg.last().unwrap());
        let front = engine.observe_with(&front, Want { shape: true }).unwrap();
        let front = front.shape.unwrap();
        for step in &sample.steps[1..] {
            let frames: Vec<_> = step.jpeg.iter().map(|jpeg| decode(jpeg)).collect();
            let (last, burst) = frames.split_last().unwrap();
            let seen = engine.observe_with(last, Want { shape: true }).unwrap();
            let capture = seen.shape.as_ref().unwrap();
            let followed = engine.follow(burst, (last, capture), seen.face);
            let yaws: Vec<f32> = followed
                .iter()
                .map(|f| shape::turn(&front, &f.shape).unwrap().0)
                .collect();
            let spread = yaws.iter().copied().fold(f32::MIN, f32::max)
                - yaws.iter().copied().fold(f32::MAX, f32::min);
            assert!(
                spread < BURST_MIN_SWEEP,
                "sample {index}, {:?}: a still turned {spread:.1}° ({yaws:?})",
                step.step
            );
        }
    }
}

/// Heads turned or tilted far from the front that dlib's frontal detector
/// finds only in the image at twice the size (bona fide samples of the set:
/// turned 33° and 34°, tilted 25°) are measured there. They were once
/// refused as too small (`POOR_QUALITY`, "move closer") with faces over
/// 180 px wide.
#[test]
fn a_face_the_detector_finds_only_larger_is_measured_not_too_small() {
    use bv_face_engine::Want;

    let (engine, generator) = engine_and_sets();
    for index in [12, 22, 40] {
        let sample = generator.sample(Class::BonaFide, index);
        for step in &sample.steps {
            let capture = decode(step.jpeg.last().unwrap());
            let seen = engine.observe_with(&capture, Want { shape: true });
            assert!(
                seen.is_ok(),
                "sample {index}, {:?}: {:?}",
                step.step,
                seen.err()
            );
        }
    }
}

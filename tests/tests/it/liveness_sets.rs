//! Active liveness against the attacks of the liveness sets
//! (`bv_e2e::spoof`), a few samples of each class, with bona fide samples
//! beside them (a check that refused everything would pass the attacks):
//! folded, turned and tilted prints, one photo repeated, stills of the
//! person stitched into a challenge, two people, a print waved across the
//! frame. `make bench` measures every sample of the sets (README, "Face
//! engine").

use bv_e2e::liveness_eval::{Report, judge};
use bv_e2e::spoof::sets::{Class, Generator, Options};
use bv_face_engine::{FaceEngine, fixtures};

/// Attack samples per class: each must be refused.
const ATTACKS: usize = 2;
/// Bona fide samples: some must be accepted.
const BONA_FIDE: usize = 4;

#[test]
fn attacks_of_every_class_are_refused_and_live_heads_are_not_all_refused() {
    let engine = FaceEngine::shared(fixtures::models_dir()).expect("the face models load");
    engine.load_shapes().expect("the 68-point model loads");
    let generator = Generator::new(&engine, Options::default()).unwrap();
    let mut report = Report::default();
    for class in Class::ALL {
        let count = if class == Class::BonaFide {
            BONA_FIDE
        } else {
            ATTACKS
        };
        for index in 0..count {
            report.add(judge(&engine, &generator.sample(class, index)));
        }
    }
    println!("{report}");
    for class in Class::ALL {
        if class == Class::BonaFide {
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

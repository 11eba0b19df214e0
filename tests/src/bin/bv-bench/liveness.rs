//! Active liveness on the liveness sets (tests/src/spoof/): APCER per
//! attack class and BPCER on the bona fide set, with their counts
//! (ISO/IEC 30107-3), and what a 3-step challenge's analysis costs on one
//! core with its bursts against the same captures without them.

use std::time::{Duration, Instant};

use bv_e2e::liveness_eval::{self, Delivery, Report};
use bv_e2e::spoof::sets::{ATTACK_COUNT, BONA_FIDE_COUNT, Class, Generator, Options};
use bv_engine::{AnalyzeInput, CaptureInput, Engine, ImageLimits};
use bv_face_engine::{FaceEngine, fixtures};

pub struct Liveness {
    /// Per delivery: the frames as made, and as the hosted page sends them.
    pub reports: Vec<(Delivery, Report)>,
    /// One bona fide challenge's analysis, bursts followed.
    pub with_bursts: Vec<Duration>,
    /// The same three captures without their bursts (detect, landmarks,
    /// embed each; the liveness verdict then fails for want of motion).
    pub without: Vec<Duration>,
    pub generation: Duration,
}

/// Judges every sample of the default sets, and times the bona fide ones.
pub fn run() -> anyhow::Result<Liveness> {
    let engine = FaceEngine::load(fixtures::models_dir())?;
    engine.load_shapes()?;
    let generator = Generator::new(&engine, Options::default())?;
    let deliveries = [Delivery::AsMade, Delivery::Page];
    let mut reports: Vec<(Delivery, Report)> =
        deliveries.iter().map(|&d| (d, Report::default())).collect();
    let (mut with_bursts, mut without) = (Vec::new(), Vec::new());
    let mut generation = Duration::ZERO;
    let mut lines = vec![
        "delivery\tclass\taccepted\tframe\tsimilarity\tflat\thead\tframes\tmoved\tlikeness\tsweep"
            .to_owned(),
    ];
    for class in Class::ALL {
        let count = if class == Class::BonaFide {
            BONA_FIDE_COUNT
        } else {
            ATTACK_COUNT
        };
        for index in 0..count {
            let started = Instant::now();
            let sample = generator.sample(class, index);
            generation += started.elapsed();
            for (delivery, report) in &mut reports {
                let started = Instant::now();
                let outcome = liveness_eval::judge_as(&engine, &sample, *delivery);
                let elapsed = started.elapsed();
                lines.extend(
                    Report::lines(&outcome)
                        .into_iter()
                        .map(|line| format!("{delivery}\t{line}")),
                );
                report.add(outcome);
                if class == Class::BonaFide && *delivery == Delivery::AsMade {
                    with_bursts.push(elapsed);
                    without.push(captures_alone(&engine, &sample));
                }
            }
        }
    }
    // Every capture's measurements, to place thresholds by.
    std::fs::create_dir_all("target")?;
    std::fs::write("target/liveness-measures.tsv", lines.join("\n") + "\n")?;
    Ok(Liveness {
        reports,
        with_bursts,
        without,
        generation,
    })
}

/// The time of the sample's three captures analysed without bursts.
fn captures_alone(engine: &FaceEngine, sample: &bv_e2e::spoof::sets::Sample) -> Duration {
    let limits = ImageLimits::default();
    let started = Instant::now();
    let decoded: Vec<_> = sample
        .steps
        .iter()
        .map(|s| {
            let last = s.jpeg.last().expect("a step has frames");
            (
                s.step,
                bv_engine::decode_bytes(last, &limits).expect("decodes"),
            )
        })
        .collect();
    let captures: Vec<CaptureInput<'_>> = decoded
        .iter()
        .map(|(step, image)| CaptureInput {
            step: Some(*step),
            image,
            burst: &[],
        })
        .collect();
    let challenge = sample.challenge();
    let _ = engine.analyze(&AnalyzeInput {
        identifier: "bench",
        attempt: 1,
        liveness: bv_contract::LivenessMode::Active,
        challenge: Some(&challenge),
        captures: &captures,
    });
    started.elapsed()
}

//! The active liveness check, measured on the liveness sets
//! ([`crate::spoof::sets`]) as ISO/IEC 30107-3 counts them: per attack
//! class, APCER, the share of attack presentations accepted as live; on the
//! bona fide set, BPCER, the share of live people refused. Each with its
//! counts, never a rate alone.
//!
//! A sample goes through the engine as a validate command's frames would:
//! each frame's JPEG decoded and reduced the worker's way
//! ([`bv_engine::decode_bytes`]), each step's earlier frames as its burst,
//! the whole challenge through [`FaceEngine::examine`]. A sample is
//! accepted when the engine found no problem (a face in every capture) and
//! its liveness score reached the engine's threshold.

use std::collections::BTreeMap;
use std::fmt;

use bv_engine::{AnalyzeInput, CaptureInput, Engine, ImageLimits};
use bv_face_engine::FaceEngine;

use crate::spoof::sets::{Class, Generator, Sample};

/// What the engine made of one sample.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub class: Class,
    pub source: String,
    /// Accepted as a live person following the challenge.
    pub accepted: bool,
    pub score: Option<f32>,
    /// Why not, in short: the problems found, or the liveness failures.
    pub why: String,
    /// The liveness verifier's measurements, when it ran.
    pub measured: Vec<bv_face_engine::liveness::Measured>,
}

/// How a sample's frames reach the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    /// As the sets made them: every frame at the camera's size (an
    /// integrator's client sending full-size bursts).
    AsMade,
    /// As the hosted page sends them: the capture as made, each burst
    /// frame drawn at most [`PAGE_BURST_SIDE`] pixels on a side and
    /// re-encoded at JPEG quality [`PAGE_BURST_QUALITY`] (the page's
    /// canvas; `crates/ingress/assets/capture.js`).
    Page,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Delivery::AsMade => "as made",
            Delivery::Page => "through the page",
        })
    }
}

/// The longest side of a burst frame the hosted page sends.
pub const PAGE_BURST_SIDE: u32 = 480;
/// The JPEG quality of a burst frame the hosted page sends, in percent.
pub const PAGE_BURST_QUALITY: u8 = 75;

/// A burst frame as the hosted page would send it.
fn as_the_page_sends(frame: &image::RgbImage) -> Vec<u8> {
    let (w, h) = frame.dimensions();
    let scale = (PAGE_BURST_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = image::imageops::resize(frame, sw, sh, image::imageops::FilterType::Triangle);
    bv_face_engine::fixtures::jpeg(&small, PAGE_BURST_QUALITY)
}

/// Runs one sample through the engine, its frames as made.
pub fn judge(engine: &FaceEngine, sample: &Sample) -> Outcome {
    judge_as(engine, sample, Delivery::AsMade)
}

/// Runs one sample through the engine, its frames delivered `delivery`'s
/// way.
pub fn judge_as(engine: &FaceEngine, sample: &Sample, delivery: Delivery) -> Outcome {
    let limits = ImageLimits::default();
    let decoded: Vec<(bv_contract::ChallengeStep, Vec<bv_engine::Capture>)> = sample
        .steps
        .iter()
        .map(|step| {
            let last = step.jpeg.len() - 1;
            let frames = step
                .jpeg
                .iter()
                .enumerate()
                .map(|(k, bytes)| {
                    let sent: std::borrow::Cow<'_, [u8]> = match delivery {
                        Delivery::Page if k < last => as_the_page_sends(&step.burst[k]).into(),
                        _ => bytes.as_slice().into(),
                    };
                    bv_engine::decode_bytes(&sent, &limits).expect("a set's JPEG decodes")
                })
                .collect();
            (step.step, frames)
        })
        .collect();
    let captures: Vec<CaptureInput<'_>> = decoded
        .iter()
        .map(|(step, frames)| {
            let (last, burst) = frames.split_last().expect("a step has frames");
            CaptureInput {
                step: Some(*step),
                image: last,
                // The front is answered by its photo; the turns by their
                // motion.
                burst: if *step == bv_contract::ChallengeStep::Front {
                    &[]
                } else {
                    burst
                },
            }
        })
        .collect();
    let challenge = sample.challenge();
    let (analysis, verdict) = engine.examine(&AnalyzeInput {
        identifier: "liveness-set",
        attempt: 1,
        liveness: bv_contract::LivenessMode::Active,
        challenge: Some(&challenge),
        captures: &captures,
    });
    let accepted = analysis.problems.is_empty()
        && analysis
            .liveness
            .is_some_and(|score| score >= engine.liveness_threshold());
    let why = if !analysis.problems.is_empty() {
        format!("{:?}", analysis.problems)
    } else {
        verdict
            .as_ref()
            .map_or_else(String::new, |v| format!("{:?}", v.failures))
    };
    let measured = verdict.map(|v| v.measured).unwrap_or_default();
    Outcome {
        class: sample.class,
        source: sample.source.clone(),
        accepted,
        score: analysis.liveness,
        why,
        measured,
    }
}

/// The counts per class.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Class → (accepted, presented).
    pub counts: BTreeMap<Class, (usize, usize)>,
    /// The samples judged wrongly (attacks accepted, bona fide refused).
    pub errors: Vec<Outcome>,
}

impl Report {
    /// One line per measured capture: class, accepted, frame, similarity,
    /// flat, head, burst frames, most moved, least likeness, sweep.
    pub fn lines(outcome: &Outcome) -> Vec<String> {
        outcome
            .measured
            .iter()
            .map(|m| {
                let (flat, head) = m.flat.unwrap_or((f32::NAN, f32::NAN));
                let b = m.burst.unwrap_or_default();
                format!(
                    "{}\t{}\t{}\t{:.3}\t{:.4}\t{:.4}\t{}\t{:.3}\t{:.3}\t{:.1}",
                    outcome.class,
                    outcome.accepted,
                    m.frame,
                    m.similarity,
                    flat,
                    head,
                    b.frames,
                    b.most_moved,
                    b.least_likeness,
                    b.sweep
                )
            })
            .collect()
    }

    pub fn add(&mut self, outcome: Outcome) {
        let entry = self.counts.entry(outcome.class).or_default();
        entry.1 += 1;
        if outcome.accepted {
            entry.0 += 1;
        }
        let wrong = (outcome.class == Class::BonaFide) != outcome.accepted;
        if wrong {
            self.errors.push(outcome);
        }
    }

    /// Attacks of `class` accepted, and presented.
    pub fn accepted(&self, class: Class) -> (usize, usize) {
        self.counts.get(&class).copied().unwrap_or_default()
    }

    /// Bona fide presentations refused, and presented.
    pub fn refused_bona_fide(&self) -> (usize, usize) {
        let (accepted, presented) = self.accepted(Class::BonaFide);
        (presented - accepted, presented)
    }
}

/// Judges `count(class)` samples of every class, one at a time (a sample's
/// frames are dropped before the next is made).
pub fn measure(
    engine: &FaceEngine,
    generator: &Generator,
    count: impl Fn(Class) -> usize,
) -> Report {
    let mut report = Report::default();
    for class in Class::ALL {
        for index in 0..count(class) {
            let sample = generator.sample(class, index);
            report.add(judge(engine, &sample));
        }
    }
    report
}

impl fmt::Display for Report {
    /// The table: per attack class APCER with its counts, then BPCER.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = |n: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                100.0 * n as f64 / of as f64
            }
        };
        writeln!(f, "| class | measure | errors / presented | rate |")?;
        writeln!(f, "|---|---|---|---|")?;
        for (&class, &(accepted, presented)) in &self.counts {
            if class == Class::BonaFide {
                continue;
            }
            writeln!(
                f,
                "| {class} | APCER | {accepted} / {presented} | {:.1}% |",
                percent(accepted, presented)
            )?;
        }
        let (refused, presented) = self.refused_bona_fide();
        writeln!(
            f,
            "| bona fide | BPCER | {refused} / {presented} | {:.1}% |",
            percent(refused, presented)
        )
    }
}

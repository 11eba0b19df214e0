//! The face engine, measured (README, "Face engine"):
//!
//! - accuracy on every pair of the test photos' variants
//!   (`bv_face_engine::fixtures::variants`): the same person's and
//!   different people's scores, and the false accepts and rejects at the
//!   default threshold;
//! - the latency of one capture through the engine (detect, landmarks,
//!   quality, embedding) on one thread;
//! - the bare rate: the engine alone on a 640×480 camera frame, on every
//!   core;
//! - one bv-worker process in the biometric role (its own binary, so its
//!   memory is its own) deciding validate commands of that frame with the
//!   face engine: commands/s, the ratio to the bare rate, and its peak RSS
//!   with the models loaded.

use std::time::{Duration, Instant};

use bv_face_engine::{DEFAULT_MATCH_THRESHOLD, FaceEngine, fixtures};
use image::RgbImage;
use image::imageops::{self, FilterType};

use super::process::ServiceProcess;
use bv_e2e::{TestDb, TestPrefix, count_rows, seed_request};

/// Rounds over the variants for the latency figures.
const LATENCY_ROUNDS: usize = 3;

pub struct Accuracy {
    pub captures: usize,
    pub same: Vec<f32>,
    pub different: Vec<f32>,
    /// One capture's detect + embed, every capture of every round.
    pub latencies: Vec<Duration>,
    pub load: Duration,
}

/// Observes every variant ([`LATENCY_ROUNDS`] times, for the latencies)
/// and scores every pair of them.
pub fn accuracy() -> anyhow::Result<(FaceEngine, Accuracy)> {
    let started = Instant::now();
    let engine = FaceEngine::load(fixtures::models_dir())?;
    let load = started.elapsed();
    let variants = fixtures::variants();
    let captures: Vec<_> = variants
        .iter()
        .map(|v| fixtures::capture(v.image.clone()))
        .collect();
    let mut latencies = Vec::new();
    let mut embeddings = Vec::new();
    for round in 0..LATENCY_ROUNDS {
        for (variant, capture) in variants.iter().zip(&captures) {
            let started = Instant::now();
            let observed = engine.observe(capture);
            latencies.push(started.elapsed());
            let observation = observed.map_err(|rejection| {
                anyhow::anyhow!(
                    "{} ({}) was refused: {rejection:?}",
                    variant.photo,
                    variant.variant
                )
            })?;
            if round == 0 {
                embeddings.push((variant.person, observation.embedding));
            }
        }
    }
    let (mut same, mut different) = (Vec::new(), Vec::new());
    for (i, (a, ea)) in embeddings.iter().enumerate() {
        for (b, eb) in &embeddings[i + 1..] {
            let score = ea.similarity(eb);
            if a == b {
                same.push(score);
            } else {
                different.push(score);
            }
        }
    }
    same.sort_by(f32::total_cmp);
    different.sort_by(f32::total_cmp);
    latencies.sort();
    Ok((
        engine,
        Accuracy {
            captures: variants.len(),
            same,
            different,
            latencies,
            load,
        },
    ))
}

pub fn print_accuracy(a: &Accuracy) {
    let t = DEFAULT_MATCH_THRESHOLD;
    let false_rejects = a.same.iter().filter(|s| **s < t).count();
    let false_accepts = a.different.iter().filter(|s| **s >= t).count();
    println!(
        "face engine: {} captures (4 portraits x 6 variants), {} pairs; models loaded in {:.2} s",
        a.captures,
        a.same.len() + a.different.len(),
        a.load.as_secs_f64()
    );
    for (label, scores) in [("same person", &a.same), ("different people", &a.different)] {
        println!(
            "  {label:<17} {:>4} pairs: min {:.3}  median {:.3}  max {:.3}",
            scores.len(),
            scores.first().copied().unwrap_or(f32::NAN),
            scores.get(scores.len() / 2).copied().unwrap_or(f32::NAN),
            scores.last().copied().unwrap_or(f32::NAN),
        );
    }
    println!(
        "  at threshold {t}: false accepts {false_accepts}/{}, false rejects {false_rejects}/{}",
        a.different.len(),
        a.same.len()
    );
    println!(
        "  one capture, detect+embed (1 thread, {} captures): p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        a.latencies.len(),
        percentile(&a.latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&a.latencies, 0.99).as_secs_f64() * 1000.0,
        a.latencies
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0,
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// What a phone or webcam sends: `obama.jpg`'s head and shoulders (its
/// top, 4:3) at 640×480, as JPEG quality 85.
pub fn camera_frame() -> Vec<u8> {
    let photo = fixtures::photo("obama.jpg").rgb;
    let height = photo.width() * 3 / 4;
    let top: RgbImage = imageops::crop_imm(&photo, 0, 0, photo.width(), height).to_image();
    let frame = imageops::resize(&top, 640, 480, FilterType::Triangle);
    fixtures::jpeg(&frame, 85)
}

/// The engine alone on `frame` (decoded once), on `threads` threads at
/// once: captures/s.
pub fn bare_engine(engine: &FaceEngine, frame: &[u8], threads: usize) -> anyhow::Result<f64> {
    let capture = bv_engine::decode_bytes(frame, &bv_engine::ImageLimits::default())?;
    engine
        .observe(&capture)
        .map_err(|r| anyhow::anyhow!("the camera frame was refused: {r:?}"))?;
    let per_thread = 30;
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    let _ = engine.observe(&capture);
                }
            });
        }
    });
    Ok((threads * per_thread) as f64 / started.elapsed().as_secs_f64())
}

pub struct WorkerRun {
    pub rate: f64,
    pub consumers: usize,
    pub peak_rss_mib: f64,
}

/// `n` validations created by an in-process worker, then one validate
/// command each (`frame`, passive liveness, the project on the face
/// engine) decided by a bv-worker process in the biometric role only.
pub async fn worker_validate(
    db_conn: &sea_orm::DatabaseConnection,
    db: &TestDb,
    frame: &[u8],
    n: usize,
) -> anyhow::Result<WorkerRun> {
    use base64::Engine as _;
    let image = base64::engine::general_purpose::STANDARD.encode(frame);
    let request = seed_request();
    let project = request["project"].as_str().unwrap_or_default();
    let flow = request["projectFlow"].as_str().unwrap_or_default();
    bv_store::projects::set_biometrics(db_conn, project, Some(bv_contract::EngineKind::Face), None)
        .await?;
    let passive = Some(bv_contract::LivenessMode::Passive);
    bv_store::flows::set_settings(db_conn, flow, passive, None, None).await?;

    let prefix = TestPrefix::new();
    let queued = super::queue_validate_commands(db_conn, db, &prefix, &image, n).await?;
    let before = queued.attempts_before;

    // The biometric role, as deploy/k8s/components/biometrics runs it.
    let consumers = 2;
    let mut process = ServiceProcess::start(
        &queued.overrides,
        &[
            ("worker.creates", "false"),
            ("worker.dispatch", "false"),
            ("worker.biometrics", "true"),
            ("worker.biometrics_concurrency", &consumers.to_string()),
            ("biometrics.preload_models", "true"),
        ],
    )?;
    let rate = process
        .rate_until(n, || async {
            (count_rows(db_conn, "validation_attempts").await as usize).saturating_sub(before)
        })
        .await?;
    let peak_rss_mib = process.peak_rss_mib();
    process.stop().await;
    Ok(WorkerRun {
        rate,
        consumers,
        peak_rss_mib,
    })
}

//! Writes the liveness evaluation sets (`bv_e2e::spoof`) as JPEG files, to
//! look at: `DIR/<class>/<NNN>/step-<k>-frame-<j>.jpg` (the exact JPEG
//! bytes of each frame, `k` and `j` from 1; a step's last frame is the
//! capture answering it), and `DIR/manifest.txt`: one block per sample with
//! its class, person, challenge, how it was made and each step's pose.
//!
//! With `--observe`, the face engine looks at each step's capture and the
//! manifest says what it found (the pose from dlib's landmarks, or why the
//! capture was refused), with a count per class at the end.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bv_e2e::spoof::{Class, Generator, Options, Sample};
use bv_face_engine::pose::{self, MEAN_NOSE_DROP};
use bv_face_engine::{FaceEngine, fixtures};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Write the liveness evaluation sets (bona fide and attacks) as JPEG files")]
struct Args {
    /// Where to write them.
    #[arg(default_value = "var/liveness-set")]
    dir: PathBuf,
    /// Bona fide samples.
    #[arg(long, default_value_t = bv_e2e::spoof::BONA_FIDE_COUNT)]
    bona_fide: usize,
    /// Samples of each attack class.
    #[arg(long, default_value_t = bv_e2e::spoof::ATTACK_COUNT)]
    attacks: usize,
    /// Only these classes (by name, comma-separated).
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// Frames per step.
    #[arg(long, default_value_t = 5)]
    frames: usize,
    /// Have the face engine look at each step's capture.
    #[arg(long)]
    observe: bool,
    /// Threads making samples (the samples are the same whatever the
    /// number: each has its own seed).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also write each sample's frames at half size on one PNG
    /// (`sheet.png`: a row per step) and each step's capture as a PNG
    /// (`step-<k>.png`), to look at.
    #[arg(long)]
    sheets: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let classes: Vec<Class> = if args.classes.is_empty() {
        Class::ALL.to_vec()
    } else {
        args.classes
            .iter()
            .map(|name| Class::from_name(name).with_context(|| format!("no class {name}")))
            .collect::<anyhow::Result<_>>()?
    };
    let engine = FaceEngine::shared(fixtures::models_dir())?;
    let options = Options {
        frames: args.frames,
        ..Options::default()
    };
    let generator = Arc::new(Generator::new(&engine, options)?);
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;

    let mut manifest = String::new();
    let mut summary = String::new();
    let started = Instant::now();
    let mut generating = std::time::Duration::ZERO;
    for class in classes {
        let count = if class.is_attack() {
            args.attacks
        } else {
            args.bona_fide
        };
        let class_started = Instant::now();
        let (mut frames, mut accepted, mut captures) = (0, 0, 0);
        let mut made = Made::new(&generator, class, count, args.threads.max(1));
        for index in 0..count {
            let waited = Instant::now();
            let sample = made.next();
            generating += waited.elapsed();
            let dir = args.dir.join(class.name()).join(format!("{index:03}"));
            std::fs::create_dir_all(&dir)?;
            for (k, step) in sample.steps.iter().enumerate() {
                for (j, jpeg) in step.jpeg.iter().enumerate() {
                    let path = dir.join(format!("step-{}-frame-{}.jpg", k + 1, j + 1));
                    std::fs::write(&path, jpeg)
                        .with_context(|| format!("writing {}", path.display()))?;
                    frames += 1;
                }
            }
            if args.sheets {
                let path = dir.join("sheet.png");
                sheet(&sample)
                    .save(&path)
                    .with_context(|| format!("writing {}", path.display()))?;
                for (k, step) in sample.steps.iter().enumerate() {
                    let path = dir.join(format!("step-{}.png", k + 1));
                    step.capture()
                        .save(&path)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
            let seen = if args.observe {
                let seen = observe(&engine, &sample);
                captures += seen.len();
                accepted += seen.iter().filter(|s| s.starts_with("face")).count();
                Some(seen)
            } else {
                None
            };
            write_sample(&mut manifest, index, &sample, seen.as_deref());
        }
        let elapsed = class_started.elapsed();
        let _ = write!(
            summary,
            "{:<16} {count:>3} samples, {frames:>4} frames, {:>6.1} s",
            class.name(),
            elapsed.as_secs_f32()
        );
        if args.observe {
            let _ = write!(summary, ", {accepted}/{captures} captures with a face");
        }
        summary.push('\n');
        eprintln!("{}", summary.lines().last().unwrap_or_default());
    }
    let _ = writeln!(
        summary,
        "generated in {:.1} s (written in {:.1} s)",
        generating.as_secs_f32(),
        started.elapsed().as_secs_f32()
    );
    manifest.push_str("\n# summary\n");
    manifest.push_str(&summary);
    let path = args.dir.join("manifest.txt");
    std::fs::write(&path, manifest).with_context(|| format!("writing {}", path.display()))?;
    print!("{summary}");
    println!("manifest: {}", path.display());
    Ok(())
}

/// Samples of one class made by `threads` threads ahead of the writer, in
/// order.
struct Made {
    receivers: Vec<std::sync::mpsc::Receiver<Sample>>,
    next: usize,
}

impl Made {
    fn new(generator: &Arc<Generator>, class: Class, count: usize, threads: usize) -> Made {
        // Thread k makes samples k, k + threads, …; a bounded channel each
        // keeps memory to a few samples.
        let receivers = (0..threads)
            .map(|k| {
                let (send, receive) = std::sync::mpsc::sync_channel(2);
                let generator = Arc::clone(generator);
                std::thread::spawn(move || {
                    for index in (k..count).step_by(threads) {
                        if send.send(generator.sample(class, index)).is_err() {
                            break;
                        }
                    }
                });
                receive
            })
            .collect();
        Made { receivers, next: 0 }
    }

    fn next(&mut self) -> Sample {
        let k = self.next % self.receivers.len();
        self.next += 1;
        self.receivers[k]
            .recv()
            .unwrap_or_else(|_| panic!("a sample maker stopped"))
    }
}

/// The sample's frames at half size, a row per step.
fn sheet(sample: &Sample) -> image::RgbImage {
    let first = sample.steps[0].capture();
    let (w, h) = (first.width() / 2, first.height() / 2);
    let columns = sample
        .steps
        .iter()
        .map(|s| s.burst.len())
        .max()
        .unwrap_or(1) as u32;
    let mut out = image::RgbImage::new(w * columns, h * sample.steps.len() as u32);
    for (k, step) in sample.steps.iter().enumerate() {
        for (j, frame) in step.burst.iter().enumerate() {
            let small = image::imageops::resize(frame, w, h, image::imageops::FilterType::Triangle);
            image::imageops::replace(
                &mut out,
                &small,
                i64::from(j as u32 * w),
                i64::from(k as u32 * h),
            );
        }
    }
    out
}

/// What the engine finds on each step's capture.
fn observe(engine: &FaceEngine, sample: &Sample) -> Vec<String> {
    let mut front_drop = MEAN_NOSE_DROP;
    sample
        .steps
        .iter()
        .map(|step| {
            let capture = fixtures::capture(step.capture().clone());
            match engine.observe(&capture) {
                Ok(o) => {
                    let pose = pose::estimate(&o.landmarks, front_drop);
                    match pose {
                        Some(p) => {
                            if step.step == bv_contract::ChallengeStep::Front {
                                front_drop = p.nose_drop;
                            }
                            format!(
                                "face {:.0} px wide, yaw {:.1}°, pitch {:.1}° (against the front), roll {:.1}°",
                                o.face.right - o.face.left,
                                p.yaw,
                                p.pitch,
                                p.roll
                            )
                        }
                        None => "face, degenerate landmarks".to_owned(),
                    }
                }
                Err(rejection) => format!("refused: {rejection:?}"),
            }
        })
        .collect()
}

fn write_sample(out: &mut String, index: usize, sample: &Sample, seen: Option<&[String]>) {
    let challenge: Vec<&str> = sample.challenge().iter().map(|s| s.as_str()).collect();
    let _ = writeln!(
        out,
        "{}/{index:03}  person {}  challenge {}",
        sample.class.name(),
        sample.person,
        challenge.join(",")
    );
    let _ = writeln!(out, "  source: {}", sample.source);
    for (k, step) in sample.steps.iter().enumerate() {
        let v = &step.view;
        let _ = write!(
            out,
            "  step {} {}: {} frames, ends at yaw {:.1}°, pitch {:.1}°, roll {:.1}°, shift ({:.0}, {:.0}), scale {:.2}",
            k + 1,
            step.step.as_str(),
            step.burst.len(),
            v.yaw_deg,
            v.pitch_deg,
            v.roll_deg,
            v.shift_x,
            v.shift_y,
            v.scale
        );
        if let Some(seen) = seen.and_then(|s| s.get(k)) {
            let _ = write!(out, "; engine: {seen}");
        }
        out.push('\n');
    }
}

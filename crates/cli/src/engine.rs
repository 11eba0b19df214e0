//! `bvctl engine evaluate DIR`: the face engine measured on an operator's
//! own people. `DIR` holds one folder per person, several photos (JPEG or
//! PNG) in each; every photo goes through what a validation's capture goes
//! through (decoded within the default limits, one face found, judged for
//! quality, embedded), and every pair is compared: the genuine and impostor
//! score spreads, the false match and false non-match rates at the
//! threshold with their counts and 95% bounds, the equal error rate and the
//! threshold that gives it, and the photos each check refused
//! (`bv_face_engine::population`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use bv_engine::{ImageLimits, decode_bytes};
use bv_face_engine::population::{self, ErrorRate, Photo, Refusal, Report, Spread};
use bv_face_engine::{DEFAULT_MATCH_THRESHOLD, FaceEngine};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum EngineCmd {
    /// Measure the face engine's matcher on a folder of people.
    Evaluate {
        /// One folder per person, several photos each.
        dir: PathBuf,
        /// The match threshold to report the error rates at (the engine's
        /// default unless given).
        #[arg(long, default_value_t = DEFAULT_MATCH_THRESHOLD)]
        threshold: f32,
        /// The face models (scripts/models.sh fetches them).
        #[arg(long, env = "BV__BIOMETRICS__MODELS_DIR", default_value = "var/models")]
        models: PathBuf,
    },
}

pub fn run(cmd: EngineCmd, as_json: bool) -> anyhow::Result<String> {
    match cmd {
        EngineCmd::Evaluate {
            dir,
            threshold,
            models,
        } => {
            if !(0.0..=1.0).contains(&threshold) {
                anyhow::bail!("--threshold must be between 0 and 1");
            }
            let engine = FaceEngine::load(&models)
                .with_context(|| format!("cannot load the face models in {}", models.display()))?;
            let photos = measure(&engine, &dir)?;
            let report = population::evaluate(&photos, threshold);
            Ok(if as_json {
                serde_json::to_string(&report)?
            } else {
                text(&report)
            })
        }
    }
}

/// Every photo of every person's folder, measured, in name order.
fn measure(engine: &FaceEngine, dir: &Path) -> anyhow::Result<Vec<Photo>> {
    let mut photos = Vec::new();
    for person in sorted(dir)? {
        if !person.is_dir() {
            continue;
        }
        let name = file_name(&person);
        for file in sorted(&person)? {
            let is_image = file
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["jpg", "jpeg", "png"].contains(&e.to_ascii_lowercase().as_str()));
            if !file.is_file() || !is_image {
                continue;
            }
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let measured = match decode_bytes(&bytes, &ImageLimits::default()) {
                Err(_) => Err(Refusal::InvalidImage),
                Ok(capture) => engine
                    .observe(&capture)
                    .map(|o| o.embedding)
                    .map_err(Refusal::from),
            };
            photos.push(Photo {
                person: name.clone(),
                name: file_name(&file),
                measured,
            });
        }
    }
    if photos.is_empty() {
        anyhow::bail!(
            "{} holds no photos: put one folder per person in it, with JPEG or PNG photos",
            dir.display()
        );
    }
    Ok(photos)
}

fn sorted(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn text(r: &Report) -> String {
    let mut lines = vec![format!(
        "{} persons, {} photos: {} measured, {} refused",
        r.persons,
        r.photos,
        r.measured,
        r.photos - r.measured
    )];
    for (check, photos) in &r.refused {
        lines.push(format!("  refused by {check}: {}", photos.join(", ")));
    }
    let spread = |what: &str, s: &Option<Spread>| match s {
        Some(s) => format!(
            "{what} pairs {}: min {:.3}, p5 {:.3}, median {:.3}, p95 {:.3}, max {:.3}",
            s.pairs, s.min, s.p5, s.median, s.p95, s.max
        ),
        None => format!("{what} pairs 0"),
    };
    lines.push(spread("genuine", &r.genuine));
    lines.push(spread("impostor", &r.impostor));
    let rate = |what: &str, e: &ErrorRate| {
        format!(
            "{what} {}/{} = {:.2}% (95% CI {:.2}-{:.2}%)",
            e.errors,
            e.trials,
            e.rate * 100.0,
            e.low * 100.0,
            e.high * 100.0
        )
    };
    lines.push(format!(
        "at threshold {:.3}: {}, {}",
        r.threshold,
        rate("FMR", &r.fmr),
        rate("FNMR", &r.fnmr)
    ));
    lines.push(match r.equal {
        Some(e) if e.rate == 0.0 => format!(
            "EER 0%: every genuine score is above every impostor score; threshold halfway: {:.3}",
            e.threshold
        ),
        Some(e) => format!("EER {:.2}% at threshold {:.3}", e.rate * 100.0, e.threshold),
        None => "EER: needs genuine and impostor pairs (two photos of one person, two persons)"
            .to_owned(),
    });
    lines.join("\n")
}

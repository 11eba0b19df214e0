//! Measuring the matcher on a population: every pair of photos of one
//! person (genuine) and of two people (impostor) compared, the error rates
//! at a threshold with their counts and 95% bounds, and the equal error
//! rate. `bvctl engine evaluate` runs it on an operator's own folder of
//! people, since no population of faces could be pinned with the service.
//!
//! The terms are ISO/IEC 19795-1's: the false match rate (FMR) is the share
//! of impostor pairs scoring at or above the threshold, the false non-match
//! rate (FNMR) the share of genuine pairs scoring below it. With few pairs a
//! rate means little on its own, so each comes with its counts and a Wilson
//! score interval (0 errors in 3 trials is "at most 56%", not "0%").

use std::collections::BTreeMap;

use serde::Serialize;

use crate::observe::Rejection;
use crate::quality::Flaw;
use crate::template::Embedding;

/// One photo, measured: its embedding, or why it was refused.
pub struct Photo {
    pub person: String,
    pub name: String,
    pub measured: Result<Embedding, Refusal>,
}

/// Why a photo was not measured, as a validation would say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Refusal {
    /// It does not decode within the limits (`INVALID_IMAGE`).
    InvalidImage,
    NoFace,
    MultipleFaces,
    CutOff,
    TooSmall,
    Blurred,
    TooDark,
    TooBright,
    NotEmbedded,
}

impl Refusal {
    /// The check that refused it, with the reason code a user would get.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::InvalidImage => "INVALID_IMAGE",
            Refusal::NoFace => "NO_FACE",
            Refusal::MultipleFaces => "MULTIPLE_FACES",
            Refusal::CutOff => "POOR_QUALITY (cut off)",
            Refusal::TooSmall => "POOR_QUALITY (too small)",
            Refusal::Blurred => "POOR_QUALITY (blurred)",
            Refusal::TooDark => "POOR_QUALITY (too dark)",
            Refusal::TooBright => "POOR_QUALITY (too bright)",
            Refusal::NotEmbedded => "POOR_QUALITY (not embedded)",
        }
    }
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::NoFace => Refusal::NoFace,
            Rejection::MultipleFaces(_) => Refusal::MultipleFaces,
            Rejection::CutOff => Refusal::CutOff,
            Rejection::TooSmall { .. } => Refusal::TooSmall,
            Rejection::Flawed(Flaw::Blurred) => Refusal::Blurred,
            Rejection::Flawed(Flaw::TooDark) => Refusal::TooDark,
            Rejection::Flawed(Flaw::TooBright) => Refusal::TooBright,
            Rejection::NotEmbedded => Refusal::NotEmbedded,
        }
    }
}

/// An error rate: `errors` of `trials`, with its 95% Wilson interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ErrorRate {
    pub errors: usize,
    pub trials: usize,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

impl ErrorRate {
    pub fn new(errors: usize, trials: usize) -> ErrorRate {
        let (low, high) = wilson(errors, trials);
        ErrorRate {
            errors,
            trials,
            rate: if trials == 0 {
                0.0
            } else {
                errors as f64 / trials as f64
            },
            low,
            high,
        }
    }
}

/// How scores spread.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub pairs: usize,
    pub min: f32,
    pub p5: f32,
    pub median: f32,
    pub p95: f32,
    pub max: f32,
}

impl Spread {
    fn of(scores: &[f32]) -> Option<Spread> {
        let mut s = scores.to_vec();
        s.sort_by(f32::total_cmp);
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        (!s.is_empty()).then(|| Spread {
            pairs: s.len(),
            min: s[0],
            p5: at(0.05),
            median: at(0.5),
            p95: at(0.95),
            max: s[s.len() - 1],
        })
    }
}

/// The equal error rate: the threshold where FMR and FNMR meet.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Equal {
    /// The mean of FMR and FNMR at `threshold` (0 when the two sets do
    /// not overlap).
    pub rate: f64,
    pub threshold: f32,
}

/// What `evaluate` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub persons: usize,
    pub photos: usize,
    pub measured: usize,
    /// Refused photos (`person/name`) by the check that refused them.
    pub refused: BTreeMap<&'static str, Vec<String>>,
    pub genuine: Option<Spread>,
    pub impostor: Option<Spread>,
    pub threshold: f32,
    pub fmr: ErrorRate,
    pub fnmr: ErrorRate,
    pub equal: Option<Equal>,
}

/// Compares every pair of measured photos and reports at `threshold`.
pub fn evaluate(photos: &[Photo], threshold: f32) -> Report {
    let mut refused: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut measured = Vec::new();
    for photo in photos {
        match &photo.measured {
            Ok(embedding) => measured.push((photo.person.as_str(), embedding)),
            Err(why) => refused
                .entry(why.label())
                .or_default()
                .push(format!("{}/{}", photo.person, photo.name)),
        }
    }
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, (a_person, a)) in measured.iter().enumerate() {
        for (b_person, b) in &measured[i + 1..] {
            let score = a.similarity(b);
            if a_person == b_person {
                genuine.push(score);
            } else {
                impostor.push(score);
            }
        }
    }
    let mut persons: Vec<&str> = photos.iter().map(|p| p.person.as_str()).collect();
    persons.sort_unstable();
    persons.dedup();
    Report {
        persons: persons.len(),
        photos: photos.len(),
        measured: measured.len(),
        refused,
        genuine: Spread::of(&genuine),
        impostor: Spread::of(&impostor),
        threshold,
        fmr: ErrorRate::new(
            impostor.iter().filter(|s| **s >= threshold).count(),
            impostor.len(),
        ),
        fnmr: ErrorRate::new(
            genuine.iter().filter(|s| **s < threshold).count(),
            genuine.len(),
        ),
        equal: equal_error(&genuine, &impostor),
    }
}

/// The threshold where the false match and false non-match rates are
/// closest, and their mean there. Without overlap (every genuine score above
/// every impostor score) the rate is 0 and the threshold halfway between.
pub fn equal_error(genuine: &[f32], impostor: &[f32]) -> Option<Equal> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let lowest_genuine = genuine.iter().copied().fold(f32::INFINITY, f32::min);
    let highest_impostor = impostor.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if highest_impostor < lowest_genuine {
        return Some(Equal {
            rate: 0.0,
            threshold: (lowest_genuine + highest_impostor) / 2.0,
        });
    }
    let rates = |t: f32| {
        let fmr = impostor.iter().filter(|s| **s >= t).count() as f64 / impostor.len() as f64;
        let fnmr = genuine.iter().filter(|s| **s < t).count() as f64 / genuine.len() as f64;
        (fmr, fnmr)
    };
    let mut candidates: Vec<f32> = genuine.iter().chain(impostor).copied().collect();
    candidates.sort_by(f32::total_cmp);
    candidates
        .into_iter()
        .map(|t| {
            let (fmr, fnmr) = rates(t);
            (
                (fmr - fnmr).abs(),
                Equal {
                    rate: (fmr + fnmr) / 2.0,
                    threshold: t,
                },
            )
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, equal)| equal)
}

/// The 95% Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denominator = 1.0 + Z * Z / n;
    let centre = (p + Z * Z / (2.0 * n)) / denominator;
    let half = Z * ((p * (1.0 - p) + Z * Z / (4.0 * n)) / n).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_interval_matches_published_values() {
        // 0 of 10: [0, 0.2775]; 5 of 10: [0.2366, 0.7634] (Wilson 1927,
        // as tabulated by Newcombe 1998).
        let (low, high) = wilson(0, 10);
        assert_eq!(low, 0.0);
        assert!((high - 0.2775).abs() < 1e-4, "{high}");
        let (low, high) = wilson(5, 10);
        assert!((low - 0.2366).abs() < 1e-4 && (high - 0.7634).abs() < 1e-4);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn separated_scores_have_no_equal_error_and_a_threshold_between() {
        let equal = equal_error(&[0.8, 0.7, 0.667], &[0.2, 0.534]).unwrap();
        assert_eq!(equal.rate, 0.0);
        assert!((equal.threshold - 0.6005).abs() < 1e-4);
    }

    #[test]
    fn overlapping_scores_meet_where_both_rates_are_alike() {
        // Genuine 0.4..0.9, impostor 0.1..0.5: at 0.5 one impostor of five
        // matches (20%) and one genuine of five does not (20%).
        let genuine = [0.4, 0.6, 0.7, 0.8, 0.9];
        let impostor = [0.1, 0.2, 0.3, 0.35, 0.5];
        let equal = equal_error(&genuine, &impostor).unwrap();
        assert_eq!(equal.threshold, 0.5);
        assert!((equal.rate - 0.2).abs() < 1e-9);
        assert_eq!(equal_error(&genuine, &[]), None);
    }

    #[test]
    fn error_rates_count_at_the_threshold() {
        let r = ErrorRate::new(1, 4);
        assert_eq!((r.errors, r.trials, r.rate), (1, 4, 0.25));
        assert!(r.low < 0.25 && r.high > 0.25);
    }
}

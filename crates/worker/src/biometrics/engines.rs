//! Which engine decides a project's validations, and the face engine's
//! models, loaded once per process.
//!
//! The worker's biometric role checks the face models' files (sha256) when
//! it starts and refuses to start when one is missing or corrupt; it loads
//! them then (`biometrics.preload_models`, the default) or at the first face
//! challenge or validation. Either way one [`FaceEngine`] serves every
//! consumer of the process, behind an `Arc`.

use std::path::PathBuf;
use std::sync::Arc;

use bv_contract::EngineKind;
use bv_engine::Engine;
use bv_engine::sandbox::SandboxEngine;
use bv_face_engine::{FaceEngine, LoadError};
use tokio::sync::OnceCell;

/// The engines of this process.
pub struct Engines {
    sandbox: Arc<SandboxEngine>,
    models_dir: PathBuf,
    face: OnceCell<Arc<FaceEngine>>,
}

impl Engines {
    /// Checks the face models in `models_dir` and, when `preload`, loads
    /// them (on a blocking thread: it takes a few seconds).
    pub async fn start(models_dir: PathBuf, preload: bool) -> Result<Engines, LoadError> {
        let dir = models_dir.clone();
        let checked = tokio::task::spawn_blocking(move || bv_face_engine::models::verify(&dir))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        checked?;
        if std::env::var_os("OPENBLAS_NUM_THREADS").is_none() {
            // OpenBLAS reads it when the library loads, before main: it can
            // only come from the environment. Measured (make bench, 2 cores):
            // 2 consumers decide 16.6 commands/s with it at 1, 12.2 without.
            tracing::warn!(
                "OPENBLAS_NUM_THREADS is not set: each face-engine call may start a \
                 thread per core and the biometric consumers will fight over them; \
                 set OPENBLAS_NUM_THREADS=1 (the image and the manifests do)"
            );
        }
        let engines = Engines {
            sandbox: Arc::new(SandboxEngine),
            models_dir,
            face: OnceCell::new(),
        };
        if preload {
            // With the 68-point model, which active liveness reads otherwise
            // at its first capture (seconds, 100 MB).
            let face = engines.face().await?;
            tokio::task::spawn_blocking(move || face.load_shapes())
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        }
        Ok(engines)
    }

    /// The engine of this kind.
    pub async fn get(&self, kind: EngineKind) -> Result<Arc<dyn Engine>, LoadError> {
        Ok(match kind {
            EngineKind::Sandbox => self.sandbox.clone(),
            EngineKind::Face => self.face().await?,
        })
    }

    async fn face(&self) -> Result<Arc<FaceEngine>, LoadError> {
        self.face
            .get_or_try_init(|| async {
                let dir = self.models_dir.clone();
                let started = std::time::Instant::now();
                let loaded = tokio::task::spawn_blocking(move || FaceEngine::shared(&dir))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
                tracing::info!(
                    dir = %self.models_dir.display(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "face models loaded"
                );
                Ok(loaded)
            })
            .await
            .cloned()
    }
}

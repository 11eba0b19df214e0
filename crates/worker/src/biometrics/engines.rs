//! Which engine decides a project's validations.

use bv_contract::EngineKind;
use bv_engine::Engine;
use bv_engine::sandbox::SandboxEngine;

static SANDBOX: SandboxEngine = SandboxEngine;

/// The engine of this kind (engines hold their models for the process's life).
pub fn engine(kind: EngineKind) -> &'static dyn Engine {
    match kind {
        EngineKind::Sandbox => &SANDBOX,
    }
}

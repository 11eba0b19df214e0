//! sea-orm entities, one per table (see `migrations/`).

pub mod biometric_validation;
pub mod delivery;
pub mod delivery_attempt;
pub mod project;
pub mod project_flow;

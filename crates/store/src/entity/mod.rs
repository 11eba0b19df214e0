//! sea-orm entities, one per table (see `migrations/`).

pub mod biometric_validation;
pub mod challenge;
pub mod delivery;
pub mod delivery_attempt;
pub mod person;
pub mod project;
pub mod project_flow;
pub mod validate_start;
pub mod validation_attempt;

//! The wire contract of the biometric validation service, with no I/O.
//!
//! Everything that crosses a process boundary is defined here once: the seed's
//! create request (parsed into a [`NewValidation`] that can only hold valid
//! data), the validation as the API returns it, the error codes with their HTTP
//! status, the AMQP names and the create command envelope. The ingress and the
//! worker both depend on this crate, so they apply the same rules.

pub mod amqp;
pub mod biometrics;
pub mod closed_set;
pub mod command;
pub mod delivery;
pub mod error;
pub mod idempotency;
pub mod project;
pub mod request;
pub mod validate_body;
pub mod validation;
pub mod webhook;

pub use biometrics::{
    AttemptView, Challenge, ChallengeCommand, ChallengeStep, Decision, DeletePersonCommand,
    EngineKind, Frame, LivenessMode, Os, PersonView, PublicView, Reason, Scores, ValidateCommand,
    ValidateRequest, frames_fit,
};
pub use command::{
    Accepted, ChallengeOutcome, CreateCommand, CreateOutcome, DeletePersonOutcome, Outcome,
    RedeliverCommand, RedeliverOutcome, Success, ValidateOutcome, ValidateResult,
};
pub use delivery::{
    AttemptOutcome, AttemptView as DeliveryAttemptView, Channel, DeliveryStatus, DeliveryView,
};
pub use error::{ApiError, ErrorCode};
pub use project::{EmbedOrigin, FlowStatus, FlowType, ProjectStatus};
pub use request::{Language, NewValidation, ValidationType};
pub use validation::{BiometricValidation, ValidationStatus, format_timestamp};
pub use webhook::{EventType, WebhookEvent};

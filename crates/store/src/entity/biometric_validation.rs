//! A biometric validation: every field of the seed's request, plus its client,
//! status and the fingerprint of the request that created it.

use bv_contract::{Language, ValidationStatus, ValidationType};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "biometric_validations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client: String,
    pub project: String,
    pub project_flow: String,
    pub status: ValidationStatus,
    pub identifier: String,
    #[sea_orm(column_name = "type")]
    pub kind: ValidationType,
    pub expires_at: Option<DateTimeUtc>,
    pub redirect_url: Option<String>,
    pub webhook_url: Option<String>,
    #[sea_orm(column_name = "requires_2fa")]
    pub requires_2fa: bool,
    pub ip_address: Option<String>,
    pub send_via_email: bool,
    pub email: Option<String>,
    pub language: Language,
    /// SHA-256 of client and normalized request: tells a retry from a reuse.
    pub request_hash: String,
    /// Attempts decided so far.
    pub attempts: i32,
    /// The person this validation enrolled or matched.
    pub person_id: Option<Uuid>,
    /// Whether that person was enrolled by this validation.
    pub person_enrolled: Option<bool>,
    /// The attempt that decided the validation (validated or failed).
    pub decided_attempt: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

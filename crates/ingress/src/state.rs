//! What every handler shares.

use std::sync::Arc;

use bv_store::sea_orm::DatabaseConnection;

use crate::auth::Verifier;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::settings::IngressSettings;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub publisher: Arc<Publisher>,
    pub verifier: Arc<Verifier>,
    pub settings: Arc<IngressSettings>,
    pub metrics: Arc<Metrics>,
    /// The longest a read may wait for the database (then `503`).
    pub db_timeout: std::time::Duration,
    /// Session tokens, links and result signatures.
    pub sessions: Arc<bv_runtime::session::Sessions>,
    /// Limits on captures.
    pub biometrics: Arc<bv_runtime::BiometricsSettings>,
    /// Rate limits and validate slots.
    pub limits: Arc<Limits>,
}

//! What every binary of the service needs at run time: settings loading,
//! telemetry, the AMQP connection and topology, trace-context propagation
//! over AMQP headers, retrying with backoff, graceful shutdown, and the process life around them
//! (with `--version`, from [`build_info`]).

pub mod amqp;
pub mod build_info;
pub mod metrics;
pub mod progress;
pub mod propagation;
pub mod retry;
pub mod schema;
pub mod service;
pub mod session;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

pub use settings::{
    AmqpSettings, AuthSettings, BiometricsSettings, DatabaseSettings, LinkSettings,
    TelemetrySettings, WebhookSettings,
};
pub use shutdown::Shutdown;

//! Test harness: a real ingress and worker against real RabbitMQ and PostgreSQL.
//!
//! Every [`TestApp`] gets its own PostgreSQL database and its own AMQP name
//! prefix, created here and dropped when the app is dropped, so tests run in
//! parallel without sharing state. The worker runs in-process (or, for crash
//! tests, as a separate `bv-worker` process the test can SIGKILL). One module
//! per concern; everything is re-exported here.

pub mod app;
pub mod bare_insert;
pub mod broker;
pub mod browser;
pub mod db;
pub mod fault;
pub mod fixtures;
pub mod journey;
pub mod liveness_eval;
pub mod openapi;
pub mod otlp;
pub mod poll;
pub mod ports;
pub mod puppet;
pub mod python;
pub mod rabbit_cluster;
pub mod receiver;
pub mod slow_body;
pub mod smtp;
pub mod spoof;
pub mod telemetry;
pub mod tokens;
pub mod watchdog;

pub use app::{Options, TestApp, dispatch_settings, overrides};
pub use broker::{
    AMQP_URL, Answer, TestPrefix, amqp_connect, publish_create, publish_raw, request_reply,
};
pub use db::{PG_ADMIN_URL, TestDb, count_rows};
pub use fixtures::seed_request;
pub use poll::{eventually, poll};
pub use ports::reserve_port;
pub use receiver::{Behavior, Received, Receiver};
pub use smtp::SmtpServer;
pub use telemetry::init_telemetry;
pub use tokens::{JWT_SECRET, SIGNING_KEYS, TEMPLATE_KEYS, token, token_signed};

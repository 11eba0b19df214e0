//! End-to-end tests: one binary, one module per capability.

mod amqp;
mod crash;
mod create;
mod errors;
mod list;
mod telemetry;
mod tenancy;

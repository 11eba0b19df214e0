//! End-to-end tests: one binary, one module per capability.

mod abuse;
mod amqp;
mod biometrics;
mod broker_cluster;
mod browser;
mod browser_face;
mod cli;
mod cluster;
mod crash;
mod create;
mod deliveries;
mod email;
mod embedded;
mod errors;
mod face;
mod faults;
mod list;
mod liveness;
mod metrics;
mod rate_limits;
mod references;
mod release;
mod support;
mod telemetry;
mod tenancy;
mod webhook_examples;

//! Prometheus metrics of the worker, served at `/metrics`.

use bv_contract::{AttemptOutcome, Channel, CreateOutcome, Outcome};
use std::time::Duration;

use bv_runtime::metrics::{SecondsFamily, seconds_family, seconds_histogram};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use prometheus_client::registry::Unit;

pub struct Metrics {
    registry: Registry,
    commands: Family<Vec<(String, String)>, Counter>,
    pub dead_lettered: Counter,
    pub requeued: Counter,
    pub db_errors: Counter,
    attempts: Family<Vec<(String, String)>, Counter>,
    attempt_durations: SecondsFamily,
    /// How long committing one batch took (successful commits).
    pub batch_commit: Histogram,
    /// Pending deliveries, as last seen by the dispatcher.
    pub backlog: Gauge,
    /// When the expiry sweep last ran through (Unix seconds; 0 before).
    pub sweep_last_success: Gauge,
    /// Biometric commands by kind (validate, challenge, person_delete) and outcome.
    biometric_commands: Family<Vec<(String, String)>, Counter>,
    /// Decided attempts by decision and reason (`none` for a pass).
    decisions: Family<Vec<(String, String)>, Counter>,
    /// Time to decide one validate command (decode, engine, transaction).
    pub validate_duration: Histogram,
    /// The engine's part of a validate command (decoding the captures and
    /// deciding), by engine (sandbox, face).
    engine_durations: SecondsFamily,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bv_worker");
        let commands = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "commands",
            "Create commands processed, by outcome (created, replayed, rejected)",
            commands.clone(),
        );
        let dead_lettered = Counter::default();
        registry.register(
            "dead_lettered",
            "Commands sent to the dead-letter queue",
            dead_lettered.clone(),
        );
        let requeued = Counter::default();
        registry.register(
            "requeued",
            "Commands returned to the queue after the database stayed unavailable",
            requeued.clone(),
        );
        let db_errors = Counter::default();
        registry.register(
            "db_errors",
            "Failed attempts to persist a batch",
            db_errors.clone(),
        );
        let attempts = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Delivery attempts by channel (email, webhook) and outcome (succeeded, retry, failed)",
            attempts.clone(),
        );
        let attempt_durations = seconds_family();
        registry.register_with_unit(
            "delivery_attempt_duration",
            "Delivery attempt latency by channel and outcome",
            Unit::Seconds,
            attempt_durations.clone(),
        );
        let batch_commit = seconds_histogram();
        registry.register_with_unit(
            "batch_commit",
            "Time to persist one batch of commands in one transaction",
            Unit::Seconds,
            batch_commit.clone(),
        );
        let backlog = Gauge::default();
        registry.register(
            "delivery_backlog",
            "Deliveries pending (due now or scheduled for retry)",
            backlog.clone(),
        );
        let sweep_last_success = Gauge::default();
        registry.register_with_unit(
            "expiry_sweep_last_success_timestamp",
            "When the expiry sweep (validations past expiresAt, kept images, old challenges) last ran through, Unix time",
            Unit::Seconds,
            sweep_last_success.clone(),
        );
        let biometric_commands = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "biometric_commands",
            "Biometric commands processed, by command (validate, challenge, person_delete) and outcome",
            biometric_commands.clone(),
        );
        let decisions = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "decisions",
            "Decided validate attempts, by decision (pass, fail) and reason (none for a pass)",
            decisions.clone(),
        );
        let validate_duration = seconds_histogram();
        registry.register_with_unit(
            "validate_duration",
            "Time to process one validate command: decode, engine and transaction",
            Unit::Seconds,
            validate_duration.clone(),
        );
        let engine_durations = seconds_family();
        registry.register_with_unit(
            "engine_duration",
            "Time the engine took on one validate attempt (decoding, detection, embedding, liveness, match), by engine",
            Unit::Seconds,
            engine_durations.clone(),
        );
        // Every series exists from the start (at 0), so dashboards and alerts see them.
        for outcome in <CreateOutcome as Outcome>::KINDS {
            commands
                .get_or_create(&vec![("outcome".to_owned(), (*outcome).to_owned())])
                .inc_by(0);
        }
        let metrics = Metrics {
            sweep_last_success,
            attempts,
            attempt_durations,
            batch_commit,
            backlog,
            registry,
            commands,
            dead_lettered,
            requeued,
            db_errors,
            biometric_commands,
            decisions,
            validate_duration,
            engine_durations,
        };
        for channel in Channel::ALL {
            for outcome in AttemptOutcome::ALL {
                metrics.attempt_counter(*channel, *outcome).inc_by(0);
            }
        }
        metrics
    }

    pub fn processed(&self, outcome: &str) {
        self.commands
            .get_or_create(&vec![("outcome".to_owned(), outcome.to_owned())])
            .inc();
    }

    /// One biometric command's outcome.
    pub fn biometric(&self, command: &str, outcome: &str) {
        self.biometric_commands
            .get_or_create(&vec![
                ("command".to_owned(), command.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
    }

    /// One decided attempt: one count per reason (a pass counts once, as `none`).
    pub fn decided(&self, decision: bv_contract::Decision, reasons: &[bv_contract::Reason]) {
        let count = |reason: &str| {
            self.decisions
                .get_or_create(&vec![
                    ("decision".to_owned(), decision.as_str().to_owned()),
                    ("reason".to_owned(), reason.to_owned()),
                ])
                .inc();
        };
        if reasons.is_empty() {
            count("none");
        }
        for reason in reasons {
            count(reason.as_str());
        }
    }

    /// One attempt through an engine (`Engine::name`).
    pub fn engine(&self, engine: &str, took: Duration) {
        self.engine_durations
            .get_or_create(&vec![("engine".to_owned(), engine.to_owned())])
            .observe(took.as_secs_f64());
    }

    pub fn attempt(&self, channel: Channel, outcome: AttemptOutcome, took: Duration) {
        self.attempt_counter(channel, outcome).inc();
        self.attempt_durations
            .get_or_create(&attempt_labels(channel, outcome))
            .observe(took.as_secs_f64());
    }

    fn attempt_counter(&self, channel: Channel, outcome: AttemptOutcome) -> Counter {
        self.attempts
            .get_or_create(&attempt_labels(channel, outcome))
            .clone()
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        bv_runtime::metrics::render(&self.registry)
    }
}

fn attempt_labels(channel: Channel, outcome: AttemptOutcome) -> Vec<(String, String)> {
    vec![
        ("channel".to_owned(), channel.as_str().to_owned()),
        ("outcome".to_owned(), outcome.as_str().to_owned()),
    ]
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

//! Prometheus metrics of the ingress, served at `/metrics`.

use std::time::Duration;

use bv_runtime::metrics::{Labels, SecondsFamily, seconds_family};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use prometheus_client::registry::Unit;

/// What became of a create request, as the `creates` counter labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateResult {
    /// Stored (now, or a replay of an earlier request).
    Created,
    /// Accepted by the broker, not yet answered (`202`).
    Queued,
    /// Refused by a rule (`4xx`).
    Rejected,
    /// The broker would not take it (`503`).
    Unavailable,
}

impl CreateResult {
    pub const ALL: [CreateResult; 4] = [
        CreateResult::Created,
        CreateResult::Queued,
        CreateResult::Rejected,
        CreateResult::Unavailable,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CreateResult::Created => "created",
            CreateResult::Queued => "queued",
            CreateResult::Rejected => "rejected",
            CreateResult::Unavailable => "unavailable",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    durations: SecondsFamily,
    creates: Family<Labels, Counter>,
    reply_wait: SecondsFamily,
    rate_limited: Family<Labels, Counter>,
    rate_limit_keys: Family<Labels, Gauge>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bv_ingress");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let durations = seconds_family();
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by route, method and status",
            Unit::Seconds,
            durations.clone(),
        );
        let reply_wait = seconds_family();
        registry.register_with_unit(
            "reply_wait",
            "Time from publishing a command to the worker's answer (answered) or to giving up waiting (queued)",
            Unit::Seconds,
            reply_wait.clone(),
        );
        let creates = Family::<Labels, Counter>::default();
        registry.register(
            "creates",
            "Create requests by result (created, queued, rejected, unavailable)",
            creates.clone(),
        );
        for result in CreateResult::ALL {
            creates
                .get_or_create(&vec![("result".to_owned(), result.as_str().to_owned())])
                .inc_by(0);
        }
        let rate_limited = Family::<Labels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit (429: session, ip, client) or shed (503: in_flight), by scope",
            rate_limited.clone(),
        );
        let rate_limit_keys = Family::<Labels, Gauge>::default();
        registry.register(
            "rate_limit_keys",
            "Keys (sessions, addresses, clients) a rate limit holds state for, as of its last sweep",
            rate_limit_keys.clone(),
        );
        for scope in crate::limits::Scope::ALL {
            rate_limited.get_or_create(&scope_label(scope)).inc_by(0);
        }
        Metrics {
            registry,
            requests,
            durations,
            creates,
            reply_wait,
            rate_limited,
            rate_limit_keys,
        }
    }

    /// A request refused (or shed) by the limit of `scope`.
    pub fn rate_limited(&self, scope: crate::limits::Scope) {
        self.rate_limited.get_or_create(&scope_label(scope)).inc();
    }

    /// How many keys the limit of `scope` holds after a sweep.
    pub fn rate_limit_keys(&self, scope: crate::limits::Scope, keys: usize) {
        self.rate_limit_keys
            .get_or_create(&scope_label(scope))
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
    }

    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let labels = vec![
            ("route".to_owned(), route.to_owned()),
            ("method".to_owned(), method.to_owned()),
            ("status".to_owned(), status.to_string()),
        ];
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// How long a command waited for its answer; `answered` false when the
    /// wait ran out (the request was answered `202`).
    pub fn reply_wait(&self, answered: bool, took: Duration) {
        let result = if answered { "answered" } else { "queued" };
        self.reply_wait
            .get_or_create(&vec![("result".to_owned(), result.to_owned())])
            .observe(took.as_secs_f64());
    }

    pub fn create(&self, result: CreateResult) {
        self.creates
            .get_or_create(&vec![("result".to_owned(), result.as_str().to_owned())])
            .inc();
    }

    /// The registry in Prometheus text format.
    pub fn render(&self) -> String {
        bv_runtime::metrics::render(&self.registry)
    }
}

fn scope_label(scope: crate::limits::Scope) -> Labels {
    vec![("scope".to_owned(), scope.as_str().to_owned())]
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

//! Prometheus metrics of the ingress, served at `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

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
    creates: Family<Labels, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bv_ingress");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
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
        Metrics {
            registry,
            requests,
            creates,
        }
    }

    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&vec![
                ("route".to_owned(), route.to_owned()),
                ("status".to_owned(), status.to_string()),
            ])
            .inc();
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

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

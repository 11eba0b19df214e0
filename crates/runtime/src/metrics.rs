//! Prometheus exposition, shared by both binaries' `/metrics`: the
//! OpenMetrics text the registry encodes (ending in `# EOF`), served with
//! OpenMetrics' content type so scrapers pick the right parser, and the
//! latency histograms' buckets.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry in OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    let _ = encode(&mut out, registry);
    out
}

/// Label pairs of a metric family.
pub type Labels = Vec<(String, String)>;

/// A family of [`seconds_histogram`]s.
pub type SecondsFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// A new, empty [`SecondsFamily`].
pub fn seconds_family() -> SecondsFamily {
    Family::new_with_constructor(seconds_histogram)
}

/// A latency histogram in seconds: 1 ms doubling to about 33 s.
pub fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

//! Prometheus exposition, shared by both binaries' `/metrics`: the
//! OpenMetrics text the registry encodes (ending in `# EOF`), served with
//! OpenMetrics' content type so scrapers pick the right parser, and the
//! latency histograms' buckets. Every exposition starts with
//! `bv_build_info{version,commit} 1` (see [`crate::build_info`]).

use std::sync::LazyLock;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `bv_build_info{version,commit} 1`, the same in every process (unprefixed,
/// so one query finds every service's version).
static BUILD_INFO: LazyLock<Registry> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let info = Family::<Labels, Gauge>::default();
    info.get_or_create(&vec![
        ("version".to_owned(), crate::build_info::VERSION.to_owned()),
        ("commit".to_owned(), crate::build_info::COMMIT.to_owned()),
    ])
    .set(1);
    registry.register(
        "bv_build_info",
        "The version and commit this process was built from (always 1)",
        info,
    );
    registry
});

/// The build info and the registry in OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    let _ = encode_registry(&mut out, &BUILD_INFO)
        .and_then(|()| encode_registry(&mut out, registry))
        .and_then(|()| encode_eof(&mut out));
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

//! Prometheus text exposition, shared by both binaries' `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// The registry in Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    let _ = encode(&mut out, registry);
    out
}

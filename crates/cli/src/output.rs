//! How bvctl prints: a JSON document with `--json`, readable lines otherwise.

use serde::Serialize;

/// One value: its JSON, or `text`.
pub fn one(as_json: bool, value: &impl Serialize, text: impl FnOnce() -> String) -> String {
    if as_json {
        serde_json::to_string(value).unwrap_or_default()
    } else {
        text()
    }
}

/// A list: a JSON array, or one `line` per row (`(none)` when empty).
pub fn many<T: Serialize>(as_json: bool, rows: &[T], line: impl Fn(&T) -> String) -> String {
    if as_json {
        serde_json::to_string(rows).unwrap_or_default()
    } else if rows.is_empty() {
        "(none)".into()
    } else {
        rows.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}

/// Parses a `--ttl` or `--overlap` such as `1h` or `30d`.
pub fn duration(value: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(value).map_err(|e| e.to_string())
}

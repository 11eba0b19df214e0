//! Pieces of the configuration file's JSON Schema (docs/schemas/
//! config.schema.json) that the settings types cannot say by themselves:
//! durations are strings read by humantime (`5s`, `2m`, `14d`).

use schemars::{Schema, SchemaGenerator, json_schema};

/// A duration as the settings read it: a number and a unit, repeated
/// (`5s`, `250ms`, `1h 30m`), what `humantime` parses.
pub fn duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "A duration: a number and a unit, e.g. 250ms, 5s, 2m, 24h, 14d.",
        "pattern": "^\\s*([0-9]+\\s*(nsec|ns|usec|us|msec|ms|seconds|second|sec|s|minutes|minute|min|m|hours|hour|hr|h|days|day|d|weeks|week|w|months|month|M|years|year|y)\\s*)+$"
    })
}

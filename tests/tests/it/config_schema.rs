//! The configuration file's JSON Schema (docs/schemas/config.schema.json) is
//! generated from the settings types, so editors complete and check a
//! `BV_CONFIG` file with what the binaries really read. `make docs-check`
//! validates the built-in defaults against it; this test fails when the
//! committed schema is not what the types generate (regenerate it with
//! `BV_WRITE_CONFIG_SCHEMA=1 cargo nextest run -p bv-e2e --test it config_schema`).

use serde_json::{Map, Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/schemas/config.schema.json"
);

/// The schema of a whole configuration file: every section of every binary.
fn generate() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let g = &mut generator;
    let sections = [
        (
            "database",
            g.subschema_for::<bv_runtime::DatabaseSettings>(),
        ),
        ("amqp", g.subschema_for::<bv_runtime::AmqpSettings>()),
        ("auth", g.subschema_for::<bv_runtime::AuthSettings>()),
        (
            "telemetry",
            g.subschema_for::<bv_runtime::TelemetrySettings>(),
        ),
        ("webhooks", g.subschema_for::<bv_runtime::WebhookSettings>()),
        ("links", g.subschema_for::<bv_runtime::LinkSettings>()),
        (
            "biometrics",
            g.subschema_for::<bv_runtime::BiometricsSettings>(),
        ),
        (
            "http",
            g.subschema_for::<bv_ingress::settings::HttpSettings>(),
        ),
        (
            "ingress",
            g.subschema_for::<bv_ingress::settings::IngressSettings>(),
        ),
        (
            "rate_limits",
            g.subschema_for::<bv_ingress::settings::RateLimitSettings>(),
        ),
        (
            "worker",
            g.subschema_for::<bv_worker::settings::WorkerSettings>(),
        ),
        (
            "delivery",
            g.subschema_for::<bv_worker::settings::DeliverySettings>(),
        ),
        (
            "email",
            g.subschema_for::<bv_worker::settings::EmailSettings>(),
        ),
    ];
    let properties: Map<String, Value> = sections
        .into_iter()
        .map(|(name, schema)| (name.to_owned(), schema.to_value()))
        .collect();
    let definitions = generator.take_definitions(true);
    // Worked examples, which `make docs-check` validates against the schema:
    // the built-in defaults whole, and a file overriding a few keys.
    let defaults: toml::Table = toml::from_str(bv_runtime::settings::DEFAULTS).unwrap();
    let examples = json!([
        serde_json::to_value(defaults).unwrap(),
        {
            "database": {"url": "postgres://bv@db.internal:5432/bv"},
            "amqp": {"url": "amqp://bv:secret@rabbit-0:5672/%2f,amqp://bv:secret@rabbit-1:5672/%2f"},
            "worker": {"biometrics": false, "dispatch": false},
            "rate_limits": {"session_rate": "30/min", "validate_body_timeout": "20s"}
        }
    ]);
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/bv/biometric-validations/docs/schemas/config.schema.json",
        "title": "Biometric Validations configuration file (BV_CONFIG)",
        "description": "Every section and key of bv-ingress, bv-worker and bvctl. A file overrides the built-in defaults (crates/runtime/config/default.toml), so every key is optional; an unknown one is an error, as the binaries say at start. BV__SECTION__KEY environment variables override the file.",
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "$defs": definitions,
        "examples": examples,
    });
    optional_everywhere(&mut schema);
    schema
}

/// Drops every `required`: a file names only what it overrides.
fn optional_everywhere(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("required");
            map.values_mut().for_each(optional_everywhere);
        }
        Value::Array(items) => items.iter_mut().for_each(optional_everywhere),
        _ => {}
    }
}

#[test]
fn the_committed_schema_is_what_the_settings_types_generate() {
    let generated = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
    if std::env::var_os("BV_WRITE_CONFIG_SCHEMA").is_some() {
        std::fs::write(PATH, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/schemas/config.schema.json is not what the settings types generate: \
         run BV_WRITE_CONFIG_SCHEMA=1 cargo nextest run -p bv-e2e --test it config_schema"
    );
}

#[test]
fn every_section_of_the_defaults_is_in_the_schema_and_no_more() {
    let schema = generate();
    let defaults: toml::Table = toml::from_str(bv_runtime::settings::DEFAULTS).unwrap();
    let mut in_defaults: Vec<&str> = defaults.keys().map(String::as_str).collect();
    let mut in_schema: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    in_defaults.sort_unstable();
    in_schema.sort_unstable();
    assert_eq!(in_defaults, in_schema);
    // Durations are humantime strings, and a misspelt key is refused.
    let text = schema.to_string();
    assert!(text.contains("a number and a unit"), "{text}");
    assert_eq!(schema["additionalProperties"], false);
}

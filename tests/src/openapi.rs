//! The served API document (`crates/ingress/openapi.json`) as a response
//! validator: the harness's request helpers ([`crate::TestApp::get`],
//! [`crate::TestApp::post_with`], [`crate::TestApp::redeliver`],
//! [`crate::TestApp::validate`]) pass every answer through [`checked`], so a
//! response that the document does not describe fails the test that received it.
//!
//! What is checked, for one response to `METHOD path`:
//! - the path matches a documented path template (literal segments before
//!   `{parameters}`, as the router does), and the method is documented there;
//!   a path that matches none must be the router's fallback, `404` with the
//!   `Error` body and `code` `NOT_FOUND`;
//! - the status is documented for the operation (exactly, as `4XX`, or as
//!   `default`);
//! - the `Content-Type` is one of the response's media types (its parameters
//!   included when the document names any), or there is no body when the
//!   response documents none;
//! - the body is valid against the media type's schema, with a JSON Schema
//!   2020-12 validator (the `jsonschema` crate, formats asserted: `uuid`,
//!   `date-time`, `uri`, `email`, `ipv4`/`ipv6`), its `$ref`s resolved in the
//!   document; a non-JSON body is checked as a string (`/healthz`'s `ok`);
//! - every documented response header that is present is valid against its
//!   schema (as an integer where the schema says so), and a `required` one is
//!   present.
//!
//! Which operations and statuses were checked is recorded per process
//! ([`covered`]), so the dedicated test (`tests/it/openapi.rs`) can assert
//! that it exercised every documented operation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

/// The document, as the ingress serves it (`GET /openapi.json`).
pub const DOCUMENT: &str = include_str!("../../crates/ingress/openapi.json");

/// The parsed document.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(DOCUMENT).expect("crates/ingress/openapi.json is JSON"))
}

/// `(operationId, status)` pairs checked so far in this process.
pub fn covered() -> BTreeSet<(String, u16)> {
    seen().lock().unwrap().clone()
}

fn seen() -> &'static Mutex<BTreeSet<(String, u16)>> {
    static SEEN: OnceLock<Mutex<BTreeSet<(String, u16)>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Every documented `operationId` of the document's `paths`.
pub fn operations() -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for item in document()["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("a path item").values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                ids.insert(id.to_owned());
            }
        }
    }
    ids
}

/// Buffers `response` (to `method` on its URL), checks it against the
/// document, panics with every mismatch if it is not what the document
/// describes, and hands back an equivalent response for the test to read.
pub async fn checked(method: &str, response: reqwest::Response) -> reqwest::Response {
    let url = response.url().clone();
    let status = response.status();
    let version = response.version();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: reading the response body: {e}"));
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    assert_documented(method, &target, status.as_u16(), &headers, &body);
    let mut rebuilt = axum::http::Response::builder()
        .status(status)
        .version(version)
        .body(body)
        .expect("rebuild the response");
    *rebuilt.headers_mut() = headers;
    reqwest::Response::from(rebuilt)
}

/// Panics, naming every mismatch, when the response is not documented.
pub fn assert_documented(
    method: &str,
    target: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) {
    if let Err(problems) = check(method, target, status, headers, body) {
        let shown = String::from_utf8_lossy(&body[..body.len().min(2000)]);
        panic!(
            "the response to {method} {target} is not what crates/ingress/openapi.json documents:\n  - {}\nstatus {status}, content-type {:?}, body: {shown}",
            problems.join("\n  - "),
            headers.get(CONTENT_TYPE),
        );
    }
}

/// Checks one response; `Err` lists what does not match the document.
pub fn check(
    method: &str,
    target: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Vec<String>> {
    let doc = document();
    let method = method.to_ascii_lowercase();
    let path = target.split('?').next().unwrap_or(target);
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)").to_owned());

    let Some(template) = match_path(path) else {
        // No documented path: the router's fallback, `404 NOT_FOUND`.
        let mut problems = Vec::new();
        if status != 404 {
            problems.push(format!(
                "{path} matches no documented path, so it must be the fallback's 404, not {status}"
            ));
        }
        problems.extend(check_body(
            "/components/schemas/Error",
            content_type.as_deref(),
            "application/json",
            body,
        ));
        if parse_json(body).is_some_and(|b| b["code"] != "NOT_FOUND") {
            problems.push("the fallback's code must be NOT_FOUND".into());
        }
        return record("(fallback)", status, problems);
    };
    let item = &doc["paths"][template];
    let Some(op) = item.get(&method) else {
        return Err(vec![format!(
            "{} is not documented for {template}",
            method.to_uppercase()
        )]);
    };
    let op_id = op["operationId"].as_str().unwrap_or(template);
    let responses = &op["responses"];
    let code = status.to_string();
    let range = format!("{}XX", status / 100);
    let Some(key) = [code.as_str(), range.as_str(), "default"]
        .into_iter()
        .find(|k| responses.get(*k).is_some())
    else {
        return record(
            op_id,
            status,
            vec![format!(
                "status {status} is not documented for {op_id} ({} {template})",
                method.to_uppercase()
            )],
        );
    };
    let mut pointer = format!(
        "/paths/{}/{method}/responses/{}",
        escape(template),
        escape(key)
    );
    let mut response = &responses[key];
    if let Some(target) = response.get("$ref").and_then(Value::as_str) {
        pointer = target.trim_start_matches('#').to_owned();
        response = doc.pointer(&pointer).expect("a response $ref resolves");
    }

    let mut problems = Vec::new();
    // Headers.
    if let Some(documented) = response.get("headers").and_then(Value::as_object) {
        for (name, header) in documented {
            let mut header_pointer = format!("{pointer}/headers/{}", escape(name));
            let mut header = header;
            if let Some(target) = header.get("$ref").and_then(Value::as_str) {
                header_pointer = target.trim_start_matches('#').to_owned();
                header = doc
                    .pointer(&header_pointer)
                    .expect("a header $ref resolves");
            }
            match headers.get(name.as_str()) {
                None if header["required"] == true => {
                    problems.push(format!("header {name} is required but missing"))
                }
                None => {}
                Some(value) => {
                    let Ok(value) = value.to_str() else {
                        problems.push(format!("header {name} is not text"));
                        continue;
                    };
                    if header.get("schema").is_some() {
                        let instance = header_value(&header["schema"], value);
                        for e in errors(&format!("{header_pointer}/schema"), &instance) {
                            problems.push(format!("header {name}: {value:?}: {e}"));
                        }
                    }
                }
            }
        }
    }
    // Body.
    match response.get("content").and_then(Value::as_object) {
        None => {
            if !body.is_empty() {
                problems.push(format!(
                    "a body ({} bytes) where the document has none",
                    body.len()
                ));
            }
        }
        Some(content) => match content_type.as_deref() {
            None => problems.push(format!(
                "no Content-Type; documented: {:?}",
                content.keys().collect::<Vec<_>>()
            )),
            Some(actual) => match content.keys().find(|k| media_type_matches(k, actual)) {
                None => problems.push(format!(
                    "Content-Type {actual:?} is not one of {:?}",
                    content.keys().collect::<Vec<_>>()
                )),
                Some(media) if content[media].get("schema").is_some() => {
                    problems.extend(check_body(
                        &format!("{pointer}/content/{}/schema", escape(media)),
                        Some(actual),
                        actual,
                        body,
                    ));
                }
                Some(_) => {}
            },
        },
    }
    record(op_id, status, problems)
}

fn record(op: &str, status: u16, problems: Vec<String>) -> Result<(), Vec<String>> {
    if problems.is_empty() {
        seen().lock().unwrap().insert((op.to_owned(), status));
        Ok(())
    } else {
        Err(problems)
    }
}

/// The documented path template `path` is an instance of: the one with the
/// most literal segments, as the router prefers `/validate` to `/{id}`.
pub fn match_path(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    document()["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if part.starts_with('{') && part.ends_with('}') {
                    if segment.is_empty() {
                        return None;
                    }
                } else if part == segment {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template.as_str()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template)
}

/// Whether a documented media type (with any parameters it names) covers
/// the response's `Content-Type`.
pub fn media_type_matches(documented: &str, actual: &str) -> bool {
    let split = |s: &str| {
        let mut parts = s.split(';').map(|p| p.trim().to_ascii_lowercase());
        let essence = parts.next().unwrap_or_default();
        let params: BTreeSet<String> = parts
            .filter(|p| !p.is_empty())
            .map(|p| p.replace(' ', ""))
            .collect();
        (essence, params)
    };
    let (doc_essence, doc_params) = split(documented);
    let (essence, params) = split(actual);
    doc_essence == essence && doc_params.is_subset(&params)
}

fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

fn parse_json(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// A body against the schema at `pointer`: JSON parsed, text as a string.
fn check_body(pointer: &str, content_type: Option<&str>, media: &str, body: &[u8]) -> Vec<String> {
    let mut problems = Vec::new();
    if is_json(media) {
        if !content_type.is_some_and(is_json) {
            problems.push(format!("Content-Type {content_type:?} is not JSON"));
        }
        let Ok(instance) = serde_json::from_slice::<Value>(body) else {
            problems.push("the body is not JSON".into());
            return problems;
        };
        problems.extend(errors(pointer, &instance));
    } else if let Ok(text) = std::str::from_utf8(body) {
        problems.extend(errors(pointer, &Value::String(text.to_owned())));
    }
    problems
}

/// A header's text as the JSON value its schema describes.
fn header_value(schema: &Value, value: &str) -> Value {
    let parsed = match schema["type"].as_str() {
        Some("integer") => value.parse::<i64>().ok().map(Value::from),
        Some("number") => value.parse::<f64>().ok().map(Value::from),
        Some("boolean") => value.parse::<bool>().ok().map(Value::from),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(value.to_owned()))
}

/// The validation errors of `instance` against the schema at `pointer`
/// (at most 12, each with where it is in the instance and in the schema;
/// a failed `oneOf` lists what each of its branches found).
pub fn errors(pointer: &str, instance: &Value) -> Vec<String> {
    let evaluation = validator(pointer).evaluate(instance);
    if evaluation.is_valid() {
        return Vec::new();
    }
    let mut found: Vec<String> = evaluation
        .iter_errors()
        .take(12)
        .map(|e| {
            format!(
                "at {:?}: {} (schema {})",
                e.instance_location.to_string(),
                e.error,
                e.schema_location
            )
        })
        .collect();
    if found.is_empty() {
        found.push(format!("not valid against the schema at #{pointer}"));
    }
    found
}

/// The compiled validator of the schema at `pointer` in the document (a
/// JSON pointer), compiled once per process: the document itself is the root
/// resource, so `#/components/...` references resolve as in the document.
pub fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(pointer) {
        return v.clone();
    }
    assert!(
        document().pointer(pointer).is_some(),
        "no schema at #{pointer} in the document"
    );
    let mut root = document().clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$ref"] = json!(format!("#{}", uri_fragment(pointer)));
    let compiled = Arc::new(
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the schema at #{pointer} does not compile: {e}")),
    );
    cache
        .lock()
        .unwrap()
        .insert(pointer.to_owned(), compiled.clone());
    compiled
}

/// A JSON pointer token (`/` and `~` escaped).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer as a URI fragment (percent-encoded past the unreserved).
fn uri_fragment(pointer: &str) -> String {
    pointer
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

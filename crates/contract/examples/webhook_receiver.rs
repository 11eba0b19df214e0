//! A webhook endpoint that verifies biometric-validation webhooks with
//! `bv_contract::webhook::verify_delivery` and processes each webhook-id once.
//!
//! ```text
//! WEBHOOK_SECRET=whsec_... PORT=8080 cargo run -p bv-contract --example webhook_receiver
//! ```
//!
//! Answers 200 `accepted` (verified, processed), 200 `duplicate` (verified,
//! already processed: a 2xx so that the sender stops retrying) or
//! 400 `refused: <why>` (bad signature, timestamp more than 5 minutes from
//! now, missing headers).
//!
//! The HTTP server is a few lines of the standard library so that the example
//! needs nothing else; with a web framework, `handle` is the handler's body.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use bv_contract::WebhookEvent;
use bv_contract::webhook::verify_delivery;

/// What to answer to one request: its headers (names in lower case) and raw body.
fn handle(
    secret: &str,
    seen: &mut HashSet<String>,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> (u16, String) {
    let header = |name: &str| headers.get(name).map(String::as_str).unwrap_or("");
    let id = header("webhook-id");
    // The raw bytes as received, before any JSON parsing: checks
    // webhook-signature against webhook-id, webhook-timestamp and the body,
    // and webhook-timestamp within 5 minutes of now.
    if let Err(why) = verify_delivery(
        secret,
        id,
        header("webhook-timestamp"),
        body,
        header("webhook-signature"),
    ) {
        return (400, format!("refused: {why}"));
    }
    let event: WebhookEvent = match serde_json::from_slice(body) {
        Ok(event) => event,
        Err(e) => return (400, format!("refused: {e}")),
    };
    // The webhook-ids processed. In production: a table with a unique key on it.
    if !seen.insert(id.to_owned()) {
        return (200, "duplicate".into());
    }
    // Your processing here: event.kind, event.data.id, event.data.status...
    println!("event {id} {} {}", event.kind, event.data.id);
    (200, "accepted".into())
}

fn main() -> std::io::Result<()> {
    // The project's secret, `whsec_...` (bvctl project create / rotate-secret).
    let secret = std::env::var("WEBHOOK_SECRET").expect("WEBHOOK_SECRET");
    let port = std::env::var("PORT").unwrap_or_else(|_| "0".into());
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))?;
    println!("listening on {}", listener.local_addr()?);
    let mut seen = HashSet::new();
    for stream in listener.incoming() {
        let mut stream = stream?;
        let answer = match read_request(&stream) {
            Ok((headers, body)) => handle(&secret, &mut seen, &headers, &body),
            Err(e) => (400, format!("refused: {e}")),
        };
        let (status, text) = answer;
        let reason = if status == 200 { "OK" } else { "Bad Request" };
        write!(
            stream,
            "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{text}",
            text.len()
        )?;
    }
    Ok(())
}

/// One HTTP/1.1 request: its headers and its body (`content-length` bytes).
fn read_request(stream: &TcpStream) -> std::io::Result<(HashMap<String, String>, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?; // POST /path HTTP/1.1
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break; // the blank line before the body
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: u64 = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    reader.take(length.min(1 << 20)).read_to_end(&mut body)?;
    Ok((headers, body))
}

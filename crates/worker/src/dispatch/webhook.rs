//! Sending one webhook attempt, per the Standard Webhooks spec.
//!
//! Headers: `webhook-id` (stable across retries), `webhook-timestamp`,
//! `webhook-signature`; the body is the stored event, byte for byte. Only 2xx
//! succeeds; redirects are not followed; `410 Gone` ends retries; `429`/`503`
//! may ask for a delay with `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use bv_contract::delivery::webhook_id;
use bv_contract::webhook::signature_header;
use bv_store::entity::delivery;
use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use url::Url;

use super::AttemptResult;
use super::policy::{Verdict, parse_retry_after};
use super::ssrf::{Blocked, Guard, GuardedResolver};

/// Response bodies are stored up to this many bytes.
pub const MAX_STORED_BODY: usize = 4096;

pub struct WebhookSender {
    client: reqwest::Client,
    guard: Arc<Guard>,
}

impl WebhookSender {
    pub fn new(guard: Guard, timeout: Duration) -> anyhow::Result<Self> {
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .user_agent(concat!(
                "bv-worker/",
                env!("CARGO_PKG_VERSION"),
                " (biometric-validations webhooks)"
            ))
            .build()?;
        Ok(WebhookSender { client, guard })
    }

    /// One attempt, signed with every secret in `secrets` (current first).
    pub async fn send(&self, d: &delivery::Model, secrets: &[&str]) -> AttemptResult {
        let url = match Url::parse(&d.target) {
            Ok(url) => url,
            Err(e) => return AttemptResult::give_up(format!("invalid webhook URL: {e}")),
        };
        match self.guard.check(&url).await {
            Ok(()) => {}
            Err(Blocked::Refused(reason)) => return AttemptResult::give_up(reason),
            Err(Blocked::Unresolved(reason)) => return AttemptResult::retry(reason, None),
        }
        let id = webhook_id(d.id);
        let timestamp = Utc::now().timestamp();
        let signature = match signature_header(secrets, &id, timestamp, d.payload.as_bytes()) {
            Ok(s) => s,
            Err(e) => return AttemptResult::give_up(format!("cannot sign: {e}")),
        };
        let response = self
            .client
            .post(url)
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(CONTENT_TYPE, "application/json")
            .body(d.payload.clone())
            .send()
            .await;
        let mut response = match response {
            Ok(r) => r,
            Err(e) => return AttemptResult::retry(describe(&e), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = read_truncated(&mut response).await;
        let code = status.as_u16();
        let (verdict, error) = if status.is_success() {
            (Verdict::Success, None)
        } else if status == StatusCode::GONE {
            (
                Verdict::GiveUp,
                Some("410 Gone: the receiver asked to stop".to_owned()),
            )
        } else if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::SERVICE_UNAVAILABLE
        {
            (Verdict::Retry { retry_after }, Some(format!("HTTP {code}")))
        } else if status.is_redirection() {
            (
                Verdict::Retry { retry_after: None },
                Some(format!("HTTP {code}: redirects are not followed")),
            )
        } else {
            (
                Verdict::Retry { retry_after: None },
                Some(format!("HTTP {code}")),
            )
        };
        AttemptResult {
            verdict,
            status: Some(code),
            body,
            error,
        }
    }
}

/// Reads at most [`MAX_STORED_BODY`] bytes of the body.
async fn read_truncated(response: &mut reqwest::Response) -> Option<String> {
    let mut buf = Vec::new();
    while buf.len() < MAX_STORED_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(MAX_STORED_BODY);
    (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned())
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A webhook URL fit for a span or a log: credentials and query values
/// replaced by `REDACTED` (a receiver may put a token there).
pub fn redacted(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("REDACTED");
        let _ = url.set_password(Some("REDACTED"));
    }
    if url.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(keys.iter().map(|k| (k.as_str(), "REDACTED")));
    }
    url
}

#[cfg(test)]
mod redaction_tests {
    #[test]
    fn credentials_and_query_values_are_redacted() {
        let url =
            url::Url::parse("https://user:pw@hooks.example.com:8443/in?token=s3cret&x=1").unwrap();
        assert_eq!(
            super::redacted(&url).as_str(),
            "https://REDACTED:REDACTED@hooks.example.com:8443/in?token=REDACTED&x=REDACTED"
        );
        let plain = url::Url::parse("https://hooks.example.com/in").unwrap();
        assert_eq!(super::redacted(&plain), plain);
    }
}

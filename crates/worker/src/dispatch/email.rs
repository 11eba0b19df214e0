//! Sending the validation link by email (lettre): SMTP, or `.eml` files in a
//! folder (the embedded default). Templates in English and Spanish live in
//! `crates/worker/templates/email/` and are chosen by the request's `language`.
//! SMTP 4xx and connection failures are retried; 5xx ends retries.

use std::time::Duration;

use bv_contract::{BiometricValidation, Language};
use bv_store::entity::delivery;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::AttemptResult;
use super::policy::Verdict;
use crate::settings::{EmailSettings, EmailTransport, LinkSettings};
use bv_runtime::settings::ExposeSecret;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

pub struct EmailSender {
    transport: Transport,
    from: Mailbox,
    base_url: String,
}

/// A rendered email.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

struct Templates {
    subject: &'static str,
    text: &'static str,
    html: &'static str,
}

const EN: Templates = Templates {
    subject: include_str!("../../templates/email/en/subject.txt"),
    text: include_str!("../../templates/email/en/body.txt"),
    html: include_str!("../../templates/email/en/body.html"),
};
const ES: Templates = Templates {
    subject: include_str!("../../templates/email/es/subject.txt"),
    text: include_str!("../../templates/email/es/body.txt"),
    html: include_str!("../../templates/email/es/body.html"),
};

/// Renders the email for `validation` in `language`.
pub fn render(language: Language, link: &str, validation: &BiometricValidation) -> Rendered {
    let (t, expiry) = match language {
        Language::Es => (
            &ES,
            validation
                .expires_at
                .as_ref()
                .map(|at| format!("El enlace vence el {at}.\n")),
        ),
        Language::En => (
            &EN,
            validation
                .expires_at
                .as_ref()
                .map(|at| format!("The link expires at {at}.\n")),
        ),
    };
    let expiry = expiry.unwrap_or_default();
    let fill = |template: &str, escape: bool| {
        let esc = |s: &str| {
            if escape {
                html_escape::encode_double_quoted_attribute(s).into_owned()
            } else {
                s.to_owned()
            }
        };
        template
            .replace("{{link}}", &esc(link))
            .replace("{{identifier}}", &esc(&validation.identifier))
            .replace("{{expiry}}", &esc(&expiry))
    };
    Rendered {
        subject: t.subject.trim().to_owned(),
        text: fill(t.text, false),
        html: fill(t.html, true),
    }
}

impl EmailSender {
    pub fn new(
        email: &EmailSettings,
        links: &LinkSettings,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let transport = match email.transport {
            EmailTransport::Smtp => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(email.smtp_url.expose_secret())?
                    .timeout(Some(timeout))
                    .build(),
            ),
            EmailTransport::File => {
                std::fs::create_dir_all(&email.file_dir)?;
                Transport::File(AsyncFileTransport::<Tokio1Executor>::new(&email.file_dir))
            }
        };
        Ok(EmailSender {
            transport,
            from: email.from.parse()?,
            base_url: links.base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The link an end user follows: `<links.base_url>/<_id>`.
    pub fn link(&self, id: &str) -> String {
        format!("{}/{id}", self.base_url)
    }

    pub async fn send(&self, d: &delivery::Model) -> AttemptResult {
        let validation: BiometricValidation = match serde_json::from_str(&d.payload) {
            Ok(v) => v,
            Err(e) => return AttemptResult::give_up(format!("unreadable payload: {e}")),
        };
        let expires_at = validation
            .expires_at
            .as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&chrono::Utc));
        if let Some(at) = validation.expires_at.as_deref()
            && validation
                .status
                .is_expired_at(expires_at, chrono::Utc::now())
        {
            return AttemptResult::give_up(format!(
                "the validation expired at {at}: its link no longer works"
            ));
        }
        let to: Mailbox = match d.target.parse() {
            Ok(m) => m,
            Err(e) => {
                return AttemptResult::give_up(format!("invalid recipient `{}`: {e}", d.target));
            }
        };
        let rendered = render(d.language, &self.link(&validation.id), &validation);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            // Stable across retries, so a receiving system can de-duplicate.
            .message_id(Some(format!("<{}@biometric-validations>", d.id)))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ));
        let message = match message {
            Ok(m) => m,
            Err(e) => return AttemptResult::give_up(format!("cannot build the email: {e}")),
        };
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(response) => AttemptResult {
                    verdict: Verdict::Success,
                    status: response.code().to_string().parse().ok(),
                    body: Some(response.message().collect::<Vec<_>>().join(" ")),
                    error: None,
                },
                Err(e) => {
                    let status = e.status().and_then(|c| c.to_string().parse().ok());
                    let verdict = if e.is_permanent() {
                        Verdict::GiveUp
                    } else {
                        Verdict::Retry { retry_after: None }
                    };
                    AttemptResult {
                        verdict,
                        status,
                        body: None,
                        error: Some(format!("SMTP: {e}")),
                    }
                }
            },
            Transport::File(file) => match file.send(message).await {
                Ok(_) => AttemptResult {
                    verdict: Verdict::Success,
                    status: None,
                    body: None,
                    error: None,
                },
                Err(e) => AttemptResult::retry(format!("cannot write the email file: {e}"), None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation() -> BiometricValidation {
        serde_json::from_value(serde_json::json!({
            "_id": "0193a000-0000-7000-8000-000000000001", "client": "c", "project": "p",
            "projectFlow": "f", "status": "new", "identifier": "<b>ana</b>", "type": "login",
            "expiresAt": "2030-01-01T00:00:00Z", "requires2FA": false, "sendViaEmail": true,
            "email": "ana@example.com", "language": "es", "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn templates_follow_the_language_and_carry_the_link() {
        let link = "https://verify.example.com/v/0193a000-0000-7000-8000-000000000001";
        let es = render(Language::Es, link, &validation());
        assert_eq!(es.subject, "Verifica tu identidad");
        assert!(es.text.contains(link) && es.html.contains(link));
        assert!(es.text.contains("vence"));
        let en = render(Language::En, link, &validation());
        assert_eq!(en.subject, "Verify your identity");
        assert!(en.text.contains(link) && en.text.contains("expires"));
    }

    #[test]
    fn html_is_escaped() {
        let html = render(Language::En, "https://x.example/1", &validation()).html;
        assert!(html.contains("&lt;b&gt;ana&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>ana</b>"));
    }
}

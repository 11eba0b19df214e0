//! Sending the validation link by email (lettre): SMTP, or `.eml` files in a
//! folder (the embedded default). Templates in English and Spanish live in
//! `crates/worker/templates/email/` and are chosen by the request's `language`.
//! SMTP 4xx and connection failures are retried; 5xx ends retries.

use std::time::Duration;

use bv_contract::{BiometricValidation, Language};
use bv_store::entity::delivery;
use std::sync::LazyLock;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::{AutoEscape, Environment, context};

use super::AttemptResult;
use super::policy::Verdict;
use crate::settings::{EmailSettings, EmailTransport};
use bv_runtime::session::Sessions;
use bv_runtime::settings::ExposeSecret;
use std::sync::Arc;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

pub struct EmailSender {
    transport: Transport,
    from: Mailbox,
    sessions: Arc<Sessions>,
}

/// A rendered email.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The templates, `<language>/<part>`: `.html` ones are auto-escaped.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // HTML-escape text values (`&<>"'`) without minijinja's escaping of `/`,
    // so links read as links in the message source too.
    env.set_formatter(|out, state, value| {
        if *state.auto_escape() == AutoEscape::Html
            && !value.is_safe()
            && let Some(text) = value.as_str()
        {
            out.write_str(&html_escape::encode_quoted_attribute(text))?;
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    let templates = [
        (
            "en/subject.txt",
            include_str!("../../templates/email/en/subject.txt"),
        ),
        (
            "en/body.txt",
            include_str!("../../templates/email/en/body.txt"),
        ),
        (
            "en/body.html",
            include_str!("../../templates/email/en/body.html"),
        ),
        (
            "es/subject.txt",
            include_str!("../../templates/email/es/subject.txt"),
        ),
        (
            "es/body.txt",
            include_str!("../../templates/email/es/body.txt"),
        ),
        (
            "es/body.html",
            include_str!("../../templates/email/es/body.html"),
        ),
    ];
    for (name, source) in templates {
        // The sources are compiled in; a broken one fails the unit tests.
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %err, "email template does not parse");
        }
    }
    env
});

/// Renders the email for `validation` in `language` with a template engine
/// (minijinja, HTML auto-escaped): values are data, never template code, so
/// an identifier holding `{{expiry}}` stays that text.
pub fn render(
    language: Language,
    link: &str,
    validation: &BiometricValidation,
) -> Result<Rendered, minijinja::Error> {
    let expiry = validation
        .expires_at
        .as_deref()
        .map(|at| expiry_sentence(language, at));
    let context = context! {
        link => link,
        identifier => &validation.identifier,
        expiry => expiry.unwrap_or_default(),
    };
    let part = |name: &str| {
        TEMPLATES
            .get_template(&format!("{}/{name}", language.as_str()))?
            .render(&context)
    };
    Ok(Rendered {
        subject: part("subject.txt")?.trim().to_owned(),
        text: part("body.txt")?,
        html: part("body.html")?,
    })
}

/// When the link expires, in a sentence in `language`: the date with the
/// month's name in that language and the time in UTC (the reader's time
/// zone is not known), e.g. "The link expires on 15 January 2099 at 11:30
/// UTC." An instant that does not parse (the contract accepts RFC 3339
/// only) is shown as it came.
fn expiry_sentence(language: Language, at: &str) -> String {
    let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else {
        return match language {
            Language::Es => format!("El enlace vence el {at}."),
            Language::En => format!("The link expires at {at}."),
        };
    };
    let utc = at.with_timezone(&chrono::Utc);
    match language {
        Language::Es => format!(
            "El enlace vence el {} a las {} UTC.",
            utc.format_localized("%-d de %B de %Y", chrono::Locale::es_ES),
            utc.format("%H:%M")
        ),
        Language::En => format!(
            "The link expires on {} at {} UTC.",
            utc.format_localized("%-d %B %Y", chrono::Locale::en_GB),
            utc.format("%H:%M")
        ),
    }
}

impl EmailSender {
    pub fn new(
        email: &EmailSettings,
        sessions: Arc<Sessions>,
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
            sessions,
        })
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
        // The hosted page's link with the session token (`url` of the create answer).
        let Some(session) = self.sessions.session_of(&validation) else {
            return AttemptResult::give_up("unreadable timestamps in the payload".to_owned());
        };
        let rendered = match render(d.language, &session.url, &validation) {
            Ok(r) => r,
            Err(e) => return AttemptResult::give_up(format!("cannot render the email: {e}")),
        };
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
        let es = render(Language::Es, link, &validation()).unwrap();
        assert_eq!(es.subject, "Verifica tu identidad");
        assert!(es.text.contains(link) && es.html.contains(link));
        assert!(es.text.contains("vence"));
        let en = render(Language::En, link, &validation()).unwrap();
        assert_eq!(en.subject, "Verify your identity");
        assert!(en.text.contains(link) && en.text.contains("expires"));
    }

    #[test]
    fn the_expiry_is_a_date_in_the_readers_language() {
        let link = "https://x.example/1";
        let es = render(Language::Es, link, &validation()).unwrap();
        assert!(
            es.text
                .contains("El enlace vence el 1 de enero de 2030 a las 00:00 UTC."),
            "{}",
            es.text
        );
        let en = render(Language::En, link, &validation()).unwrap();
        assert!(
            en.html
                .contains("The link expires on 1 January 2030 at 00:00 UTC."),
            "{}",
            en.html
        );
        // An offset is turned into UTC.
        assert_eq!(
            expiry_sentence(Language::En, "2030-06-30T23:30:00-02:00"),
            "The link expires on 1 July 2030 at 01:30 UTC."
        );
        assert!(!en.text.contains("2030-01-01T00:00:00Z"), "{}", en.text);
    }

    #[test]
    fn html_is_escaped() {
        let html = render(Language::En, "https://x.example/1", &validation())
            .unwrap()
            .html;
        assert!(html.contains("&lt;b&gt;ana&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>ana</b>"));
    }

    #[test]
    fn a_placeholder_in_the_data_is_not_expanded() {
        let mut v = validation();
        v.identifier = "{{expiry}} {{link}} {% if true %}x{% endif %}".into();
        let link = "https://x.example/1";
        let r = render(Language::En, link, &v).unwrap();
        let line = r
            .text
            .lines()
            .find(|l| l.contains("requested for"))
            .unwrap();
        assert_eq!(
            line,
            "A biometric validation was requested for {{expiry}} {{link}} {% if true %}x{% endif %}."
        );
        assert!(
            r.html
                .contains("{{expiry}} {{link}} {% if true %}x{% endif %}")
        );
    }
}

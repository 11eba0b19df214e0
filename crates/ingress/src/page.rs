//! The hosted page an end user opens from the emailed link,
//! `GET /validate/{id}`, and its static assets (`/validate/assets/…`).
//!
//! The server side only reads: it shows the validation's state (open,
//! expired, decided, unknown, or the database away) in the validation's
//! language, from one template per state in `crates/ingress/templates/`.
//! The capture itself is `assets/capture.js` talking to the API with the
//! session token, which travels in the URL fragment and so never reaches this
//! server, its logs or a Referer. Every page carries a strict CSP: no inline
//! script or style and nothing from another origin, so what the script needs
//! comes in `data-` attributes and a JSON block that is never executed.
//!
//! No site may frame a page (`frame-ancestors 'none'`) unless the
//! validation's project names it (`bvctl project update --embed-origin`):
//! then those origins may, and the page tells the host page its progress and
//! outcome with `postMessage` to those origins only (`assets/capture.js`;
//! `/validate/embed.js` mounts it).

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bv_contract::{EmbedOrigin, Language, ValidationStatus};
use bv_store::entity::biometric_validation::{Entity, Model};
use bv_store::sea_orm::EntityTrait;
use chrono::{DateTime, Utc};
use minijinja::{Environment, Value, context};
use uuid::Uuid;

use crate::state::AppState;

/// The page's Content-Security-Policy: its own script, style and media only;
/// camera frames and previews as `blob:`/`mediastream:`; API calls to itself;
/// framed by no one.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
    form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// [`CSP`], framed only by `embed` (none: by no one).
fn csp(embed: &[EmbedOrigin]) -> HeaderValue {
    if embed.is_empty() {
        return HeaderValue::from_static(CSP);
    }
    let ancestors: Vec<&str> = embed.iter().map(EmbedOrigin::as_str).collect();
    let policy = CSP.replace(
        "frame-ancestors 'none'",
        &format!("frame-ancestors {}", ancestors.join(" ")),
    );
    // Origins are ASCII serialisations (`EmbedOrigin::parse`): always a
    // valid header value; should one not be, no site may frame the page.
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(CSP))
}

/// The embed script (`/validate/embed.js`): the host page loads it from here.
const EMBED: &str = include_str!("../assets/embed.js");

/// How long a browser may keep an asset. The page links them with
/// `?v=<hash of their content>`, so a new release is fetched at once.
const ASSET_CACHE: &str = "public, max-age=86400";

const SCRIPT: &str = include_str!("../assets/capture.js");
const STYLE: &str = include_str!("../assets/capture.css");
const ICON_FACE: &str = include_str!("../assets/face.svg");
const ICON_DONE: &str = include_str!("../assets/done.svg");
const ICON_ALERT: &str = include_str!("../assets/alert.svg");

/// The page and its assets; the page counts against its reader's address
/// allowance (`rate_limits.ip_*`): it reads the database.
pub fn routes(state: &AppState) -> Router<AppState> {
    let limited = axum::middleware::from_fn_with_state(state.clone(), crate::limits::page);
    Router::new()
        .route("/validate/{id}", get(page).route_layer(limited))
        .route("/validate/embed.js", get(embed_script))
        .route("/validate/assets/capture.js", get(script))
        .route("/validate/assets/capture.css", get(style))
        .route("/validate/assets/face.svg", get(|| svg(ICON_FACE)))
        .route("/validate/assets/done.svg", get(|| svg(ICON_DONE)))
        .route("/validate/assets/alert.svg", get(|| svg(ICON_ALERT)))
}

/// What the link shows, decided from the stored row (or its absence).
#[derive(Debug, PartialEq)]
enum Shown {
    /// `new` or `pending` and not past `expiresAt`: the capture page.
    Capture { id: Uuid },
    /// Its time passed before it was decided: `410`.
    Expired,
    /// Decided: the outcome, and where the integrator asked to send the user.
    Complete {
        status: ValidationStatus,
        continue_url: Option<String>,
    },
    /// No such validation (or not a UUID): `404`.
    NotFound,
    /// The database did not answer: `503` with `Retry-After`.
    Unavailable,
    /// The database answered with an error: a fault of ours, `500`.
    Fault,
}

impl Shown {
    fn of(row: &Model, now: DateTime<Utc>) -> Shown {
        Shown::decide(
            row.id,
            row.status,
            row.expires_at,
            row.redirect_url.as_deref(),
            now,
        )
    }

    fn decide(
        id: Uuid,
        status: ValidationStatus,
        expires_at: Option<DateTime<Utc>>,
        redirect_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Shown {
        if status.is_expired_at(expires_at, now) {
            return Shown::Expired;
        }
        match status {
            ValidationStatus::New | ValidationStatus::Pending => Shown::Capture { id },
            status => Shown::Complete {
                status,
                continue_url: redirect_url
                    .and_then(|url| continue_url(url, &id.to_string(), status)),
            },
        }
    }

    fn template(&self) -> &'static str {
        match self {
            Shown::Capture { .. } => "capture.html",
            Shown::Expired => "expired.html",
            Shown::Complete { .. } => "complete.html",
            Shown::NotFound => "not_found.html",
            Shown::Unavailable | Shown::Fault => "unavailable.html",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Shown::Capture { .. } | Shown::Complete { .. } => StatusCode::OK,
            Shown::Expired => StatusCode::GONE,
            Shown::NotFound => StatusCode::NOT_FOUND,
            Shown::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Shown::Fault => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// `GET /validate/{id}`.
async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let asked = preferred_language(&headers);
    // An id that is not a UUID cannot exist: the same page as an unknown one.
    let Ok(id) = Uuid::parse_str(&id) else {
        return render(&Shown::NotFound, asked);
    };
    let read = bv_store::bounded(state.db_timeout, async {
        let Some(row) = Entity::find_by_id(id).one(&state.db).await? else {
            return Ok(None);
        };
        // Who may frame it: its project's embedding origins.
        let project = bv_store::projects::get(&state.db, &row.project).await?;
        let embed = project.map(|p| p.embed_origins()).unwrap_or_default();
        Ok(Some((row, embed)))
    })
    .await;
    match read {
        Ok(Some((row, embed))) => {
            let shown = Shown::of(&row, Utc::now());
            Page::new(&shown, row.language)
                .embedded(row.id, &embed)
                .render()
        }
        Ok(None) => render(&Shown::NotFound, asked),
        Err(err) if bv_store::refused_by_database(&err) => {
            tracing::error!(error = %err, "the database refused the page's read");
            render(&Shown::Fault, asked)
        }
        Err(err) => {
            tracing::error!(error = %err, "database read failed");
            render(&Shown::Unavailable, asked)
        }
    }
}

/// A page to render: what it shows, in which language, and who may frame it.
struct Page<'a> {
    shown: &'a Shown,
    language: Language,
    /// The validation and the origins that may embed its page.
    embed: Option<(Uuid, &'a [EmbedOrigin])>,
}

impl<'a> Page<'a> {
    fn new(shown: &'a Shown, language: Language) -> Page<'a> {
        Page {
            shown,
            language,
            embed: None,
        }
    }

    fn embedded(self, id: Uuid, origins: &'a [EmbedOrigin]) -> Page<'a> {
        Page {
            embed: (!origins.is_empty()).then_some((id, origins)),
            ..self
        }
    }

    fn render(&self) -> Response {
        let (shown, language) = (self.shown, self.language);
        let (id, status, continue_url) = match shown {
            Shown::Capture { id } => (Some(id.to_string()), None, None),
            Shown::Complete {
                status,
                continue_url,
            } => (None, Some(status.as_str()), continue_url.clone()),
            Shown::Expired => (None, Some(ValidationStatus::Expired.as_str()), None),
            _ => (None, None, None),
        };
        let origins = self.embed.map_or(&[][..], |(_, origins)| origins);
        let embed = self.embed.map(|(id, origins)| {
            let origins: Vec<&str> = origins.iter().map(EmbedOrigin::as_str).collect();
            context! { id => id.to_string(), origins => origins.join(" ") }
        });
        let context = context! {
            lang => language.as_str(),
            v => &*ASSET_VERSION,
            id => id,
            status => status,
            continue_url => continue_url,
            embed => embed,
            strings => Value::from_safe_string(script_strings(language).to_owned()),
        };
        let csp = csp(origins);
        let name = format!("{}/{}", language.as_str(), shown.template());
        let html = match TEMPLATES
            .get_template(&name)
            .and_then(|t| t.render(&context))
        {
            Ok(html) => html,
            Err(err) => {
                tracing::error!(template = %name, error = %err, "page template failed");
                return secured(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    "Something went wrong. Please try again later.".to_owned(),
                    csp,
                );
            }
        };
        let mut response = secured(shown.status(), "text/html; charset=utf-8", html, csp);
        if *shown == Shown::Unavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

fn render(shown: &Shown, language: Language) -> Response {
    Page::new(shown, language).render()
}

/// The page for a reader over their address's allowance: "busy, try again
/// in a moment" in their language, `429` with `Retry-After`.
pub fn too_many(headers: &HeaderMap, retry_after_secs: u64) -> Response {
    let mut response = render(&Shown::Unavailable, preferred_language(headers));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs.max(1)),
    );
    response
}

/// A page with the headers every page carries, `csp` its policy ([`csp`]).
fn secured(
    status: StatusCode,
    content_type: &'static str,
    body: String,
    csp: HeaderValue,
) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self)"),
    );
    response
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `/validate/embed.js`: host pages link it without a version, so it is
/// kept only briefly.
async fn embed_script() -> Response {
    let mut response = asset("text/javascript; charset=utf-8", EMBED);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn svg(body: &'static str) -> Response {
    asset("image/svg+xml", body)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, ASSET_CACHE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The decided page's continue link: the integrator's `redirectUrl` with
/// `id` and `status` set in its query (its other parameters kept). Only
/// `http`/`https` targets become a link.
pub fn continue_url(redirect: &str, id: &str, status: ValidationStatus) -> Option<String> {
    let mut url = url::Url::parse(redirect).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "id" && k != "status")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("id", id)
        .append_pair("status", status.as_str());
    Some(url.into())
}

/// The page language for a link we cannot tie to a validation: the first of
/// ours in `Accept-Language` by weight, else English.
pub fn preferred_language(headers: &HeaderMap) -> Language {
    let Some(accept) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Language::default();
    };
    let mut best: Option<(f32, Language)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let primary = tag
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(language) = Language::parse(&primary) else {
            continue;
        };
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, language));
        }
    }
    best.map(|(_, language)| language).unwrap_or_default()
}

/// The templates: `layout.html`, `<language>/base.html` extending it, and
/// `<language>/<page>.html` extending that.
/// `.html` names are HTML auto-escaped, so stored values (a redirect URL)
/// are data, never markup.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let templates = [
        ("layout.html", include_str!("../templates/layout.html")),
        ("en/base.html", include_str!("../templates/en/base.html")),
        ("es/base.html", include_str!("../templates/es/base.html")),
        (
            "en/capture.html",
            include_str!("../templates/en/capture.html"),
        ),
        (
            "en/expired.html",
            include_str!("../templates/en/expired.html"),
        ),
        (
            "en/complete.html",
            include_str!("../templates/en/complete.html"),
        ),
        (
            "en/not_found.html",
            include_str!("../templates/en/not_found.html"),
        ),
        (
            "en/unavailable.html",
            include_str!("../templates/en/unavailable.html"),
        ),
        (
            "es/capture.html",
            include_str!("../templates/es/capture.html"),
        ),
        (
            "es/expired.html",
            include_str!("../templates/es/expired.html"),
        ),
        (
            "es/complete.html",
            include_str!("../templates/es/complete.html"),
        ),
        (
            "es/not_found.html",
            include_str!("../templates/es/not_found.html"),
        ),
        (
            "es/unavailable.html",
            include_str!("../templates/es/unavailable.html"),
        ),
    ];
    for (name, source) in templates {
        // The sources are compiled in; a broken one fails the unit tests.
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %err, "page template does not parse");
        }
    }
    env
});

/// The script's UI strings per language (`templates/<language>/strings.json`),
/// made safe to sit inside `<script type="application/json">`.
static STRINGS: LazyLock<[String; 2]> = LazyLock::new(|| {
    [
        json_for_script(include_str!("../templates/en/strings.json")),
        json_for_script(include_str!("../templates/es/strings.json")),
    ]
});

fn script_strings(language: Language) -> &'static str {
    match language {
        Language::En => &STRINGS[0],
        Language::Es => &STRINGS[1],
    }
}

/// Re-serializes a JSON document with `<`, `>` and `&` written as `\u00XX`,
/// so no string in it can close the `<script>` element that holds it or
/// open a comment. The content of that element is not HTML-decoded, so this
/// (not HTML escaping) is the escaping it needs.
fn json_for_script(source: &str) -> String {
    let value: serde_json::Value = match serde_json::from_str(source) {
        Ok(value) => value,
        Err(err) => {
            tracing::error!(error = %err, "page strings are not JSON");
            serde_json::Value::Object(Default::default())
        }
    };
    let mut out = String::new();
    for c in value.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A short hash of the assets' content (FNV-1a), put in their URLs so a new
/// release is not hidden behind a cached old one.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for source in [SCRIPT, STYLE, ICON_FACE, ICON_DONE, ICON_ALERT, EMBED] {
        for byte in source.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
});

#[cfg(test)]
mod tests {
    use super::*;

    /// What a row in `status`, expiring `expires_in` seconds from now, shows.
    fn shown(
        status: ValidationStatus,
        expires_in: Option<i64>,
        redirect: Option<&str>,
    ) -> (Uuid, Shown) {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let expires_at = expires_in.map(|s| now + chrono::Duration::seconds(s));
        (id, Shown::decide(id, status, expires_at, redirect, now))
    }

    #[test]
    fn each_state_has_its_page() {
        use ValidationStatus::*;
        let (id, open) = shown(Pending, Some(60), None);
        assert_eq!(open, Shown::Capture { id });
        assert_eq!(shown(New, None, None).1.status(), StatusCode::OK);
        assert_eq!(shown(New, Some(-1), None).1, Shown::Expired);
        assert_eq!(shown(Expired, None, None).1, Shown::Expired);
        assert_eq!(Shown::Expired.status(), StatusCode::GONE);
        let (id, done) = shown(Validated, Some(-1), Some("https://example.com/back?x=1"));
        let Shown::Complete {
            status,
            continue_url,
        } = done
        else {
            panic!("a decided validation is complete, even past its expiry");
        };
        assert_eq!(status, Validated);
        assert_eq!(
            continue_url.unwrap(),
            format!("https://example.com/back?x=1&id={id}&status=validated")
        );
        let (_, failed) = shown(Failed, None, Some("ftp://example.com/"));
        assert_eq!(
            failed,
            Shown::Complete {
                status: Failed,
                continue_url: None
            }
        );
    }

    #[test]
    fn continue_url_keeps_the_query_and_sets_id_and_status() {
        let url = continue_url(
            "https://example.com/done?a=1&id=forged&b=x%20y#frag",
            "abc",
            ValidationStatus::Failed,
        );
        assert_eq!(
            url.as_deref(),
            Some("https://example.com/done?a=1&b=x+y&id=abc&status=failed#frag")
        );
        assert_eq!(
            continue_url("javascript:alert(1)", "abc", ValidationStatus::Failed),
            None
        );
        assert_eq!(
            continue_url("not a url", "abc", ValidationStatus::Failed),
            None
        );
    }

    #[test]
    fn accept_language_picks_ours_by_weight() {
        let pick = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_LANGUAGE,
                HeaderValue::from_str(value).unwrap(),
            );
            preferred_language(&headers)
        };
        assert_eq!(preferred_language(&HeaderMap::new()), Language::En);
        assert_eq!(pick("es-CO,es;q=0.9,en;q=0.8"), Language::Es);
        assert_eq!(pick("fr-FR, en;q=0.5, es;q=0.7"), Language::Es);
        assert_eq!(pick("de, fr"), Language::En);
        assert_eq!(pick("es;q=0, en;q=0.1"), Language::En);
        assert_eq!(pick("ES"), Language::Es);
    }

    #[test]
    fn every_page_renders_in_both_languages() {
        let id = Uuid::now_v7();
        let pages = [
            Shown::Capture { id },
            Shown::Expired,
            Shown::Complete {
                status: ValidationStatus::Validated,
                continue_url: Some("https://example.com/?id=1&status=validated".into()),
            },
            Shown::Complete {
                status: ValidationStatus::Failed,
                continue_url: None,
            },
            Shown::NotFound,
            Shown::Unavailable,
        ];
        for language in [Language::En, Language::Es] {
            for shown in &pages {
                let name = format!("{}/{}", language.as_str(), shown.template());
                let context = context! {
                    lang => language.as_str(), v => "1", id => id.to_string(),
                    status => "validated", continue_url => "https://example.com/",
                    strings => Value::from_safe_string(script_strings(language).to_owned()),
                };
                let html = TEMPLATES
                    .get_template(&name)
                    .unwrap()
                    .render(&context)
                    .unwrap();
                assert!(
                    html.contains(&format!("<html lang=\"{}\"", language.as_str())),
                    "{name}"
                );
                // The CSP forbids inline script and style: none may be written.
                assert!(!html.contains(" style="), "{name}");
                assert!(!has_event_handler(&html), "{name}: an inline event handler");
                assert!(!html.contains("javascript:"), "{name}");
                for script in html.split("<script").skip(1) {
                    let open = script.split('>').next().unwrap_or_default();
                    assert!(
                        open.contains(" src=") || open.contains("type=\"application/json\""),
                        "{name}: an inline script"
                    );
                }
            }
        }
    }

    /// Whether the markup has an attribute like ` onclick=`.
    fn has_event_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(at, _)| {
            let rest = &html[at + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_lowercase).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    #[test]
    fn strings_exist_in_both_languages_with_the_same_keys() {
        fn keys(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
            if let Some(map) = value.as_object() {
                for (k, v) in map {
                    keys(v, &format!("{prefix}{k}."), out);
                }
            } else {
                out.push(prefix.to_owned());
            }
        }
        let parse = |l| serde_json::from_str::<serde_json::Value>(script_strings(l)).unwrap();
        let (mut en, mut es) = (Vec::new(), Vec::new());
        keys(&parse(Language::En), "", &mut en);
        keys(&parse(Language::Es), "", &mut es);
        assert!(en.len() > 20, "{en:?}");
        assert_eq!(en, es);
    }

    #[test]
    fn strings_cannot_close_their_script_element() {
        let json = json_for_script(r#"{"a": "</script><script>alert(1)</script> & <!--"}"#);
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["a"], "</script><script>alert(1)</script> & <!--");
    }

    #[tokio::test]
    async fn stored_values_are_escaped() {
        let response = render(
            &Shown::Complete {
                status: ValidationStatus::Validated,
                continue_url: Some("https://example.com/?q=\"><script>x</script>".into()),
            },
            Language::En,
        );
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!html.contains("<script>x"), "{html}");
        assert!(html.contains("&lt;script&gt;x"), "{html}");
    }

    #[tokio::test]
    async fn an_embeddable_page_names_who_may_frame_it_and_whom_to_tell() {
        let origins = [
            EmbedOrigin::parse("https://app.example.com").unwrap(),
            EmbedOrigin::parse("http://localhost:3000").unwrap(),
        ];
        let id = Uuid::now_v7();
        let shown = Shown::Complete {
            status: ValidationStatus::Validated,
            continue_url: Some("https://example.com/back?id=1&status=validated".into()),
        };
        let response = Page::new(&shown, Language::En)
            .embedded(id, &origins)
            .render();
        assert_eq!(
            response.headers()[header::CONTENT_SECURITY_POLICY],
            CSP.replace(
                "frame-ancestors 'none'",
                "frame-ancestors https://app.example.com http://localhost:3000"
            )
        );
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        // (HTML escaping writes `/` as `&#x2f;`; the browser reads it back.)
        assert!(
            html.contains(&format!(
                "<div id=\"embed\" hidden data-validation-id=\"{id}\" \
                 data-origins=\"https:&#x2f;&#x2f;app.example.com http:&#x2f;&#x2f;localhost:3000\" \
                 data-status=\"validated\"></div>"
            )),
            "{html}"
        );
        // Its script tells the host the outcome; the frame does not leave.
        assert!(html.contains("/validate/assets/capture.js?v="), "{html}");
        let continue_link =
            "<a class=\"button primary\" href=\"https:&#x2f;&#x2f;example.com&#x2f;back";
        assert!(!html.contains(continue_link), "{html}");

        // Not embeddable: framed by no one, nothing to tell, the link shown.
        let response = Page::new(&shown, Language::En).embedded(id, &[]).render();
        assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], CSP);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!html.contains("id=\"embed\""), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains(continue_link), "{html}");
    }

    #[test]
    fn pages_carry_the_security_headers() {
        let response = render(&Shown::Unavailable, Language::Es);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let h = response.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h["permissions-policy"], "camera=(self)");
        assert_eq!(h[header::RETRY_AFTER], "5");
    }
}

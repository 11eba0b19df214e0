//! The closed sets of projects and flows: what an operator sets with `bvctl`
//! and the worker checks before it accepts a validation.

crate::closed_set! {
    /// Whether a project takes new validations.
    pub enum ProjectStatus {
        Active = "active",
        Inactive = "inactive",
    }
}

crate::closed_set! {
    /// The kind of a project's flow.
    pub enum FlowType {
        Login = "login",
        Onboarding = "onboarding",
    }
}

crate::closed_set! {
    /// Where a flow is in its life; only `active` flows take validations.
    pub enum FlowStatus {
        Draft = "draft",
        Active = "active",
        Paused = "paused",
    }
}

/// An origin allowed to embed a project's capture page in an iframe: the
/// page's `frame-ancestors`, and the only target of the events it posts to
/// the host page. Serialised as the browser does (`https://app.example.com`,
/// a port only when it is not the scheme's default), so it compares equal to
/// the `origin` of a `MessageEvent`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmbedOrigin(String);

impl EmbedOrigin {
    /// Reads an origin as an operator writes it. Only an origin: a scheme,
    /// a host and a port, no path, query, fragment or credentials; `https`,
    /// or `http` on the loopback host for development (a page that uses the
    /// camera must be a secure context, and so must every frame above it).
    pub fn parse(value: &str) -> Result<EmbedOrigin, String> {
        let url = url::Url::parse(value.trim())
            .map_err(|err| format!("`{value}` is not an origin ({err})"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{value}` has no host"))?;
        let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(format!(
                    "`{value}` is not https: only localhost and 127.0.0.1 may embed over http"
                ));
            }
            other => return Err(format!("`{value}`: `{other}` is not http(s)")),
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "`{value}` is not an origin: write only the scheme, host and port (no path)"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "`{value}` is not an origin: it carries credentials"
            ));
        }
        Ok(EmbedOrigin(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Origins as stored: space-separated, as in a CSP source list.
    pub fn join(origins: &[EmbedOrigin]) -> Option<String> {
        let mut sorted: Vec<&str> = origins.iter().map(EmbedOrigin::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        (!sorted.is_empty()).then(|| sorted.join(" "))
    }

    /// Origins read back from storage; anything that is not one is dropped
    /// (the column is only written through [`EmbedOrigin::join`]).
    pub fn split(stored: Option<&str>) -> Vec<EmbedOrigin> {
        stored
            .unwrap_or_default()
            .split_ascii_whitespace()
            .filter_map(|origin| EmbedOrigin::parse(origin).ok())
            .collect()
    }
}

impl std::fmt::Display for EmbedOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EmbedOrigin {
    type Err = String;

    fn from_str(value: &str) -> Result<EmbedOrigin, String> {
        EmbedOrigin::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_agree_with_serde_and_parse_back() {
        for s in FlowStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.as_str().parse::<FlowStatus>(), Ok(*s));
        }
        let err = "archived".parse::<FlowStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`archived` is not one of `draft`, `active` or `paused`"
        );
        assert_eq!(FlowType::expected(), "`login` or `onboarding`");
        assert_eq!(ProjectStatus::parse("active"), Some(ProjectStatus::Active));
    }

    #[test]
    fn embed_origins_are_origins_as_browsers_write_them() {
        let ok = |v: &str| EmbedOrigin::parse(v).map(|o| o.to_string());
        for (given, origin) in [
            ("https://App.Example.com", "https://app.example.com"),
            ("https://app.example.com/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            (
                "https://app.example.com:8443",
                "https://app.example.com:8443",
            ),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ] {
            assert_eq!(ok(given), Ok(origin.to_owned()), "{given}");
        }
        for (bad, says) in [
            (
                "http://app.example.com",
                "only localhost and 127.0.0.1 may embed over http",
            ),
            ("https://app.example.com/embed", "no path"),
            ("https://app.example.com/?a=1", "no path"),
            ("https://user:pw@app.example.com", "credentials"),
            ("ftp://app.example.com", "`ftp` is not http(s)"),
            ("*", "is not an origin"),
            ("app.example.com", "is not an origin"),
        ] {
            let err = EmbedOrigin::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let origins = [
            "https://b.example",
            "https://a.example",
            "https://b.example",
        ]
        .map(|o| EmbedOrigin::parse(o).unwrap());
        let stored = EmbedOrigin::join(&origins);
        assert_eq!(
            stored.as_deref(),
            Some("https://a.example https://b.example")
        );
        assert_eq!(EmbedOrigin::split(stored.as_deref()).len(), 2);
        assert_eq!(EmbedOrigin::join(&[]), None);
        assert!(EmbedOrigin::split(None).is_empty());
    }
}

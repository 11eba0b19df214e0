//! Rate limits and load shedding (`[rate_limits]`, README "Rate limits").
//!
//! - The end user's endpoints (challenge, validate, and the page's view: a
//!   `GET /v2/biometric-validations/{id}` with a session token) are limited
//!   per validation (the session the token names once its signature holds,
//!   never the token's text), then per client address. In that order: a
//!   request one validation's limit refuses does not spend its address's
//!   allowance, so a page gone wild does not use up the allowance of the
//!   others behind the same NAT.
//! - The client API (client tokens) is limited per client.
//! - Validate requests in flight are bounded by a semaphore: over it, `503`.
//!
//! Each limit is one of governor's keyed GCRA limiters (a token bucket
//! without timers): `burst` requests at once, one more every `interval`.
//! Their state is this process's; [`sweep`] drops the keys whose bucket is
//! full again. A request over a limit is answered `429 RATE_LIMITED` with
//! `Retry-After` and the `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset` and `RateLimit-Policy` fields of
//! draft-ietf-httpapi-ratelimit-headers-06; a request within its limits
//! carries the same fields for the one closest to running out.
//!
//! A token that does not verify is counted by no session or client (only by
//! its address, on the end user's endpoints): the handler's own extractor
//! answers it `401`/`403`, as without limits.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bv_contract::{ApiError, ErrorCode};
use bv_runtime::Shutdown;
use bv_runtime::settings::SettingError;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::answer::Failure;
use crate::auth::{Client, Session};
use crate::metrics::Metrics;
use crate::settings::{HttpSettings, Limit, RateLimitSettings};
use crate::state::AppState;

/// `Retry-After` of a validate request shed for want of a slot: the
/// service's usual `503` delay.
pub const SHED_RETRY_AFTER_SECS: u64 = 5;

/// How often the limiters drop the keys whose bucket is full again.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// What a request was limited by: the metric's `scope` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Session,
    Ip,
    Client,
    InFlight,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Session, Scope::Ip, Scope::Client, Scope::InFlight];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Session => "session",
            Scope::Ip => "ip",
            Scope::Client => "client",
            Scope::InFlight => "in_flight",
        }
    }

    /// Whose requests were too many, for the error sentence.
    fn whose(self) -> &'static str {
        match self {
            Scope::Session => "for this biometric validation",
            Scope::Ip => "from this address",
            Scope::Client => "for this client",
            Scope::InFlight => "in progress",
        }
    }
}

/// Where a request stands against one limit: the `RateLimit-*` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The burst: requests allowed at once.
    pub limit: u32,
    /// Requests still allowed now.
    pub remaining: u32,
    /// Until the bucket is full again (allowed: all of it; refused: until
    /// the next request is allowed).
    pub reset: Duration,
    /// The time a whole burst takes to come back.
    pub window: Duration,
}

impl Standing {
    /// Writes the `RateLimit-*` fields.
    fn write(&self, headers: &mut HeaderMap) {
        let fields = [
            ("ratelimit-limit", self.limit.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", seconds(self.reset).to_string()),
            (
                "ratelimit-policy",
                format!("{};w={}", self.limit, seconds(self.window).max(1)),
            ),
        ];
        for (name, value) in fields {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }

    /// The one of two closer to running out.
    fn tighter(self, other: Option<Standing>) -> Standing {
        match other {
            Some(other) if other.remaining < self.remaining => other,
            _ => self,
        }
    }
}

/// Whole seconds, rounded up.
fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// One keyed limit.
struct Limiter<K: std::hash::Hash + Eq + Clone> {
    scope: Scope,
    limiter: Keyed<K>,
    burst: u32,
    interval: Duration,
    /// The most keys seen since the map was last shrunk.
    peak: AtomicUsize,
}

impl<K: std::hash::Hash + Eq + Clone> Limiter<K> {
    fn new(scope: Scope, limit: Limit) -> Option<Self> {
        let interval = limit.rate.interval();
        let quota = Quota::with_period(interval)?.allow_burst(limit.burst);
        Some(Limiter {
            scope,
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            burst: limit.burst.get(),
            interval,
            peak: AtomicUsize::new(0),
        })
    }

    /// Counts one request of `key`: its standing, or the refusal.
    fn check(&self, key: &K) -> Result<Standing, Refusal> {
        let window = self.interval * self.burst;
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(Standing {
                    limit: self.burst,
                    remaining,
                    reset: self.interval * self.burst.saturating_sub(remaining),
                    window,
                })
            }
            Err(not_until) => Err(Refusal {
                scope: self.scope,
                standing: Standing {
                    limit: self.burst,
                    remaining: 0,
                    reset: not_until.wait_time_from(self.limiter.clock().now()),
                    window,
                },
            }),
        }
    }

    /// Forgets the keys whose bucket is full again (they are the same as a
    /// key never seen), and gives memory back once most are gone.
    fn sweep(&self, metrics: &Metrics) {
        let before = self.limiter.len();
        let peak = self.peak.fetch_max(before, Ordering::Relaxed).max(before);
        self.limiter.retain_recent();
        let after = self.limiter.len();
        if after < peak / 4 {
            self.limiter.shrink_to_fit();
            self.peak.store(after, Ordering::Relaxed);
        }
        metrics.rate_limit_keys(self.scope, after);
    }
}

/// A request over a limit.
#[derive(Debug)]
pub struct Refusal {
    pub scope: Scope,
    pub standing: Standing,
}

impl IntoResponse for Refusal {
    /// `429 RATE_LIMITED`, `Retry-After` (whole seconds, at least 1) and the
    /// `RateLimit-*` fields.
    fn into_response(self) -> Response {
        let wait = seconds(self.standing.reset).max(1);
        let unit = if wait == 1 { "second" } else { "seconds" };
        let error = ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "Too many requests {}; retry in {wait} {unit}",
                self.scope.whose()
            ),
        );
        let mut response = Failure::Api(error).into_response();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
        self.standing.write(headers);
        response
    }
}

/// The ingress's limits, shared by every request.
pub struct Limits {
    session: Option<Limiter<uuid::Uuid>>,
    ip: Option<Limiter<IpAddr>>,
    client: Option<Limiter<String>>,
    validate_slots: Arc<Semaphore>,
    /// Validate requests in flight per validation, and the most allowed.
    validating: Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, u32>>>,
    per_session: u32,
    /// How long a validate body may take to arrive.
    pub validate_body_timeout: Duration,
    client_ip_header: Option<HeaderName>,
}

impl Limits {
    pub fn new(settings: &RateLimitSettings, http: &HttpSettings) -> Result<Self, SettingError> {
        let slots = usize::try_from(settings.validate_in_flight).unwrap_or(usize::MAX);
        Ok(Limits {
            session: settings
                .session()?
                .and_then(|l| Limiter::new(Scope::Session, l)),
            ip: settings.ip()?.and_then(|l| Limiter::new(Scope::Ip, l)),
            client: settings
                .client()?
                .and_then(|l| Limiter::new(Scope::Client, l)),
            validate_slots: Arc::new(Semaphore::new(slots.min(Semaphore::MAX_PERMITS))),
            validating: Arc::default(),
            per_session: settings.validate_in_flight_per_session,
            validate_body_timeout: settings.validate_body_timeout,
            client_ip_header: http.client_ip_header()?,
        })
    }

    /// The address a request's limit is keyed on: the trusted header's
    /// rightmost address when one is configured and parses, else the TCP
    /// peer's. IPv6 addresses count per /64 (what one subscriber is given).
    pub fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = self
            .client_ip_header
            .as_ref()
            .and_then(|name| rightmost(&parts.headers, name));
        forwarded.or(peer).map(ip_key)
    }

    fn sweep(&self, metrics: &Metrics) {
        if let Some(l) = &self.session {
            l.sweep(metrics);
        }
        if let Some(l) = &self.ip {
            l.sweep(metrics);
        }
        if let Some(l) = &self.client {
            l.sweep(metrics);
        }
    }
}

/// The last address in the (possibly repeated, comma-separated) header:
/// the one the trusted proxy appended. `None` when absent or not an address.
fn rightmost(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            // `[2001:db8::1]` without a port.
            last.strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|l| l.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
}

/// An address as a limit key: IPv4 as is (also when mapped into IPv6),
/// IPv6 cut to its /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// Whether the request's bearer token presents itself as a session token
/// (EdDSA, which client tokens never are); only picks which limits apply,
/// the handler checks the token.
fn presents_session_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .and_then(|token| jsonwebtoken::decode_header(token.trim()).ok())
        .is_some_and(|h| h.alg == jsonwebtoken::Algorithm::EdDSA)
}

/// Who a request is counted as.
#[derive(Clone, Copy)]
enum Audience {
    /// Per session, then per address.
    EndUser,
    /// Per client.
    Client,
}

/// Layer of the end user's routes (challenge, validate).
pub async fn end_user(State(state): State<AppState>, request: Request, next: Next) -> Response {
    guard(&state, Audience::EndUser, request, next).await
}

/// Layer of the client API's routes.
pub async fn client(State(state): State<AppState>, request: Request, next: Next) -> Response {
    guard(&state, Audience::Client, request, next).await
}

/// Layer of `GET /v2/biometric-validations/{id}`, which takes either token:
/// a session token is the page's (the end user's limits), a client token
/// the integrator's.
pub async fn either(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let audience = if presents_session_token(request.headers()) {
        Audience::EndUser
    } else {
        Audience::Client
    };
    guard(&state, audience, request, next).await
}

async fn guard(state: &AppState, audience: Audience, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let standing = match count(state, audience, &mut parts).await {
        Ok(standing) => standing,
        Err(refusal) => {
            state.metrics.rate_limited(refusal.scope);
            tracing::debug!(scope = refusal.scope.as_str(), "rate limited");
            return refusal.into_response();
        }
    };
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(standing) = standing {
        standing.write(response.headers_mut());
    }
    response
}

/// Counts a request against the limits of its audience: the standing of the
/// one closest to running out (`None` when none applied), or the refusal.
async fn count(
    state: &AppState,
    audience: Audience,
    parts: &mut Parts,
) -> Result<Option<Standing>, Refusal> {
    let limits = &state.limits;
    let mut tightest = None;
    match audience {
        Audience::EndUser => {
            if let Some(limiter) = &limits.session
                && let Ok(Session(session)) = Session::from_request_parts(parts, state).await
            {
                tightest = Some(limiter.check(&session)?.tighter(tightest));
            }
            if let (Some(limiter), Some(ip)) = (&limits.ip, limits.client_ip(parts)) {
                tightest = Some(limiter.check(&ip)?.tighter(tightest));
            }
        }
        Audience::Client => {
            if let Some(limiter) = &limits.client
                && let Ok(Client(client)) = Client::from_request_parts(parts, state).await
            {
                tightest = Some(limiter.check(&client)?.tighter(tightest));
            }
        }
    }
    Ok(tightest)
}

/// One of `rate_limits.validate_in_flight` slots, held from before a
/// validate request's body is read until its command is published (the
/// handler releases it then: waiting for the worker's answer holds no image)
/// or the request ends.
#[derive(Clone)]
pub struct ValidateSlot(Arc<std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>);

impl ValidateSlot {
    /// Gives the slot back (once; later calls do nothing).
    pub fn release(&self) {
        if let Ok(mut permit) = self.0.lock() {
            permit.take();
        }
    }
}

/// Layer of the validate route, inside the rate limits: takes one of
/// `rate_limits.validate_in_flight` slots for the request (see
/// [`ValidateSlot`]); with none free, `503` and `Retry-After`.
pub async fn validate_slot(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // One validation's requests first: a link cannot hold every slot.
    let (mut parts, body) = request.into_parts();
    let session = Session::from_request_parts(&mut parts, &state).await.ok();
    let request = Request::from_parts(parts, body);
    let _validating = match session.map(|Session(id)| state.limits.validating(id)) {
        Some(Err(busy)) => {
            state.metrics.rate_limited(Scope::InFlight);
            tracing::debug!(
                scope = Scope::InFlight.as_str(),
                "validate request refused: its validation has enough in flight"
            );
            return busy.into_response();
        }
        Some(Ok(guard)) => Some(guard),
        None => None,
    };
    let Ok(slot) = state.limits.validate_slots.clone().try_acquire_owned() else {
        state.metrics.rate_limited(Scope::InFlight);
        tracing::debug!(scope = Scope::InFlight.as_str(), "validate request shed");
        let mut response = Failure::Api(ApiError::unavailable(
            "too many validate requests are in progress",
        ))
        .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(SHED_RETRY_AFTER_SECS),
        );
        return response;
    };
    let slot = ValidateSlot(Arc::new(std::sync::Mutex::new(Some(slot))));
    let mut request = request;
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    slot.release();
    response
}

/// A validation's validate request counted in flight until dropped.
pub struct Validating {
    map: Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, u32>>>,
    id: uuid::Uuid,
}

impl Drop for Validating {
    fn drop(&mut self) {
        if let Ok(mut map) = self.map.lock()
            && let Some(n) = map.get_mut(&self.id)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

impl Limits {
    /// Counts one more validate request of validation `id` in flight, or
    /// refuses it (`429`) when it has `validate_in_flight_per_session`.
    fn validating(&self, id: uuid::Uuid) -> Result<Validating, Failure> {
        let mut map = self
            .validating
            .lock()
            .map_err(|_| Failure::Internal("the in-flight map is poisoned".into()))?;
        let n = map.entry(id).or_insert(0);
        if *n >= self.per_session {
            return Err(Failure::Api(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "Too many requests: this validation already has {} validate request(s) in progress; wait for the answer",
                    self.per_session
                ),
            )));
        }
        *n += 1;
        Ok(Validating {
            map: self.validating.clone(),
            id,
        })
    }
}

/// Layer of the hosted page (`GET /validate/{id}`, an unauthenticated
/// database read): counted against its reader's address like the end
/// user's API calls; over it, the page's "try again in a moment" with `429`.
pub async fn page(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let limits = &state.limits;
    if let (Some(limiter), Some(ip)) = (&limits.ip, limits.client_ip(&parts))
        && let Err(refusal) = limiter.check(&ip)
    {
        state.metrics.rate_limited(refusal.scope);
        tracing::debug!(scope = refusal.scope.as_str(), "page rate limited");
        return crate::page::too_many(&parts.headers, seconds(refusal.standing.reset));
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Sweeps the limiters every [`SWEEP_EVERY`] until shutdown, so their
/// memory follows the keys in use, not every key ever seen.
pub async fn sweep(limits: Arc<Limits>, metrics: Arc<Metrics>, shutdown: Shutdown) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = every.tick() => limits.sweep(&metrics),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::settings::Rate;

    fn limit(count: u32, per: u64, burst: u32) -> Limit {
        Limit {
            rate: Rate {
                count,
                per: Duration::from_secs(per),
            },
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[test]
    fn a_burst_then_refusals_with_the_wait() {
        let limiter = Limiter::<u32>::new(Scope::Session, limit(1, 3600, 3)).unwrap();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check(&7).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refusal = limiter.check(&7).unwrap_err();
        assert_eq!(refusal.scope, Scope::Session);
        assert_eq!(refusal.standing.limit, 3);
        assert_eq!(refusal.standing.remaining, 0);
        let wait = seconds(refusal.standing.reset);
        assert!((3590..=3600).contains(&wait), "{wait}");
        assert_eq!(refusal.standing.window, Duration::from_secs(3 * 3600));
        // Another key has its own bucket.
        assert_eq!(limiter.check(&8).unwrap().remaining, 2);
    }

    #[test]
    fn a_sweep_forgets_only_full_buckets() {
        let metrics = Metrics::new();
        let limiter = Limiter::<u32>::new(Scope::Ip, limit(1, 3600, 2)).unwrap();
        limiter.check(&1).unwrap();
        limiter.sweep(&metrics);
        assert_eq!(limiter.limiter.len(), 1, "a bucket not yet full stays");
        let fast = Limiter::<u32>::new(Scope::Ip, limit(1_000_000, 1, 1)).unwrap();
        for key in 0..1000 {
            fast.check(&key).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        fast.sweep(&metrics);
        assert_eq!(fast.limiter.len(), 0, "full buckets are forgotten");
    }

    #[tokio::test]
    async fn the_refusal_is_the_usual_error_body_with_its_fields() {
        let refusal = Refusal {
            scope: Scope::Ip,
            standing: Standing {
                limit: 20,
                remaining: 0,
                reset: Duration::from_millis(2100),
                window: Duration::from_secs(20),
            },
        };
        let response = refusal.into_response();
        assert_eq!(response.status(), 429);
        let h = response.headers();
        assert_eq!(h[header::RETRY_AFTER], "3");
        assert_eq!(h["ratelimit-limit"], "20");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "3");
        assert_eq!(h["ratelimit-policy"], "20;w=20");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "success": false,
                "error": "Too many requests from this address; retry in 3 seconds",
                "code": "RATE_LIMITED"
            })
        );
    }

    #[test]
    fn the_client_address_is_the_trusted_headers_rightmost() {
        let name = HeaderName::from_static("x-forwarded-for");
        let mut headers = HeaderMap::new();
        headers.append(&name, HeaderValue::from_static("198.51.100.1, 10.0.0.1"));
        headers.append(&name, HeaderValue::from_static("1.2.3.4 , 203.0.113.9"));
        assert_eq!(
            rightmost(&headers, &name),
            Some("203.0.113.9".parse().unwrap())
        );
        for (value, expected) in [
            ("203.0.113.9:4711", Some("203.0.113.9")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("unknown", None),
            ("", None),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(&name, HeaderValue::from_str(value).unwrap());
            assert_eq!(
                rightmost(&headers, &name),
                expected.map(|e| e.parse().unwrap()),
                "{value}"
            );
        }
        assert_eq!(rightmost(&HeaderMap::new(), &name), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn the_kind_of_token_is_told_by_its_algorithm() {
        let mut headers = HeaderMap::new();
        assert!(!presents_session_token(&headers));
        // {"alg":"EdDSA","typ":"JWT"} and {"alg":"HS256","typ":"JWT"}, unsigned.
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.e30.x"),
        );
        assert!(presents_session_token(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.x"),
        );
        assert!(!presents_session_token(&headers));
    }
}

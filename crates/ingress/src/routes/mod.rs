//! The HTTP API: routes, request spans and per-route metrics.

mod biometrics;
pub mod create;
mod deliveries;
mod list;
mod ops;
mod read;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use bv_runtime::propagation;
use tracing::Instrument;

use crate::limits;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    // Rate limits (crate::limits), per group of routes: the end user's
    // (per session, then address), the client API's (per client), and the
    // read that takes either token. Validate also needs a free slot.
    let end_user = || middleware::from_fn_with_state(state.clone(), limits::end_user);
    let client = || middleware::from_fn_with_state(state.clone(), limits::client);
    let either = middleware::from_fn_with_state(state.clone(), limits::either);
    let validate_slot = middleware::from_fn_with_state(state.clone(), limits::validate_slot);
    Router::new()
        .route(
            "/v2/biometric-validations",
            post(create::create).get(list::list).route_layer(client()),
        )
        .route(
            "/v2/biometric-validations/{id}",
            get(read::get_one).route_layer(either),
        )
        .route(
            "/v2/biometric-validations/validate",
            post(biometrics::validate)
                .layer(axum::extract::DefaultBodyLimit::max(
                    state.biometrics.max_request_bytes,
                ))
                .route_layer(validate_slot)
                .route_layer(end_user()),
        )
        .route(
            "/v2/biometric-validations/{id}/challenge",
            get(biometrics::challenge).route_layer(end_user()),
        )
        .route(
            "/v2/biometric-validations/{id}/person",
            axum::routing::delete(biometrics::delete_person).route_layer(client()),
        )
        .route("/.well-known/jwks.json", get(biometrics::jwks))
        .route(
            "/v2/biometric-validations/{id}/deliveries",
            get(deliveries::list).route_layer(client()),
        )
        .route(
            "/v2/biometric-validations/{id}/deliveries/{delivery}/redeliver",
            post(deliveries::redeliver).route_layer(client()),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(crate::page::routes(&state))
        .fallback(ops::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// One server span per request (joined to the caller's trace when it sends
/// `traceparent`), and a request counter by route and status.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "bv.http",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        bv.client = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    propagation::set_parent_from_http(&span, request.headers());
    propagation::record_trace_id(&span);
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    no_store(&mut response);
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if route != "/metrics" && route != "/healthz" && route != "/readyz" {
        tracing::info!(parent: &span, status, "request");
    }
    state
        .metrics
        .request(&route, method.as_str(), status, started.elapsed());
    response
}

/// `Cache-Control: no-store` on every JSON answer that does not say
/// otherwise: answers carry session tokens, page links and signed results,
/// which no browser or proxy cache may keep. (The JWKS says it may be kept.)
fn no_store(response: &mut Response) {
    use axum::http::{HeaderValue, header};
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if json && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

//! The worker's small HTTP surface: liveness, readiness and metrics.
//!
//! Liveness never depends on RabbitMQ or the database; readiness does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::routing::get;
use bv_runtime::Shutdown;
use bv_store::sea_orm::DatabaseConnection;

use crate::metrics::Metrics;

#[derive(Clone)]
pub struct State {
    /// Set once the database is connected.
    pub db: Arc<OnceLock<DatabaseConnection>>,
    /// True while consumers are attached to the queue.
    pub ready: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

pub async fn serve(listener: tokio::net::TcpListener, state: State, shutdown: Shutdown) {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await;
    if let Err(err) = result {
        tracing::error!(error = %err, "health server failed");
    }
}

/// Liveness: the process answers and no loop is stuck in a step past its
/// bound (then Kubernetes restarts it, and the log says which step).
async fn healthz() -> (StatusCode, String) {
    let stuck = bv_runtime::progress::stuck();
    if stuck.is_empty() {
        return (StatusCode::OK, "ok".into());
    }
    tracing::error!(stuck = ?stuck, "a loop stopped making progress");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("stuck:\n{}\n", stuck.join("\n")),
    )
}

async fn readyz(Extract(state): Extract<State>) -> (StatusCode, &'static str) {
    if !state.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not consuming");
    }
    let Some(db) = state.db.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "database not connected");
    };
    match db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

async fn metrics(Extract(state): Extract<State>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            bv_runtime::metrics::CONTENT_TYPE,
        )],
        state.metrics.render(),
    )
}

//! bv-ingress: the HTTP face of the service.
//!
//! Authenticates `POST /v2/biometric-validations`, publishes a create command
//! to RabbitMQ and answers with the worker's reply; serves reads from the
//! database. [`Application::build`] binds (port 0 in tests) and returns the
//! real address, so tests run the real server.

pub mod answer;
pub mod auth;
pub mod limits;
pub mod metrics;
pub mod page;
pub mod publisher;
pub mod routes;
pub mod settings;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use bv_runtime::Shutdown;
use tokio::net::TcpListener;

pub use crate::settings::Settings;
use crate::state::AppState;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    publisher_task: tokio::task::JoinHandle<()>,
    sweeper_task: tokio::task::JoinHandle<()>,
    shutdown: Shutdown,
}

impl Application {
    /// Connects (lazily) to the database, starts the broker session and binds
    /// the listener. Fails on a bad key or an address already in use.
    pub async fn build(settings: Settings, shutdown: Shutdown) -> anyhow::Result<Self> {
        let verifier = auth::Verifier::new(&settings.auth)?;
        let d = &settings.database;
        let pool = bv_store::PoolOptions {
            lazy: true,
            connect_timeout: d.connect_timeout,
            statement_timeout: d.statement_timeout,
            ..bv_store::PoolOptions::new(d.max_connections)
        };
        let db = bv_store::connect(&d.url, &pool).await?;
        let metrics = Arc::new(metrics::Metrics::new());
        let (publisher, publisher_task) =
            publisher::Publisher::start(settings.amqp.clone(), metrics.clone(), shutdown.clone());
        let limits = Arc::new(limits::Limits::new(&settings.rate_limits, &settings.http)?);
        let sweeper_task = tokio::spawn(limits::sweep(
            limits.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
        let state = AppState {
            db,
            publisher,
            verifier: Arc::new(verifier),
            settings: Arc::new(settings.ingress.clone()),
            metrics,
            db_timeout: settings.database.work_timeout(),
            sessions: Arc::new(bv_runtime::session::Sessions::new(
                &settings.biometrics,
                &settings.links,
            )?),
            biometrics: Arc::new(settings.biometrics.clone()),
            limits,
        };
        let router =
            routes::router(state).layer(DefaultBodyLimit::max(settings.ingress.max_body_bytes));
        let listener = TcpListener::bind(settings.http.addr).await?;
        Ok(Application {
            listener,
            router,
            publisher_task,
            sweeper_task,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until shutdown; in-flight requests finish first. Each
    /// request knows its TCP peer (the client address of the rate limits).
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "ingress listening");
        let shutdown = self.shutdown.clone();
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await?;
        self.shutdown.trigger();
        let _ = self.publisher_task.await;
        let _ = self.sweeper_task.await;
        tracing::info!("ingress stopped");
        Ok(())
    }
}

/// The process: load settings, start telemetry, serve until SIGTERM.
pub fn main() -> std::process::ExitCode {
    bv_runtime::service::main(
        "bv-ingress",
        Settings::load,
        |s| &s.telemetry,
        |settings, shutdown| async move { Application::build(settings, shutdown).await?.run().await },
    )
}

//! bv-worker: consumes create commands, persists them, answers the caller.
//!
//! [`run`] is the whole process: connect to the database (migrating when
//! configured), serve health and metrics, keep consumers running against
//! RabbitMQ (reconnecting with backoff), sweep expired validations, and on
//! shutdown stop taking work and finish what is in flight.

pub mod biometrics;
pub mod consumer;
pub mod dead_letter;
pub mod dispatch;
pub mod health;
pub mod incoming;
pub mod metrics;
pub mod persist;
pub mod redeliver;
pub mod references;
pub mod reply;
pub mod settings;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bv_contract::amqp::Names;
use bv_migration::{Migrator, MigratorTrait};
use bv_runtime::Shutdown;
use bv_runtime::amqp::{connect_with_retry, declare_topology};
use bv_runtime::retry::{keep_alive, until_ok};
use bv_store::sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::consumer::Context;
use crate::metrics::Metrics;
pub use crate::settings::Settings;

/// Runs the worker until `shutdown` is triggered.
pub async fn run(settings: Settings, shutdown: Shutdown) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let db_cell = Arc::new(OnceLock::new());

    // Liveness first: it must not wait for the database or the broker.
    let listener = tokio::net::TcpListener::bind(settings.worker.http_addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "health and metrics listening");
    let health = tokio::spawn(health::serve(
        listener,
        health::State {
            db: db_cell.clone(),
            ready: ready.clone(),
            metrics: metrics.clone(),
        },
        shutdown.clone(),
    ));

    // The biometric role's engines and keys come first: a missing or corrupt
    // face model, or bad template keys, stop the process before it takes
    // any work.
    let role = if settings.worker.biometrics {
        Some(Arc::new(biometric_role(&settings).await?))
    } else {
        None
    };

    let Some(db) = connect_db(&settings, &shutdown).await? else {
        let _ = health.await;
        return Ok(());
    };
    if settings.database.migrate_on_start {
        Migrator::up(&db, None).await?;
    }
    let _ = db_cell.set(db.clone());
    let wake = Arc::new(Notify::new());
    let sessions = Arc::new(bv_runtime::session::Sessions::new(
        &settings.biometrics,
        &settings.links,
    )?);
    let ctx = Arc::new(Context {
        db: db.clone(),
        names: Names::new(&settings.amqp.prefix),
        settings: settings.worker.clone(),
        metrics: metrics.clone(),
        wake: wake.clone(),
        db_timeout: settings.database.work_timeout(),
        sessions: sessions.clone(),
        biometrics: settings.biometrics.clone(),
        references: references::References::default(),
        replies: reply::Replier::new(settings.amqp.clone()),
    });

    let sweeper = tokio::spawn(sweep_expired(
        db.clone(),
        settings.worker.expiry_sweep_interval,
        settings.database.work_timeout(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let dispatcher = if settings.worker.dispatch {
        let dispatcher = Arc::new(dispatch::Dispatcher::new(
            db.clone(),
            &settings,
            wake,
            metrics,
            sessions,
        )?);
        Some(tokio::spawn(dispatcher.run(shutdown.clone())))
    } else {
        None
    };

    if settings.worker.creates || role.is_some() {
        keep_alive("RabbitMQ session", &shutdown, || async {
            let Some(conn) = connect_with_retry(&settings.amqp, "bv-worker", &shutdown).await
            else {
                return Ok(());
            };
            let conn = Arc::new(conn);
            let result =
                run_consumers(&ctx, role.as_ref(), &conn, &settings, &ready, &shutdown).await;
            ready.store(false, Ordering::Relaxed);
            let _ = conn.close(200, "bye".into()).await;
            result
        })
        .await;
    } else {
        // Nothing to consume: a session would end as soon as it began, and
        // reconnecting in a loop burnt a core of the worker and of RabbitMQ.
        tracing::info!(
            dispatch = settings.worker.dispatch,
            "worker.creates and worker.biometrics are off: no queue to consume, RabbitMQ not used"
        );
        ready.store(true, Ordering::Relaxed);
        shutdown.wait().await;
    }

    if let Some(dispatcher) = dispatcher {
        let _ = dispatcher.await;
    }
    let _ = sweeper.await;
    let _ = health.await;
    let _ = db.close().await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Declares the topology and runs `concurrency` consumers until shutdown
/// (`Ok`) or until one of them fails (`Err`; the others are stopped).
async fn run_consumers(
    ctx: &Arc<Context>,
    role: Option<&Arc<biometrics::Role>>,
    conn: &Arc<lapin::Connection>,
    settings: &Settings,
    ready: &AtomicBool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let channel = conn.create_channel().await?;
    declare_topology(&channel, &ctx.names, &(&settings.amqp).into()).await?;
    let _ = channel.close(200, "declared".into()).await;

    let stop = shutdown.child();
    let mut consumers = JoinSet::new();
    if settings.worker.creates {
        for index in 0..settings.worker.concurrency {
            consumers.spawn(consumer::consume(
                ctx.clone(),
                conn.clone(),
                index,
                stop.clone(),
            ));
        }
        consumers.spawn(redeliver::consume(ctx.clone(), conn.clone(), stop.clone()));
    }
    if let Some(role) = role {
        for index in 0..settings.worker.biometrics_concurrency {
            consumers.spawn(biometrics::consume(
                ctx.clone(),
                role.clone(),
                conn.clone(),
                index,
                stop.clone(),
            ));
        }
    }
    ready.store(true, Ordering::Relaxed);
    let mut result = Ok(());
    while let Some(joined) = consumers.join_next().await {
        let outcome = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(err) = outcome {
            if result.is_ok() {
                result = Err(err);
            }
            // One consumer failed: stop the rest (they finish their batch), then reconnect.
            stop.trigger();
        }
    }
    result
}

/// The biometric role's engines (the face models checked, and loaded unless
/// `biometrics.preload_models` is off) and template keys.
async fn biometric_role(settings: &Settings) -> anyhow::Result<biometrics::Role> {
    let templates = settings.template_keys()?;
    let b = &settings.biometrics;
    let engines =
        biometrics::engines::Engines::start(b.models_dir.clone().into(), b.preload_models).await?;
    tracing::info!(
        models_dir = %b.models_dir,
        preloaded = b.preload_models,
        template_key = templates.sealing_kid(),
        "biometric role ready"
    );
    Ok(biometrics::Role { engines, templates })
}

async fn connect_db(
    settings: &Settings,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<DatabaseConnection>> {
    let what = format!(
        "connecting to the database at {}",
        bv_runtime::settings::redact(&settings.database.url)
    );
    let d = &settings.database;
    let pool = bv_store::PoolOptions {
        connect_timeout: d.connect_timeout,
        statement_timeout: d.statement_timeout,
        ..bv_store::PoolOptions::new(d.max_connections)
    };
    Ok(
        until_ok(&what, None, shutdown, || bv_store::connect(&d.url, &pool))
            .await
            .ok(),
    )
}

/// Marks validations past `expiresAt` expired, deletes kept images whose
/// time has come and what challenges leave behind, every `every`; the time
/// of the last run that went through is a metric (an alert watches it).
async fn sweep_expired(
    db: DatabaseConnection,
    every: Duration,
    limit: Duration,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait() => return,
        }
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
        let mut through = true;
        match bv_store::bounded(limit, bv_store::validations::expire_due(&db, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "validations past expiresAt marked expired"),
            Err(err) => {
                through = false;
                tracing::warn!(error = %err, "expiry sweep failed");
            }
        }
        // Captures kept for audit go when their project's retention ends.
        match bv_store::bounded(limit, bv_store::biometrics::purge_images(&db, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "kept capture images deleted on schedule"),
            Err(err) => {
                through = false;
                tracing::warn!(error = %err, "image retention sweep failed");
            }
        }
        // Challenges never answered and start counts of old commands.
        match bv_store::bounded(limit, bv_store::biometrics::sweep(&db, now)).await {
            Ok(swept) if swept == bv_store::biometrics::Swept::default() => {}
            Ok(swept) => tracing::info!(
                challenges = swept.challenges,
                validate_starts = swept.starts,
                "expired challenges and old validate start counts deleted"
            ),
            Err(err) => {
                through = false;
                tracing::warn!(error = %err, "challenge sweep failed");
            }
        }
        if through {
            metrics.sweep_last_success.set(now.timestamp());
        }
    }
}

/// The `bv-worker` process: load settings, start telemetry, run until SIGTERM.
/// Exit code 2 means a bad setting.
pub fn main() -> std::process::ExitCode {
    bv_runtime::service::main("bv-worker", Settings::load, |s| &s.telemetry, run)
}

//! The dispatcher against its receiver: N webhook deliveries waiting in
//! the outbox, sent to a local axum receiver that answers 204 at once, first
//! by the bare dispatcher (`e2e-bare dispatch`: the same claims, sends and
//! records, nothing else) at bv's concurrency to one host, then, the same
//! rows made pending again, by a bv-worker process that only dispatches.
//! Each a process of its own. The receiver's own rate from a plain HTTP
//! client is printed beside them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bv_e2e::{TestDb, TestPrefix, count_rows};
use bv_runtime::settings::{DEFAULTS, load_from};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

use super::process::ServiceProcess;
use super::{CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY, Command, publish_each, worker_until};

pub struct DispatchRun {
    /// `delivery.concurrency`, which the bare dispatcher uses too.
    pub concurrency: usize,
    /// The receiver's own rate from a plain client at that concurrency.
    pub sink: f64,
    /// The bare dispatcher's deliveries/s, and its peak RSS.
    pub bare: f64,
    pub bare_rss_mib: f64,
    /// bv with `delivery.per_host_concurrency` set to the concurrency (one
    /// receiver: the limit set for it), and its peak RSS.
    pub rate: f64,
    pub peak_rss_mib: f64,
    /// bv with the default per-host limit, and that limit.
    pub default_rate: f64,
    pub default_per_host: usize,
    pub received: usize,
}

/// A receiver on 127.0.0.1 answering 204 to every POST: its URL and how
/// many it received.
async fn receiver() -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((format!("http://{addr}/hooks"), received))
}

async fn succeeded(db: &DatabaseConnection) -> usize {
    db.query_one_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'succeeded'",
    ))
    .await
    .ok()
    .flatten()
    .and_then(|row| row.try_get::<i64>("", "n").ok())
    .unwrap_or(0) as usize
}

pub async fn run(
    db_conn: &DatabaseConnection,
    db: &TestDb,
    n: usize,
) -> anyhow::Result<DispatchRun> {
    let (url, received) = receiver().await?;
    let prefix = TestPrefix::new();
    let mut overrides = super::settings_for(db, &prefix);
    overrides.push(("webhooks.allowed_cidrs", "127.0.0.0/8".into()));
    let settings: bv_worker::Settings = load_from(DEFAULTS, None, Some(&overrides))?;
    let concurrency = usize::from(settings.delivery.concurrency);
    let default_per_host = usize::from(settings.delivery.per_host_concurrency);

    // The outbox: n validations, each with its `created` webhook.
    let created = count_rows(db_conn, "biometric_validations").await as usize;
    let already = succeeded(db_conn).await;
    publish_each(&prefix.names(), n, |i| {
        let mut body: serde_json::Value =
            serde_json::from_slice(&super::body(i)).unwrap_or_default();
        body["webhookUrl"] = json!(url);
        Command {
            id: uuid::Uuid::now_v7(),
            routing_key: CREATE_ROUTING_KEY,
            message_type: CREATE_MESSAGE_TYPE,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    })
    .await?;
    worker_until(db_conn, &overrides, "biometric_validations", created + n).await?;

    // The receiver alone, with one of those events as the body.
    let payload: String = db_conn
        .query_one_raw(Statement::from_string(
            db_conn.get_database_backend(),
            "SELECT payload FROM deliveries WHERE status = 'pending' LIMIT 1",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no pending delivery"))?
        .try_get("", "payload")?;
    let sink = super::bare::sink(&url, &payload, n, concurrency).await?;
    received.store(0, Ordering::SeqCst);

    // The bare dispatcher, then bv with the per-host limit set for one
    // receiver, then with the default; the same rows each time. Progress
    // from the receiver's counter while it is short of n, from the table
    // (every delivery recorded) only at the end: a COUNT(*) every 50 ms
    // would take the database's time from the dispatcher it measures.
    let until_all = || async {
        let got = received.load(Ordering::SeqCst);
        if got < n {
            got
        } else {
            succeeded(db_conn).await.saturating_sub(already)
        }
    };
    let mut bare_process = ServiceProcess::spawn(
        "e2e-bare",
        &[
            "dispatch".into(),
            "--database-url".into(),
            db.url.clone(),
            "--concurrency".into(),
            concurrency.to_string(),
        ],
        &[],
    )?;
    let bare = bare_process.rate_until(n, until_all).await?;
    let bare_rss_mib = bare_process.peak_rss_mib();
    bare_process.stop().await;

    let mut runs = Vec::new();
    for per_host in [concurrency, default_per_host] {
        again(db_conn).await?;
        received.store(0, Ordering::SeqCst);
        let per_host = per_host.to_string();
        let mut process = ServiceProcess::start(
            &overrides,
            &[
                ("worker.creates", "false"),
                ("worker.biometrics", "false"),
                ("worker.dispatch", "true"),
                ("delivery.per_host_concurrency", per_host.as_str()),
            ],
        )?;
        let rate = process.rate_until(n, until_all).await?;
        runs.push((rate, process.peak_rss_mib()));
        process.stop().await;
    }
    let [(rate, peak_rss_mib), (default_rate, _)] = runs[..] else {
        anyhow::bail!("two dispatcher runs");
    };
    Ok(DispatchRun {
        concurrency,
        sink,
        bare,
        bare_rss_mib,
        rate,
        peak_rss_mib,
        default_rate,
        default_per_host,
        received: received.load(Ordering::SeqCst),
    })
}

/// The deliveries sent made pending again, as they were before any attempt.
async fn again(db: &DatabaseConnection) -> anyhow::Result<()> {
    for sql in [
        "UPDATE deliveries SET status = 'pending', attempts = 0, schedule_attempts = 0, \
         next_attempt_at = now(), lease_owner = NULL, lease_expires_at = NULL, \
         last_status = NULL WHERE status = 'succeeded'",
        "DELETE FROM delivery_attempts",
        "VACUUM ANALYZE deliveries",
        "VACUUM ANALYZE delivery_attempts",
    ] {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

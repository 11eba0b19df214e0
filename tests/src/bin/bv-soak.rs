//! `make soak` (not in CI): bv-ingress and bv-worker as separate processes,
//! under steady load for a while (10 minutes by default) at half the
//! capacity measured at the start, with a broker fault and a database fault
//! injected in turn every few minutes through a proxy between the services
//! and their peers. At the end it prints what a reviewer wants to see:
//! requests and answers by status, rows, lost (0) and duplicate (0)
//! validations, deliveries pending and failed, and each process's memory
//! (RSS) at the start and the end. Exits 1 when anything was lost or doubled.
//!
//! Every request carries an `Idempotency-Key`, so the id of each accepted
//! (201/202) request is known and can be looked up afterwards.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bv_e2e::fault::FaultProxy;
use bv_e2e::{AMQP_URL, Receiver, TestPrefix, count_rows, seed_request};
use clap::Parser;
use serde_json::json;
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "Soak the service with faults; see the module docs")]
struct Args {
    /// How long the load runs, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Seconds between faults (broker and database in turn).
    #[arg(long, default_value_t = 150)]
    fault_every: u64,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

const CLIENT: &str = "soak_client";

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn sibling(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name(name)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prefix = TestPrefix::new();
    let (db, conn) = bv_e2e::db::seeded(CLIENT, "soak", Default::default()).await?;

    let broker = FaultProxy::start("127.0.0.1:5672".parse()?).await;
    let database = FaultProxy::start("127.0.0.1:5432".parse()?).await;
    let receiver = Receiver::start().await;
    let port = bv_e2e::reserve_port();
    let mut settings = bv_e2e::overrides(&database.url(&db.url), &prefix.prefix);
    settings.retain(|(k, _)| *k != "database.max_connections");
    settings.extend([
        ("amqp.url", broker.url(AMQP_URL)),
        ("http.addr", format!("127.0.0.1:{port}")),
        ("telemetry.log_level", "error".to_owned()),
        ("worker.dispatch", "true".to_owned()),
        ("webhooks.allowed_cidrs", "127.0.0.0/8".to_owned()),
        ("database.statement_timeout", "5s".to_owned()),
    ]);
    let spawn = |binary: &str| {
        let mut cmd = tokio::process::Command::new(sibling(binary));
        for (key, value) in &settings {
            cmd.env(bv_runtime::settings::env_var(key), value);
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    };
    let worker = spawn("e2e-bv-worker")?;
    let ingress = spawn("e2e-bv-ingress")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let token = bv_e2e::token(CLIENT, 86_400);
    let ready = bv_e2e::eventually(Duration::from_secs(30), || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    anyhow::ensure!(ready, "the services did not become ready");

    let next = Arc::new(AtomicU64::new(0));
    let send = {
        let (http, base, token, next) = (http.clone(), base.clone(), token.clone(), next.clone());
        let hook = receiver.url("/hook");
        move || {
            let (http, base, token, hook) =
                (http.clone(), base.clone(), token.clone(), hook.clone());
            let i = next.fetch_add(1, Ordering::Relaxed);
            async move {
                let key = format!("soak-{i}");
                let mut body = seed_request();
                body["identifier"] = json!(format!("user-{i}"));
                body["webhookUrl"] = json!(hook);
                body["sendViaEmail"] = json!(false);
                let status = http
                    .post(format!("{base}/v2/biometric-validations"))
                    .bearer_auth(&token)
                    .header("idempotency-key", &key)
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (key, status)
            }
        }
    };

    // Capacity: 10 s as fast as the clients go.
    let probe = Instant::now();
    let mut probed = 0u64;
    while probe.elapsed() < Duration::from_secs(10) {
        let batch: Vec<_> = (0..args.concurrency).map(|_| send()).collect();
        probed += futures::future::join_all(batch).await.len() as u64;
    }
    let capacity = probed as f64 / probe.elapsed().as_secs_f64();
    let rate = capacity / 2.0;
    println!(
        "capacity {capacity:.0} req/s; soaking at {rate:.0} req/s for {} s",
        args.seconds
    );
    let rss_start = (
        rss_kib(ingress.id().unwrap_or(0)),
        rss_kib(worker.id().unwrap_or(0)),
    );

    let answers: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    let per_client = Duration::from_secs_f64(args.concurrency as f64 / rate.max(1.0));
    for _ in 0..args.concurrency {
        let (send, answers, accepted, stop) = (
            send.clone(),
            answers.clone(),
            accepted.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(per_client);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let (key, status) = send().await;
                *answers.lock().await.entry(status).or_default() += 1;
                if status == 201 || status == 202 {
                    accepted.lock().await.push(key);
                }
            }
        }));
    }
    let started = Instant::now();
    let mut faults = 0;
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs(args.fault_every.min(args.seconds))).await;
        if started.elapsed() >= Duration::from_secs(args.seconds) {
            break;
        }
        faults += 1;
        // The memory trend, before each fault: flat, or growing per fault?
        println!(
            "{:>5.0} s: RSS ingress {} KiB, worker {} KiB",
            started.elapsed().as_secs_f64(),
            rss_kib(ingress.id().unwrap_or(0)),
            rss_kib(worker.id().unwrap_or(0))
        );
        if faults % 2 == 1 {
            println!(
                "{:>5.0} s: broker connections cut",
                started.elapsed().as_secs_f64()
            );
            broker.cut();
        } else {
            println!(
                "{:>5.0} s: database black-holed for 10 s",
                started.elapsed().as_secs_f64()
            );
            database.black_hole();
            tokio::time::sleep(Duration::from_secs(10)).await;
            database.heal();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let rss_end = (
        rss_kib(ingress.id().unwrap_or(0)),
        rss_kib(worker.id().unwrap_or(0)),
    );

    // Let the queue drain, then look every accepted request up.
    let accepted = accepted.lock().await.clone();
    let expected = accepted.len() as u64;
    bv_e2e::eventually(Duration::from_secs(120), || async {
        count_rows(&conn, "biometric_validations").await >= expected
    })
    .await;
    let rows = count_rows(&conn, "biometric_validations").await;
    let mut lost = 0;
    for key in &accepted {
        let id = bv_contract::idempotency::validation_id(CLIENT, key);
        if bv_store::validations::get(&conn, CLIENT, id)
            .await?
            .is_none()
        {
            lost += 1;
        }
    }
    let deliveries = count_rows(&conn, "deliveries").await;
    let duplicates = deliveries.saturating_sub(rows);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let by_status = |status: &str| {
        let conn = &conn;
        let status = status.to_owned();
        async move {
            use sea_orm::ConnectionTrait;
            conn.query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM deliveries WHERE status = '{status}'"),
            ))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0)
        }
    };
    let (pending, failed) = (by_status("pending").await, by_status("failed").await);

    let answers = answers.lock().await.clone();
    let requests: u64 = answers.values().sum();
    println!("\nsoak: {} s, {faults} faults", args.seconds);
    println!("requests      {requests}");
    println!("answers       {answers:?}");
    println!("accepted      {expected}");
    println!("rows          {rows}");
    println!("lost          {lost}");
    println!("duplicates    {duplicates}");
    println!("deliveries    {deliveries} (pending {pending}, failed {failed})");
    println!("RSS ingress   {} KiB → {} KiB", rss_start.0, rss_end.0);
    println!("RSS worker    {} KiB → {} KiB", rss_start.1, rss_end.1);
    drop((worker, ingress));
    if lost > 0 || duplicates > 0 {
        anyhow::bail!("{lost} lost, {duplicates} duplicated");
    }
    Ok(())
}

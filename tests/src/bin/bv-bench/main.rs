//! `make bench`: throughput of the worker against a bare consumer, and
//! latency of the synchronous HTTP path.
//!
//! 1. Publishes N create commands (window of 1000 outstanding confirms) to a
//!    fresh quorum queue and drains it with a plain lapin consumer (prefetch
//!    500, `multiple` acks every 100): the bare consume rate.
//! 2. Publishes N again to another fresh queue of the same type and lets
//!    bv-worker persist them into a fresh PostgreSQL database: the worker rate,
//!    and its ratio to the bare rate.
//! 3. The HTTP create path: bv-ingress and bv-worker (creates only), each a
//!    process of its own, against the bare chain (`e2e-bare`: axum and
//!    a confirmed publish; a consumer inserting the batch and replying by
//!    direct reply-to) in two processes: M synchronous `POST`s at a fixed
//!    concurrency from this process (saturation), then open loops at
//!    `--http-rate` and at half the bare chain's saturation; peak RSS of
//!    every process.
//! 4. Creates V validations, then lets bv-worker decide one validate command
//!    each with the sandbox engine (a 640×480 JPEG): validate commands/s,
//!    against the bare rate of decoding that JPEG on one thread.
//! 5. The face engine ([`face`]): accuracy on the test photos, latency per
//!    capture, and F validate commands decided by a bv-worker process in the
//!    biometric role against the engine alone on every core; that process's
//!    peak memory.
//!
//! Everything it creates (database, queues, exchanges) is dropped at the end.

use std::time::{Duration, Instant};

use bv_contract::amqp::{CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY, Names};
use bv_e2e::{AMQP_URL, TestDb, TestPrefix, count_rows, seed_request};
use bv_runtime::Shutdown;
use bv_runtime::settings::{DEFAULTS, load_from};
use clap::Parser;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;

mod bare;
mod dispatch;
mod face;
mod http;
mod liveness;
mod process;

#[derive(Parser)]
#[command(about = "Benchmark bv-worker against a bare consumer, and the HTTP create path")]
struct Args {
    /// Commands published for each of the two queue benchmarks.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Synchronous POST requests for the HTTP benchmark.
    #[arg(long, default_value_t = 20_000)]
    http_requests: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Validate commands (sandbox engine) for the validate benchmark.
    #[arg(long, default_value_t = 2_000)]
    validations: usize,
    /// Webhook deliveries for the dispatcher's benchmark.
    #[arg(long, default_value_t = 20_000)]
    deliveries: usize,
    /// Arrival rate of the open-loop HTTP benchmark, requests/s.
    #[arg(long, default_value_t = 2_000.0)]
    http_rate: f64,
    /// Length of the open-loop HTTP benchmark, seconds.
    #[arg(long, default_value_t = 10.0)]
    http_seconds: f64,
    /// Validate commands for the face engine's benchmark.
    #[arg(long, default_value_t = 300)]
    face_validations: usize,
    /// Alternating rounds (bare, then bv-worker) of the persisting benchmark;
    /// the table shows the median ratio.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Only these sections (comma-separated: queues, persist, http,
    /// dispatch, validate, face, liveness); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

impl Args {
    fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

const CLIENT: &str = "bench_client";

fn body(i: usize) -> Vec<u8> {
    let mut body = seed_request().as_object().cloned().unwrap_or_default();
    body.insert("client".into(), json!(CLIENT));
    body.insert("identifier".into(), json!(format!("user-{i}")));
    body.remove("webhookUrl");
    body.insert("sendViaEmail".into(), json!(false));
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Publishes `n` create commands with at most 1000 unconfirmed; returns msg/s.
async fn publish(names: &Names, n: usize) -> anyhow::Result<f64> {
    publish_each(names, n, |i| Command {
        id: uuid::Uuid::now_v7(),
        routing_key: CREATE_ROUTING_KEY,
        message_type: CREATE_MESSAGE_TYPE,
        body: body(i),
    })
    .await
}

/// One command to publish.
struct Command {
    id: uuid::Uuid,
    routing_key: &'static str,
    message_type: &'static str,
    body: Vec<u8>,
}

/// The service's exchanges and queues under `names`, as the bench's
/// publishers and bare consumers find them.
async fn declare(ch: &lapin::Channel, names: &Names) -> anyhow::Result<()> {
    let limits = bv_runtime::amqp::QueueLimits::with_delivery_limit(20);
    Ok(bv_runtime::amqp::declare_topology(ch, names, &limits).await?)
}

/// Publishes the `n` commands `make` gives, at most 1000 unconfirmed; msg/s.
async fn publish_each(
    names: &Names,
    n: usize,
    make: impl Fn(usize) -> Command,
) -> anyhow::Result<f64> {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    declare(&ch, names).await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..n {
        let command = make(i);
        let props = BasicProperties::default()
            .with_message_id(command.id.to_string().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_type(command.message_type.into());
        let confirm = ch
            .basic_publish(
                names.commands_exchange.as_str().into(),
                command.routing_key.into(),
                BasicPublishOptions::default(),
                &command.body,
                props,
            )
            .await?;
        pending.push_back(confirm);
        if pending.len() >= 1000
            && let Some(c) = pending.pop_front()
        {
            anyhow::ensure!(c.await?.is_ack(), "publish not confirmed");
        }
    }
    for c in pending {
        anyhow::ensure!(c.await?.is_ack(), "publish not confirmed");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    conn.close(200, "bye".into()).await?;
    Ok(rate)
}

/// Drains `n` messages with a plain consumer; returns msg/s.
async fn bare_consume(names: &Names, n: usize) -> anyhow::Result<f64> {
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.basic_qos(500, BasicQosOptions::default()).await?;
    let started = Instant::now();
    let mut consumer = ch
        .basic_consume(
            names.create_queue.as_str().into(),
            "bench-bare".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut received = 0;
    while received < n {
        let Some(delivery) = consumer.next().await else {
            break;
        };
        let delivery = delivery?;
        received += 1;
        if received % 100 == 0 || received == n {
            ch.basic_ack(delivery.delivery_tag, BasicAckOptions { multiple: true })
                .await?;
        }
    }
    let rate = received as f64 / started.elapsed().as_secs_f64();
    conn.close(200, "bye".into()).await?;
    Ok(rate)
}

fn settings_for(db: &TestDb, prefix: &TestPrefix) -> Vec<(&'static str, String)> {
    let mut o = bv_e2e::overrides(&db.url, &prefix.prefix);
    // The worker's own defaults, not the test harness's small pool.
    o.retain(|(k, _)| *k != "database.max_connections");
    o.push(("telemetry.log_level", "error".into()));
    o
}

async fn seed(db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> {
    use bv_migration::MigratorTrait;
    bv_migration::Migrator::up(db, None).await?;
    let request = seed_request();
    let project = request["project"].as_str().unwrap_or_default().to_owned();
    let flow = request["projectFlow"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    bv_store::projects::create(
        db,
        bv_store::projects::NewProject {
            id: Some(project.clone()),
            client: CLIENT.into(),
            name: "bench".into(),
            webhook_url: None,
            engine: Some(bv_contract::EngineKind::Sandbox),
            keep_images_days: None,
            embed_origins: Vec::new(),
        },
    )
    .await?;
    bv_store::flows::create(
        db,
        bv_store::flows::NewFlow {
            id: Some(flow),
            project,
            kind: bv_contract::FlowType::Login,
            status: bv_contract::FlowStatus::Active,
            name: None,
            settings: Default::default(),
        },
    )
    .await?;
    Ok(())
}

/// Runs bv-worker until `table` holds `n` rows; returns rows/s.
async fn worker_until(
    db_conn: &sea_orm::DatabaseConnection,
    overrides: &[(&'static str, String)],
    table: &str,
    n: usize,
) -> anyhow::Result<f64> {
    let settings: bv_worker::Settings = load_from(DEFAULTS, None, Some(overrides))?;
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let worker = tokio::spawn(bv_worker::run(settings, shutdown.clone()));
    loop {
        let stored = count_rows(db_conn, table).await as usize;
        if stored >= n {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "worker stalled at {stored}/{n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    shutdown.trigger();
    worker.await??;
    Ok(rate)
}

/// The validate path with the sandbox engine: `n` validations are created,
/// then one validate command each (Verifik's single 640×480 JPEG, passive
/// liveness) is decided by bv-worker. Returns (the bare decode rate of that
/// JPEG on one thread, validate commands/s).
async fn validate_bench(
    db_conn: &sea_orm::DatabaseConnection,
    db: &TestDb,
    n: usize,
) -> anyhow::Result<(f64, f64)> {
    use base64::Engine as _;
    let image = {
        let pixels = image::RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let mut bytes = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85),
            pixels.as_raw(),
            640,
            480,
            image::ExtendedColorType::Rgb8,
        )?;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    // Bare: the decode every validate command does, alone.
    let limits = bv_engine::image::ImageLimits::default();
    let started = Instant::now();
    let rounds = 200;
    for _ in 0..rounds {
        bv_engine::image::decode_base64(&image, &limits)?;
    }
    let bare = f64::from(rounds) / started.elapsed().as_secs_f64();

    let flow = seed_request()["projectFlow"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let passive = Some(bv_contract::LivenessMode::Passive);
    bv_store::flows::set_settings(db_conn, &flow, passive, None, None).await?;
    let prefix = TestPrefix::new();
    let queued = queue_validate_commands(db_conn, db, &prefix, &image, n).await?;
    let rate = worker_until(
        db_conn,
        &queued.overrides,
        "validation_attempts",
        queued.attempts_before + n,
    )
    .await?;
    Ok((bare, rate))
}

/// `n` validate commands waiting in `prefix`'s queue, and the settings to
/// decide them with.
struct Queued {
    overrides: Vec<(&'static str, String)>,
    /// Rows in `validation_attempts` before any of them is decided.
    attempts_before: usize,
}

/// Creates `n` validations (the seed's request; an in-process worker that
/// leaves the biometric queue alone persists them), then queues one
/// single-image validate command (`image`, base64) for each.
async fn queue_validate_commands(
    db_conn: &sea_orm::DatabaseConnection,
    db: &TestDb,
    prefix: &TestPrefix,
    image: &str,
    n: usize,
) -> anyhow::Result<Queued> {
    let mut overrides = settings_for(db, prefix);
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    let created = count_rows(db_conn, "biometric_validations").await as usize;
    publish_each(&prefix.names(), n, |i| Command {
        id: ids[i],
        routing_key: CREATE_ROUTING_KEY,
        message_type: CREATE_MESSAGE_TYPE,
        body: body(i),
    })
    .await?;
    overrides.push(("worker.biometrics", "false".into()));
    worker_until(db_conn, &overrides, "biometric_validations", created + n).await?;
    overrides.retain(|(k, _)| *k != "worker.biometrics");
    let attempts_before = count_rows(db_conn, "validation_attempts").await as usize;
    publish_each(&prefix.names(), n, |i| Command {
        id: uuid::Uuid::now_v7(),
        routing_key: bv_contract::amqp::VALIDATE_ROUTING_KEY,
        message_type: bv_contract::amqp::VALIDATE_MESSAGE_TYPE,
        body: serde_json::to_vec(&json!({
            "validation": ids[i], "os": "web", "frames": [{"image": image}]
        }))
        .unwrap_or_default(),
    })
    .await?;
    Ok(Queued {
        overrides,
        attempts_before,
    })
}

/// Which create chain an HTTP run measures.
#[derive(Clone, Copy)]
enum Chain {
    /// bv-ingress and bv-worker (the create role).
    Bv,
    /// `e2e-bare`: the same I/O, nothing else.
    Bare,
}

/// One create chain under load.
struct HttpRun {
    closed: http::ClosedLoop,
    /// At each of the rates asked for, in order.
    open: Vec<http::OpenLoop>,
    /// Peak RSS of its HTTP process and of its consumer, MiB.
    rss_http: f64,
    rss_consumer: f64,
}

/// Runs `chain` in two processes of its own (the HTTP side and the
/// consumer) on a fresh database and AMQP prefix; from this process, a
/// closed loop at `--concurrency`, then open loops at the rates `rates`
/// gives for the closed loop's rate (each `--http-seconds` long).
async fn http_chain(
    args: &Args,
    chain: Chain,
    rates: impl Fn(f64) -> Vec<f64>,
) -> anyhow::Result<HttpRun> {
    let db = TestDb::create().await?;
    let db_conn = bv_store::connect(&db.url, &bv_store::PoolOptions::new(2)).await?;
    seed(&db_conn).await?;
    let prefix = TestPrefix::new();
    let names = prefix.names();
    let port = bv_e2e::reserve_port();
    let mut settings = settings_for(&db, &prefix);
    settings.push(("http.addr", format!("127.0.0.1:{port}")));
    let (mut front, mut consumer) = match chain {
        Chain::Bv => {
            settings.push(("worker.biometrics", "false".into()));
            settings.push(("worker.dispatch", "false".into()));
            let consumer = process::ServiceProcess::spawn("e2e-bv-worker", &[], &settings)?;
            let front = process::ServiceProcess::spawn("e2e-bv-ingress", &[], &settings)?;
            (front, consumer)
        }
        Chain::Bare => {
            let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
            let ch = conn.create_channel().await?;
            declare(&ch, &names).await?;
            conn.close(200, "declared".into()).await?;
            let consumer = process::ServiceProcess::spawn(
                "e2e-bare",
                &[
                    "consume".into(),
                    "--queue".into(),
                    names.create_queue.to_string(),
                    "--database-url".into(),
                    db.url.clone(),
                ],
                &[],
            )?;
            let front = process::ServiceProcess::spawn(
                "e2e-bare",
                &[
                    "http".into(),
                    "--addr".into(),
                    format!("127.0.0.1:{port}"),
                    "--exchange".into(),
                    names.commands_exchange.to_string(),
                ],
                &[],
            )?;
            (front, consumer)
        }
    };
    let url = format!("http://127.0.0.1:{port}/v2/biometric-validations");
    let token = bv_e2e::token(CLIENT, 3600);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut request = seed_request();
    request.as_object_mut().map(|m| m.remove("webhookUrl"));
    request["sendViaEmail"] = json!(false);
    // Ready when a create is answered 201 (both processes up and joined).
    let started = Instant::now();
    loop {
        front.check_running()?;
        consumer.check_running()?;
        let answered = http
            .post(&url)
            .bearer_auth(&token)
            .json(&request)
            .send()
            .await
            .is_ok_and(|r| r.status() == 201);
        if answered {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the create chain did not answer 201 within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let closed = http::closed_loop(
        &http,
        &url,
        &token,
        &request,
        args.http_requests,
        args.concurrency,
    )
    .await?;
    let mut open = Vec::new();
    for rate in rates(closed.rps) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        open.push(http::open_loop(&http, &url, &token, &request, rate, args.http_seconds).await?);
    }
    front.check_running()?;
    consumer.check_running()?;
    let (rss_http, rss_consumer) = (front.peak_rss_mib(), consumer.peak_rss_mib());
    front.stop().await;
    consumer.stop().await;
    let _ = db_conn.close().await;
    Ok(HttpRun {
        closed,
        open,
        rss_http,
        rss_consumer,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "bv-bench: {} commands per queue run, {} HTTP requests at concurrency {}, {} cores",
        args.messages, args.http_requests, args.concurrency, cores
    );

    let db = TestDb::create().await?;
    let db_conn = bv_store::connect(&db.url, &bv_store::PoolOptions::new(2)).await?;
    seed(&db_conn).await?;
    let mut table = Vec::new();
    queues_and_http(&args, &db, &db_conn, &mut table).await?;
    if args.runs("face") {
        face_bench(&db, &db_conn, args.face_validations, cores, &mut table).await?;
    }
    print_table(&table);
    if args.runs("liveness") {
        liveness_bench()?;
    }
    let _ = db_conn.close().await;
    drop(db);
    Ok(())
}

/// Every section's rows, one table.
fn print_table(table: &[Row]) {
    println!();
    println!("| path | bv | bare baseline | bare | ratio | goal |");
    println!("|---|---:|---|---:|---:|---|");
    for row in table {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.path, row.bv, row.baseline, row.bare, row.ratio, row.goal
        );
    }
    println!();
}

/// Sections 1–4: the queues, the HTTP create path, the dispatcher, the
/// sandbox validate path; each against its bare baseline, then the table.
async fn queues_and_http(
    args: &Args,
    db: &TestDb,
    db_conn: &sea_orm::DatabaseConnection,
    table: &mut Vec<Row>,
) -> anyhow::Result<()> {
    // 1. The broker alone.
    let mut bare = f64::NAN;
    if args.runs("queues") {
        let bare_prefix = TestPrefix::new();
        let published = publish(&bare_prefix.names(), args.messages).await?;
        println!("publish (window 1000 confirms):  {published:>9.0} msg/s");
        bare = bare_consume(&bare_prefix.names(), args.messages).await?;
        println!("bare consume + ack (quorum):     {bare:>9.0} msg/s");
        drop(bare_prefix);
    }
    let _ = bare;

    // 2. Persisting creates: the bare consumer doing the worker's I/O into a
    // database of its own, then bv-worker (a process, creates only), in
    // alternating rounds: on a shared machine the load of others moves a
    // single pair's ratio by a third; the median of the rounds' ratios moves
    // much less.
    let mut persist_rss = f64::NAN;
    if args.runs("persist") {
        let mut rounds = Vec::new();
        for round in 1..=args.rounds.max(1) {
            let bare = bare_persist_round(args).await?;
            let bv = worker_persist_round(args).await?;
            println!(
                "round {round}: bare consume + INSERT + ack {:>7.0} msg/s (CPU {:.1} µs/msg), bv-worker {:>7.0} msg/s (CPU {:.1} µs/msg, peak RSS {:.0} MiB): {:.2}",
                bare.rate,
                bare.cpu_us,
                bv.rate,
                bv.cpu_us,
                bv.peak_rss_mib,
                bv.rate / bare.rate
            );
            rounds.push((bare, bv));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let ratio = median(rounds.iter().map(|(b, w)| w.rate / b.rate).collect());
        // The round whose ratio is the median, for the table's rates.
        let (bare, bv) = rounds
            .iter()
            .min_by(|(b1, w1), (b2, w2)| {
                (w1.rate / b1.rate - ratio)
                    .abs()
                    .total_cmp(&(w2.rate / b2.rate - ratio).abs())
            })
            .copied()
            .unwrap_or_default();
        let cpu_bv = median(rounds.iter().map(|(_, w)| w.cpu_us).collect());
        let cpu_bare = median(rounds.iter().map(|(b, _)| b.cpu_us).collect());
        persist_rss = rounds
            .iter()
            .map(|(_, w)| w.peak_rss_mib)
            .fold(0.0, f64::max);
        println!(
            "worker / bare I/O:               {ratio:>9.2} (median of {} rounds)",
            rounds.len()
        );
        table.push(Row::new(
            "bv-worker persisting creates (msg/s)",
            bv.rate,
            "consume + multi-row INSERT + ack, same channels and batches",
            bare.rate,
            ">= 0.90",
        ));
        table.push(Row::new(
            "CPU per create in the consuming process (µs, median)",
            cpu_bv,
            "the bare consumer's process",
            cpu_bare,
            "",
        ));
    }

    // 3. The HTTP create path against the bare chain doing the same I/O,
    // each in processes of their own: saturation, then open loops at the
    // goal's rate and at half the bare chain's saturation (where a machine
    // slower than the goal's still shows latency, not its queue).
    if args.runs("http") {
        let half = |rps: f64| (rps / 2.0).round().max(1.0);
        let bare = http_chain(args, Chain::Bare, |own| vec![args.http_rate, half(own)]).await?;
        let bare_half = half(bare.closed.rps);
        let bv = http_chain(args, Chain::Bv, |_| vec![args.http_rate, bare_half]).await?;
        for (name, run) in [("bare chain", &bare), ("bv", &bv)] {
            println!(
                "POST {name:>10} (closed loop, concurrency {}): {:>6.0} req/s   p50 {:.1} ms   p99 {:.1} ms   ({} non-201)   peak RSS http {:.0} MiB, consumer {:.0} MiB",
                args.concurrency,
                run.closed.rps,
                ms(run.closed.p50),
                ms(run.closed.p99),
                run.closed.failures,
                run.rss_http,
                run.rss_consumer,
            );
            for o in &run.open {
                println!(
                    "POST {name:>10} (open loop, {:.0}/s for {:.0} s): achieved {:.0}/s   p50 {:.1} ms   p99 {:.1} ms   p99.9 {:.1} ms   max {:.1} ms   ({} non-201)",
                    o.rate,
                    args.http_seconds,
                    o.achieved,
                    ms(o.p50),
                    ms(o.p99),
                    ms(o.p999),
                    ms(o.max),
                    o.failures
                );
            }
        }
        table.push(Row::new(
            "POST saturation, closed loop (req/s)",
            bv.closed.rps,
            "bare chain: axum + confirmed publish; consume + INSERT + direct reply-to",
            bare.closed.rps,
            ">= 0.70",
        ));
        for (o, b) in bv.open.iter().zip(&bare.open) {
            table.push(Row::text(
                &format!("POST p99, open loop at {:.0}/s (ms)", o.rate),
                format!("{:.1} ({} non-201)", ms(o.p99), o.failures),
                &format!("bare chain: {:.1} ({} non-201)", ms(b.p99), b.failures),
                "<= 25 ms",
            ));
        }
        table.push(Row::text(
            "peak RSS, bv-ingress / bv-worker creates (MiB)",
            format!("{:.0} / {:.0}", bv.rss_http, bv.rss_consumer),
            &format!(
                "bare chain: {:.0} / {:.0}",
                bare.rss_http, bare.rss_consumer
            ),
            "<= 64 MiB each",
        ));
    }

    // 4. The dispatcher.
    if args.runs("dispatch") {
        let d = dispatch::run(db_conn, db, args.deliveries).await?;
        println!(
            "receiver alone (plain client, concurrency {}): {:>6.0} req/s",
            d.concurrency, d.sink
        );
        println!(
            "bare dispatcher (claim, send, record; concurrency {}): {:>6.0} deliveries/s   peak RSS {:.0} MiB",
            d.concurrency, d.bare, d.bare_rss_mib
        );
        println!(
            "bv-worker dispatch (webhooks, 204; per host {}):   {:>6.0} deliveries/s ({} received)   peak RSS {:.0} MiB",
            d.concurrency, d.rate, d.received, d.peak_rss_mib
        );
        println!(
            "bv-worker dispatch (webhooks, 204; per host {}, the default): {:>6.0} deliveries/s",
            d.default_per_host, d.default_rate
        );
        table.push(Row::new(
            &format!(
                "dispatcher to one receiver, per-host limit set for it ({}) (/s)",
                d.concurrency
            ),
            d.rate,
            "bare dispatcher: claim with a lease, POST, record attempts; same concurrency",
            d.bare,
            ">= 0.80 and >= 5000/s",
        ));
        table.push(Row::new(
            &format!(
                "dispatcher to one receiver, default per-host limit ({}) (/s)",
                d.default_per_host
            ),
            d.default_rate,
            "the same bare dispatcher",
            d.bare,
            "",
        ));
        table.push(Row::text(
            "peak RSS, bv-worker persisting / dispatching (MiB)",
            format!(
                "{} / {:.0}",
                if persist_rss.is_nan() {
                    "-".to_owned()
                } else {
                    format!("{persist_rss:.0}")
                },
                d.peak_rss_mib
            ),
            "",
            "<= 64 MiB each",
        ));
    }

    // 5. The sandbox validate path.
    if args.runs("validate") {
        let (decode, validate) = validate_bench(db_conn, db, args.validations).await?;
        println!("bare JPEG decode 640x480 (1 thread): {decode:>5.0} /s");
        println!(
            "bv-worker validate (sandbox, {} consumers): {validate:>5.0} /s",
            2
        );
        println!(
            "validate / bare decode:          {:>9.2}",
            validate / decode
        );
        table.push(Row::new(
            "validate, sandbox engine (/s)",
            validate,
            "JPEG decode alone, 1 thread",
            decode,
            "",
        ));
    }

    Ok(())
}

/// One persisting run's figures.
#[derive(Clone, Copy, Default)]
struct PersistRun {
    rate: f64,
    /// CPU (user + system) of the consuming process per message.
    cpu_us: f64,
    peak_rss_mib: f64,
}

/// The bare consumer doing the worker's I/O into a database of its own.
async fn bare_persist_round(args: &Args) -> anyhow::Result<PersistRun> {
    let bare_db = TestDb::create().await?;
    let bare_conn = bv_store::connect(&bare_db.url, &bv_store::PoolOptions::new(12)).await?;
    seed(&bare_conn).await?;
    let prefix = TestPrefix::new();
    publish(&prefix.names(), args.messages).await?;
    let worker_settings: bv_worker::Settings =
        load_from(DEFAULTS, None, Some(&settings_for(&bare_db, &prefix)))?;
    let shape = bare::Shape {
        channels: usize::from(worker_settings.worker.concurrency),
        batch: usize::from(worker_settings.worker.batch_size),
        prefetch: worker_settings.worker.prefetch,
    };
    let cpu_before = process::cpu_seconds(std::process::id());
    let rate = bare::persist(&prefix.names(), &bare_conn, args.messages, shape).await?;
    let cpu_us =
        (process::cpu_seconds(std::process::id()) - cpu_before) * 1e6 / args.messages as f64;
    let _ = bare_conn.close().await;
    Ok(PersistRun {
        rate,
        cpu_us,
        peak_rss_mib: f64::NAN,
    })
}

/// bv-worker (a process of its own, creates only) persisting into a fresh
/// database, like the bare consumer's.
async fn worker_persist_round(args: &Args) -> anyhow::Result<PersistRun> {
    let db = TestDb::create().await?;
    let db_conn = &bv_store::connect(&db.url, &bv_store::PoolOptions::new(2)).await?;
    seed(db_conn).await?;
    let prefix = TestPrefix::new();
    let overrides = settings_for(&db, &prefix);
    publish(&prefix.names(), args.messages).await?;
    let mut worker = process::ServiceProcess::start(
        &overrides,
        &[("worker.biometrics", "false"), ("worker.dispatch", "false")],
    )?;
    // Progress from the broker (the queue's ready count) while it has
    // messages, from the table only at the end: a COUNT(*) over the
    // growing table every 50 ms would take the database's time from the
    // worker it measures.
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    let queue = prefix.names().create_queue;
    let n = args.messages;
    let rate = worker
        .rate_until(n, || async {
            let ready = ch
                .queue_declare(
                    queue.as_str().into(),
                    lapin::options::QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map(|q| q.message_count() as usize)
                .unwrap_or(n);
            if ready > 0 {
                // Consumed but maybe not committed yet: never counts as done.
                (n - ready.min(n)).min(n - 1)
            } else {
                count_rows(db_conn, "biometric_validations").await as usize
            }
        })
        .await?;
    let _ = conn.close(200, "bye".into()).await;
    let peak_rss_mib = worker.peak_rss_mib();
    let _ = db_conn.close_by_ref().await;
    // Its start (settings, pools, consumers) is in it too: a few ms.
    let cpu_us = worker.cpu_seconds() * 1e6 / n as f64;
    worker.stop().await;
    Ok(PersistRun {
        rate,
        cpu_us,
        peak_rss_mib,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One line of the summary table.
struct Row {
    path: String,
    bv: String,
    baseline: String,
    bare: String,
    ratio: String,
    goal: String,
}

impl Row {
    fn new(path: &str, bv: f64, baseline: &str, bare: f64, goal: &str) -> Row {
        Row {
            path: path.into(),
            bv: format!("{bv:.0}"),
            baseline: baseline.into(),
            bare: format!("{bare:.0}"),
            ratio: format!("{:.2}", bv / bare),
            goal: goal.into(),
        }
    }

    fn text(path: &str, bv: String, baseline: &str, goal: &str) -> Row {
        Row {
            path: path.into(),
            bv,
            baseline: baseline.into(),
            bare: String::new(),
            ratio: String::new(),
            goal: goal.into(),
        }
    }
}

/// Section 6: active liveness on the liveness sets, and its cost.
fn liveness_bench() -> anyhow::Result<()> {
    let run = tokio::task::block_in_place(liveness::run)?;
    println!(
        "\nactive liveness on the liveness sets (made in {:.0} s):",
        run.generation.as_secs_f64()
    );
    for (delivery, report) in &run.reports {
        println!("\nframes {delivery}:");
        print!("{report}");
        for error in &report.errors {
            println!(
                "  wrong: {} {} (score {:?}): {}",
                error.class, error.source, error.score, error.why
            );
        }
    }
    let p50 = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    let (with, without) = (p50(&run.with_bursts), p50(&run.without));
    println!(
        "3-step challenge, one core: with bursts p50 {:.0} ms, the 3 captures alone p50 {:.0} ms, ratio {:.2}",
        with.as_secs_f64() * 1e3,
        without.as_secs_f64() * 1e3,
        with.as_secs_f64() / without.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// Section 5: the face engine.
async fn face_bench(
    db: &TestDb,
    db_conn: &sea_orm::DatabaseConnection,
    n: usize,
    cores: usize,
    table: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let (engine, accuracy) = tokio::task::block_in_place(face::accuracy)?;
    face::print_accuracy(&accuracy);
    let frame = face::camera_frame();
    let bare = tokio::task::block_in_place(|| face::bare_engine(&engine, &frame, cores))?;
    drop(engine);
    println!("face engine alone, 640x480 frame ({cores} threads): {bare:>6.1} captures/s");
    let run = face::worker_validate(db_conn, db, &frame, n).await?;
    println!(
        "bv-worker validate (face, {} consumers):   {:>6.1} /s",
        run.consumers, run.rate
    );
    println!(
        "validate / engine alone:                 {:>6.2}",
        run.rate / bare
    );
    println!(
        "bv-worker peak RSS (biometric role, models loaded): {:.0} MiB",
        run.peak_rss_mib
    );
    table.push(Row::new(
        "validate, face engine (/s)",
        run.rate,
        &format!("the engine alone, {cores} threads"),
        bare,
        ">= 0.90",
    ));
    table.push(Row::text(
        "peak RSS, bv-worker biometric role (MiB)",
        format!("{:.0}", run.peak_rss_mib),
        "",
        "models loaded; documented",
    ));
    Ok(())
}

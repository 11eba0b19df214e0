//! Faults of the network between the services and their peers, injected by
//! a proxy the test controls ([`bv_e2e::fault::FaultProxy`]).

use std::time::{Duration, Instant};

use bv_e2e::fault::FaultProxy;
use bv_e2e::{AMQP_URL, Options, TestApp, eventually, seed_request};

fn target(url: &str) -> std::net::SocketAddr {
    let url = url::Url::parse(url).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
        .parse()
        .unwrap()
}

/// A worker run in the test process with the app's settings and `extra` on
/// top (a proxied URL, short timeouts), stopped by [`Worker::stop`].
struct Worker {
    shutdown: bv_runtime::Shutdown,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    fn start(app: &TestApp, extra: &[(&'static str, String)]) -> Self {
        let mut settings = app.overrides.clone();
        settings.extend(extra.iter().cloned());
        let settings: bv_worker::Settings =
            bv_runtime::settings::load_from(bv_runtime::settings::DEFAULTS, None, Some(&settings))
                .unwrap();
        let shutdown = bv_runtime::Shutdown::new();
        let task = tokio::spawn(bv_worker::run(settings, shutdown.clone()));
        Worker { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

/// The database black-holed: the worker's queries time out instead of
/// hanging, the batch goes back to the queue, and once the network heals the
/// command is stored, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_black_holed_database_times_out_and_recovers_without_loss() {
    let db_proxy = FaultProxy::start(target("postgres://127.0.0.1:5432")).await;
    // The proxied URL is known only once the app made its database.
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let metrics_port = bv_e2e::reserve_port();
    let worker = Worker::start(
        &app,
        &[
            ("database.url", db_proxy.url(&app.test_db.url)),
            ("database.statement_timeout", "500ms".into()),
            ("worker.db_retry_max", "2s".into()),
            ("worker.http_addr", format!("127.0.0.1:{metrics_port}")),
        ],
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.consumers().await > 0
        })
        .await
    );

    db_proxy.black_hole();
    let response = app
        .post_with(
            &app.token("c1"),
            &seed_request(),
            &[("prefer", "respond-async")],
        )
        .await;
    assert_eq!(response.status(), 202);
    // Held for longer than a query may take: the worker gives up on it (a
    // database error, counted) instead of waiting for an answer forever.
    let db_errors = || async {
        let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("bv_worker_db_errors_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        // Within a few times the 1 s bound (a pool's own acquire timeout, 10 s,
        // would be too late).
        eventually(Duration::from_secs(5), || async {
            db_errors().await >= 1.0
        })
        .await,
        "the black-holed query timed out"
    );
    assert_eq!(app.count().await, 0);
    db_proxy.heal();
    assert!(
        eventually(Duration::from_secs(30), || async { app.count().await == 1 }).await,
        "stored once the database answers again"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count().await, 1, "exactly once");
    assert_eq!(bv_e2e::count_rows(&app.db, "deliveries").await, 2);
    worker.stop().await;
}

/// The broker black-holed: the ingress's AMQP heartbeat notices within its
/// interval, `/readyz` fails; once healed, creates succeed again within a
/// few seconds.
#[tokio::test(flavor = "multi_thread")]
async fn a_black_holed_broker_is_noticed_by_heartbeat_and_recovered_promptly() {
    let broker = FaultProxy::start(target("amqp://127.0.0.1:5672")).await;
    let options = Options::default()
        .with("amqp.url", broker.url(AMQP_URL))
        .with("amqp.heartbeat", "1s")
        .with("ingress.reply_timeout", "2s");
    let app = TestApp::spawn_with(options).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    assert_eq!(
        app.post(&app.token("c1"), &seed_request()).await.status(),
        201
    );

    broker.black_hole();
    let started = Instant::now();
    let ready = || async {
        app.http
            .get(format!("{}/readyz", app.base_url))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    };
    assert!(
        eventually(Duration::from_secs(10), || async { !ready().await }).await,
        "readiness fails while the broker does not answer"
    );
    let noticed = started.elapsed();
    assert!(
        noticed < Duration::from_secs(6),
        "noticed after {noticed:?}"
    );
    let during = app.post(&app.token("c1"), &seed_request()).await.status();
    assert!(during == 503 || during == 202, "{during}");

    broker.heal();
    let healed = Instant::now();
    assert!(
        eventually(Duration::from_secs(20), || async {
            app.post(&app.token("c1"), &seed_request()).await.status() == 201
        })
        .await
    );
    let recovered = healed.elapsed();
    // The first reconnect is immediate, later ones at most 3 s apart.
    assert!(
        recovered < Duration::from_secs(3),
        "creates back after {recovered:?}"
    );
    println!(
        "broker black hole noticed after {noticed:?}; creates back {recovered:?} after healing"
    );
}

/// The broker connection cut while the ingress publishes: every request gets
/// 201, 202 or 503, and every 201 or 202 is stored exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn cutting_the_broker_mid_stream_loses_and_doubles_nothing() {
    let broker = FaultProxy::start(target("amqp://127.0.0.1:5672")).await;
    let app = TestApp::spawn_with(Options::default().with("amqp.url", broker.url(AMQP_URL))).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let token = app.token("c1");
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..120 {
        if i % 30 == 15 {
            broker.cut();
        }
        let mut body = seed_request();
        body["identifier"] = serde_json::json!(format!("user-{i}"));
        let key = format!("k-{i}");
        let response = app
            .post_with(&token, &body, &[("idempotency-key", key.as_str())])
            .await;
        match response.status().as_u16() {
            201 | 202 => accepted.push(key),
            503 => refused += 1,
            other => panic!("request {i} got {other}"),
        }
    }
    assert!(!accepted.is_empty());
    // Every accepted request is stored: its id (derived from its key) exists.
    let ids: Vec<String> = accepted
        .iter()
        .map(|key| bv_contract::idempotency::validation_id("c1", key).to_string())
        .collect();
    let stored = |id: String| {
        let app = &app;
        let token = token.clone();
        async move {
            app.get(&token, &format!("/v2/biometric-validations/{id}"))
                .await
                .status()
                == 200
        }
    };
    for id in &ids {
        assert!(
            eventually(Duration::from_secs(30), || stored(id.clone())).await,
            "accepted {id} is stored ({refused} requests were refused with 503)"
        );
    }
    // Nothing doubled: each stored validation has its two notifications.
    let rows = app.count().await;
    assert!(rows >= ids.len() as u64);
    assert_eq!(bv_e2e::count_rows(&app.db, "deliveries").await, 2 * rows);
}

/// The consumer's connection cut in the middle of its batches: what it had
/// not acked is redelivered, and what it had already stored is recognised,
/// not stored or notified twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_cut_mid_batch_redelivers_without_duplicates() {
    const N: usize = 300;
    let broker = FaultProxy::start(target("amqp://127.0.0.1:5672")).await;
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let names = app.prefix.names();
    let conn = bv_e2e::amqp_connect().await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(Default::default()).await.unwrap();
    let mut confirms = Vec::new();
    for i in 0..N {
        let mut body = seed_request().as_object().unwrap().clone();
        body.insert("client".into(), serde_json::json!("c1"));
        body.insert("identifier".into(), serde_json::json!(format!("user-{i}")));
        let id = uuid::Uuid::now_v7().to_string();
        let body = serde_json::to_vec(&body).unwrap();
        confirms.push(
            bv_e2e::publish_create(&ch, &names, Some(&id), &body, false)
                .await
                .unwrap(),
        );
    }
    for c in confirms {
        assert!(c.await.unwrap().is_ack());
    }
    let _ = conn.close(200, "bye".into()).await;

    let worker = Worker::start(
        &app,
        &[
            ("amqp.url", broker.url(AMQP_URL)),
            ("worker.batch_size", "5".into()),
            ("worker.prefetch", "50".into()),
            ("worker.concurrency", "2".into()),
        ],
    );
    assert!(
        eventually(Duration::from_secs(30), || async {
            app.count().await >= 60
        })
        .await
    );
    broker.cut();
    assert!(
        eventually(Duration::from_secs(60), || async {
            app.count().await == N as u64
        })
        .await,
        "all stored after the cut: {}",
        app.count().await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count().await, N as u64);
    assert_eq!(
        bv_e2e::count_rows(&app.db, "deliveries").await,
        2 * N as u64,
        "no notification doubled by the redelivery"
    );
    worker.stop().await;
}

/// The database gone while the dispatcher sends a webhook: the attempt's
/// record is lost with it, the lease runs out, and the delivery is sent
/// again once the database is back — with the same `webhook-id`, so the
/// receiver can tell the repeat; the outbox holds one webhook, succeeded.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_gone_mid_attempt_loses_no_delivery() {
    use bv_e2e::{Behavior, Receiver};
    let db_proxy = FaultProxy::start(target("postgres://127.0.0.1:5432")).await;
    let app = TestApp::spawn_with(Options::dispatching().without_worker()).await;
    app.seed("c1", "project_123456789", "flow_123456789", "login")
        .await;
    let receiver = Receiver::start().await;
    // The first attempt is held while the database goes away.
    receiver.script([Behavior::Hang(Duration::from_millis(1500))]);
    let worker = Worker::start(
        &app,
        &[
            ("database.url", db_proxy.url(&app.test_db.url)),
            ("database.statement_timeout", "500ms".into()),
            ("delivery.timeout", "3s".into()),
            ("delivery.lease", "5s".into()),
        ],
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.consumers().await > 0
        })
        .await
    );

    let mut body = seed_request();
    body["webhookUrl"] = serde_json::json!(receiver.url("/hook"));
    body["sendViaEmail"] = serde_json::json!(false);
    let id = app.create("c1", &body).await;
    assert_eq!(receiver.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    db_proxy.black_hole();
    tokio::time::sleep(Duration::from_secs(3)).await;
    db_proxy.heal();

    let settled = app
        .settled_deliveries("c1", &id, Duration::from_secs(30))
        .await;
    assert_eq!(settled.len(), 1, "one webhook in the outbox");
    assert_eq!(settled[0]["status"], "succeeded");
    let got = receiver.received();
    assert!(got.len() >= 2, "sent again after the lost attempt");
    let first = got[0].header("webhook-id").to_owned();
    assert!(
        got.iter().all(|r| r.header("webhook-id") == first),
        "every copy carries the same webhook-id"
    );
    worker.stop().await;
}

/// The database black-holed under the ingress: a read answers `503` (with
/// `Retry-After`) once its bound passes, instead of holding the request.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_against_a_black_holed_database_answers_503_in_time() {
    let db_proxy = FaultProxy::start(target("postgres://127.0.0.1:5432")).await;
    let app = TestApp::spawn_with(Options::default().without_worker()).await;
    let mut settings = app.overrides.clone();
    settings.push(("database.url", db_proxy.url(&app.test_db.url)));
    settings.push(("database.statement_timeout", "500ms".into()));
    let ingress: bv_ingress::Settings =
        bv_runtime::settings::load_from(bv_runtime::settings::DEFAULTS, None, Some(&settings))
            .unwrap();
    let shutdown = bv_runtime::Shutdown::new();
    let server = bv_ingress::Application::build(ingress, shutdown.clone())
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let task = tokio::spawn(server.run());
    let path = format!("{base}/v2/biometric-validations/{}", uuid::Uuid::now_v7());
    let get = || async {
        app.http
            .get(&path)
            .bearer_auth(app.token("c1"))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(get().await.status(), 404);

    db_proxy.black_hole();
    let started = Instant::now();
    let response = get().await;
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(took < Duration::from_secs(5), "answered after {took:?}");

    db_proxy.heal();
    assert!(
        eventually(Duration::from_secs(15), || async {
            get().await.status() == 404
        })
        .await
    );
    shutdown.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

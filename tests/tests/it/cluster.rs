//! Dispatchers in separate worker processes: crash recovery and sharing.

use std::collections::HashMap;
use std::time::Duration;

use bv_e2e::{Behavior, Receiver, TestApp, count_rows, eventually, seed_request};
use serde_json::json;

use crate::support::spawn_worker;

const CLIENT: &str = "client_123456789";

/// An app without an in-process worker, seeded; its settings (passed to the
/// worker processes) dispatch on the shortened test schedule.
async fn seeded_app() -> TestApp {
    let app = TestApp::spawn_with(bv_e2e::Options::dispatching().without_worker()).await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;
    app
}

/// Publishes `n` commands whose webhooks go to `receiver`.
async fn publish_commands(app: &TestApp, receiver: &Receiver, n: usize) {
    for i in 0..n {
        let mut body = seed_request().as_object().unwrap().clone();
        body.insert("client".into(), json!(CLIENT));
        body.insert("identifier".into(), json!(format!("user-{i}")));
        body.insert(
            "webhookUrl".into(),
            json!(receiver.url(&format!("/hook/{i}"))),
        );
        body.insert("sendViaEmail".into(), json!(false));
        body.remove("email");
        app.publish_raw(
            Some(&uuid::Uuid::now_v7().to_string()),
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
    }
}

/// Successful (2xx) deliveries per webhook-id.
fn successes(receiver: &Receiver) -> HashMap<String, usize> {
    let mut by_id = HashMap::new();
    for r in receiver.received().iter().filter(|r| r.succeeded()) {
        *by_id.entry(r.header("webhook-id").to_owned()).or_insert(0) += 1;
    }
    by_id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_during_a_retry_schedule_delivers_everything_after_restart() {
    const N: usize = 20;
    let receiver = Receiver::start().await;
    receiver.set_default(Behavior::Status(503));
    let app = seeded_app().await;
    publish_commands(&app, &receiver, N).await;

    let mut worker = spawn_worker(&app, &[]);
    // Every delivery has failed at least once: they are mid-schedule.
    assert!(
        eventually(Duration::from_secs(30), || async {
            count_rows(
                &app.db,
                "(SELECT DISTINCT delivery_id FROM delivery_attempts) d",
            )
            .await
                >= N as u64
        })
        .await
    );
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    let pending = count_rows(&app.db, "deliveries WHERE status = 'pending'").await;
    assert_eq!(pending, N as u64, "all still pending after the kill");

    receiver.set_default(Behavior::Status(200));
    let mut worker = spawn_worker(&app, &[]);
    // Leases of attempts cut off by the kill expire (5 s) and are taken over.
    let done = eventually(Duration::from_secs(40), || async {
        successes(&receiver).len() >= N
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    assert!(done, "every pending delivery went out after the restart");
    let by_id = successes(&receiver);
    assert_eq!(by_id.len(), N);
    assert!(
        by_id.values().all(|n| *n == 1),
        "none delivered twice: {by_id:?}"
    );
    assert_eq!(
        count_rows(&app.db, "deliveries WHERE status = 'succeeded'").await,
        N as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_worker_processes_send_each_delivery_once() {
    const N: usize = 60;
    let receiver = Receiver::start().await;
    let app = seeded_app().await;
    let mut a = spawn_worker(&app, &[]);
    let mut b = spawn_worker(&app, &[]);
    // Both consume (8 consumers each) before the commands arrive, so both
    // persist some and both dispatchers have work.
    assert!(
        eventually(Duration::from_secs(20), || async {
            app.consumers().await >= 16
        })
        .await
    );
    publish_commands(&app, &receiver, N).await;

    let done = eventually(Duration::from_secs(30), || async {
        successes(&receiver).len() >= N
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.start_kill().unwrap();
    b.start_kill().unwrap();
    let _ = (a.wait().await, b.wait().await);
    assert!(done);
    assert_eq!(
        receiver.received().len(),
        N,
        "each webhook sent exactly once"
    );
    assert_eq!(count_rows(&app.db, "biometric_validations").await, N as u64);
    let workers = count_rows(&app.db, "(SELECT DISTINCT worker FROM delivery_attempts) w").await;
    assert_eq!(workers, 2, "both dispatchers took part");
}

/// Scaling the two apart (README, "Scaling"): one worker only persists,
/// another only dispatches. The dispatcher has no queue to consume, so it
/// opens no connection to RabbitMQ at all (it once reconnected in a loop,
/// burning a core in itself and in the broker), is ready, and delivers.
#[tokio::test(flavor = "multi_thread")]
async fn a_dispatch_only_worker_delivers_without_touching_rabbitmq() {
    const N: usize = 5;
    let receiver = Receiver::start().await;
    let app = seeded_app().await;
    let broker = bv_e2e::fault::FaultProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let port = bv_e2e::reserve_port();
    let mut dispatcher = spawn_worker(
        &app,
        &[
            ("worker.creates", "false".into()),
            ("worker.biometrics", "false".into()),
            ("worker.dispatch", "true".into()),
            ("amqp.url", broker.url(bv_e2e::AMQP_URL)),
            ("worker.http_addr", format!("127.0.0.1:{port}")),
        ],
    );
    let mut persister = spawn_worker(&app, &[("worker.dispatch", "false".into())]);
    publish_commands(&app, &receiver, N).await;

    let delivered = eventually(Duration::from_secs(30), || async {
        successes(&receiver).len() >= N
    })
    .await;
    assert!(delivered, "delivered: {:?}", successes(&receiver));
    assert!(successes(&receiver).values().all(|n| *n == 1));
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // A while longer: a reconnecting loop would have opened many by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(broker.accepted(), 0, "connections to RabbitMQ");

    for worker in [&mut dispatcher, &mut persister] {
        worker.start_kill().unwrap();
        let _ = worker.wait().await;
    }
}

/// Per-host limits (README, "Webhooks"): a receiver that hangs never has
/// more than `delivery.per_host_concurrency` of the worker's attempts at
/// once, and another receiver's deliveries go out meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_receiver_holds_at_most_its_share_of_the_dispatcher() {
    let slow = Receiver::start().await;
    slow.set_default(Behavior::Hang(Duration::from_secs(30)));
    let fast = Receiver::start().await;
    let app = seeded_app().await;
    publish_commands(&app, &slow, 12).await;
    let mut worker = spawn_worker(
        &app,
        &[
            ("delivery.concurrency", "6".into()),
            ("delivery.per_host_concurrency", "2".into()),
        ],
    );
    // The slow host's deliveries are claimed (and mostly deferred) first.
    assert!(
        eventually(Duration::from_secs(20), || async {
            slow.received().len() >= 2
        })
        .await
    );
    publish_commands(&app, &fast, 5).await;
    let delivered = eventually(Duration::from_secs(30), || async {
        successes(&fast).len() >= 5
    })
    .await;
    assert!(delivered, "fast receiver: {:?}", successes(&fast));
    // Its own deliveries are still tried, two at a time.
    assert!(
        eventually(Duration::from_secs(30), || async {
            slow.received().len() >= 6
        })
        .await,
        "the slow host is still tried"
    );
    assert_eq!(slow.max_in_flight(), 2, "attempts at once on the slow host");
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
}

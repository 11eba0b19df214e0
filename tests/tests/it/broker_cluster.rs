//! A three-node RabbitMQ cluster whose node the services are connected to
//! dies under load: the services, given every node's address, connect to
//! another at once; nothing accepted is lost and nothing is stored twice,
//! and creates are answered 201 again within seconds, and again after the
//! node rejoins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bv_e2e::rabbit_cluster::Cluster;
use bv_e2e::{Options, TestApp, count_rows, eventually, seed_request};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde_json::json;
use tokio::sync::Mutex;

use crate::support::spawn_worker;

const CLIENT: &str = "client_123456789";

/// Consumers on the create queue, asked of node `i`.
async fn consumers(cluster: &Cluster, i: usize, queue: &str) -> u32 {
    let probe = async {
        let conn = lapin::Connection::connect(&cluster.nodes[i].url(), Default::default()).await?;
        let ch = conn.create_channel().await?;
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let _ = ch.close(200, "bye".into()).await;
        let _ = conn.close(200, "bye".into()).await;
        Ok::<_, lapin::Error>(q.consumer_count())
    };
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(n)) => n,
        _ => 0,
    }
}

/// One create answered: when, its key, its status.
#[derive(Clone, Debug)]
struct Answered {
    at: Instant,
    key: String,
    status: u16,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_node_dying_under_load_loses_nothing_and_doubles_nothing() {
    let cluster = Cluster::start(3)
        .await
        .expect("a three-node RabbitMQ cluster");
    let app = TestApp::spawn_with(
        Options::default()
            .without_worker()
            .with("amqp.url", cluster.urls())
            .with("ingress.reply_timeout", "2s"),
    )
    .await;
    app.seed(CLIENT, "project_123456789", "flow_123456789", "login")
        .await;
    let queue = app.prefix.names().create_queue;
    let mut worker = spawn_worker(&app, &[]);
    assert!(
        eventually(Duration::from_secs(30), || async {
            consumers(&cluster, 1, &queue).await > 0
        })
        .await,
        "the worker consumes through the cluster"
    );

    // Creates from 4 clients, each with its own Idempotency-Key.
    let answers: Arc<Mutex<Vec<Answered>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, base, token, answers, stop) = (
            app.http.clone(),
            app.base_url.clone(),
            app.token(CLIENT),
            answers.clone(),
            stop.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let key = format!("cluster-{c}-{i}");
                let mut body = seed_request();
                body["identifier"] = json!(key);
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
                answers.lock().await.push(Answered {
                    at: Instant::now(),
                    key,
                    status,
                });
                if status != 201 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    // The services connected to the first node, which also leads the
    // queues they declared there: it dies.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = Instant::now();
    cluster.nodes[0].kill();
    tokio::time::sleep(Duration::from_secs(8)).await;
    cluster.restart(0).await.expect("the node starts again");
    let rejoined = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let answers = answers.lock().await.clone();
    let accepted: Vec<&Answered> = answers
        .iter()
        .filter(|a| a.status == 201 || a.status == 202)
        .collect();
    // The longest stretch without a 201 answer, from `since` to `until`.
    let longest_without_201 = |since: Instant, until: Instant| {
        let mut times: Vec<Instant> = answers
            .iter()
            .filter(|a| a.status == 201 && a.at > since && a.at <= until)
            .map(|a| a.at)
            .collect();
        times.sort();
        let mut last = since;
        let mut longest = Duration::ZERO;
        for t in times.into_iter().chain([until]) {
            longest = longest.max(t - last);
            last = t;
        }
        longest
    };
    let ended = answers
        .iter()
        .map(|a| a.at)
        .max()
        .unwrap_or_else(Instant::now);
    let after_kill = longest_without_201(killed, rejoined);
    let after_rejoin = longest_without_201(rejoined, ended);
    let mut by_status = std::collections::BTreeMap::new();
    for a in &answers {
        *by_status.entry(a.status).or_insert(0) += 1;
    }
    eprintln!(
        "cluster: {} requests {by_status:?}; longest without a 201: {after_kill:?} after the kill, {after_rejoin:?} after the rejoin",
        answers.len()
    );
    assert!(
        after_kill <= Duration::from_secs(3),
        "no 201 for {after_kill:?} after the kill"
    );
    assert!(
        after_rejoin <= Duration::from_secs(3),
        "no 201 for {after_rejoin:?} after the rejoin"
    );

    // Everything accepted is stored, once.
    let list = accepted
        .iter()
        .map(|a| format!("'{}'", a.key))
        .collect::<Vec<_>>()
        .join(",");
    let accepted_rows =
        format!("(SELECT 1 FROM biometric_validations WHERE identifier IN ({list})) s");
    let stored = eventually(Duration::from_secs(60), || async {
        count_rows(&app.db, &accepted_rows).await >= accepted.len() as u64
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = app.count().await;
    let keys: std::collections::HashSet<&str> = accepted.iter().map(|a| a.key.as_str()).collect();
    let distinct = count_rows(
        &app.db,
        "(SELECT DISTINCT identifier FROM biometric_validations) d",
    )
    .await;
    worker.start_kill().unwrap();
    assert!(stored, "{rows} stored of {} accepted", accepted.len());
    assert_eq!(rows, distinct, "no validation stored twice");
    // A request answered 503 may still have been stored (its publish was
    // confirmed after the answer's deadline): stored rows are the accepted
    // ones and at most those.
    assert!(rows >= keys.len() as u64 && rows <= answers.len() as u64);
}

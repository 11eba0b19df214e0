//! The bare baselines: the same I/O as the service, without the service.
//!
//! - [`persist`]: what bv-worker's create path does to the broker and the
//!   database, with plain lapin and plain SQL, shaped like the worker
//!   ([`Shape`]: as many consumers, batches and prefetch): each consumer
//!   takes a batch of messages, reads the fields out of each JSON body,
//!   writes them with one multi-row `INSERT … SELECT … FROM UNNEST(…) ON
//!   CONFLICT (id) DO NOTHING` into `biometric_validations` of a fresh
//!   database (the same columns, indexes and foreign keys, since it is the
//!   same migration), and acks the batch with one `multiple` ack. No
//!   checks, no replies, no tracing, no metrics.
//! - the create chain over HTTP: the `e2e-bare` binary.
//! - [`sink`]: a plain HTTP client posting signed-size bodies to the same
//!   receiver the dispatcher sends to, at the dispatcher's concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bv_contract::amqp::Names;
use bv_e2e::AMQP_URL;
use bv_e2e::bare_insert::{Columns, INSERT};
use futures::StreamExt;
use lapin::options::BasicAckOptions;
use lapin::{Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// How the bare consumer consumes: bv-worker's own `worker.concurrency`,
/// `worker.batch_size` and `worker.prefetch`, so the two do the same I/O.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub channels: usize,
    pub batch: usize,
    pub prefetch: u16,
}

/// Drains `n` create commands from `names.create_queue` into `db`; msg/s.
pub async fn persist(
    names: &Names,
    db: &DatabaseConnection,
    n: usize,
    shape: Shape,
) -> anyhow::Result<f64> {
    let Shape {
        channels,
        batch: batch_size,
        prefetch,
    } = shape;
    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default()).await?;
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..channels {
        let (ch, mut consumer) = bv_e2e::bare_insert::consumer(
            &conn,
            names.create_queue.as_str(),
            prefetch,
            &format!("bare-persist-{c}"),
        )
        .await?;
        let (db, done, ch) = (db.clone(), done.clone(), ch.clone());
        tasks.spawn(async move {
            let mut batch = Columns::default();
            let mut last_tag = None;
            loop {
                let next = if batch.id.is_empty() {
                    consumer.next().await.map(Some)
                } else {
                    // A part batch is written after 20 ms without news.
                    match tokio::time::timeout(Duration::from_millis(20), consumer.next()).await {
                        Ok(next) => next.map(Some),
                        Err(_) => Some(None),
                    }
                };
                match next {
                    None => break,
                    Some(Some(delivery)) => {
                        let delivery = delivery?;
                        batch.push_delivery(&delivery)?;
                        last_tag = Some(delivery.delivery_tag);
                        if batch.id.len() < batch_size {
                            continue;
                        }
                    }
                    Some(None) => {}
                }
                let count = batch.id.len();
                let values = std::mem::take(&mut batch).values();
                db.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    INSERT,
                    values,
                ))
                .await?;
                if let Some(tag) = last_tag.take() {
                    ch.basic_ack(tag, BasicAckOptions { multiple: true })
                        .await?;
                }
                if done.fetch_add(count, Ordering::SeqCst) + count >= n {
                    break;
                }
            }
            anyhow::Ok(())
        });
    }
    loop {
        if done.load(Ordering::SeqCst) >= n {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "bare persist stalled"
        );
        if let Some(joined) = tasks.try_join_next() {
            joined??;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    tasks.abort_all();
    conn.close(200, "bye".into()).await?;
    Ok(rate)
}

/// `n` POSTs of `body` to `url` by `concurrency` tasks over one pooled
/// client: requests/s. The receiver's own rate, for the dispatcher's row.
pub async fn sink(url: &str, body: &str, n: usize, concurrency: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let left = Arc::new(AtomicUsize::new(n));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, left, url, body) = (
            client.clone(),
            left.clone(),
            url.to_owned(),
            body.to_owned(),
        );
        tasks.spawn(async move {
            while left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                .is_ok()
            {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("webhook-id", "msg_bench")
                    .header("webhook-timestamp", "0")
                    .header("webhook-signature", "v1,bench")
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "{}", response.status());
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

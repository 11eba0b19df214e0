//! HTTP load on the create path, from this process against services in
//! processes of their own: a closed loop (a fixed number of clients, each
//! sending its next request when its last is answered: saturation) and an
//! open loop (requests start at a fixed rate whatever the answers do, and
//! each latency is measured from when its request was due, so a stall shows
//! as the queueing it causes: no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct ClosedLoop {
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub failures: usize,
}

/// `n` POSTs of `request` to `url` by `concurrency` clients: the rate of
/// `201`s and their latency.
pub async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    request: &Value,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<ClosedLoop> {
    let body = axum::body::Bytes::from(serde_json::to_vec(request)?);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, url, token, body, next) = (
            http.clone(),
            url.to_owned(),
            token.to_owned(),
            body.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                let answer = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status() == 201 => latencies.push(t.elapsed()),
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        });
    }
    let mut latencies = Vec::with_capacity(n);
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        let (l, f) = joined?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(ClosedLoop {
        rps: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        failures,
    })
}

/// The `p` quantile of sorted `latencies` (nearest rank); zero when empty.
fn percentile(latencies: &[Duration], p: f64) -> Duration {
    latencies
        .get(((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1)) - 1)
        .copied()
        .unwrap_or_default()
}

pub struct OpenLoop {
    pub rate: f64,
    pub achieved: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    pub failures: usize,
}

/// `rate` requests/s for `seconds`: POST `request` to `url` with `token`.
pub async fn open_loop(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    request: &Value,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<OpenLoop> {
    let total = (rate * seconds) as usize;
    let body = axum::body::Bytes::from(serde_json::to_vec(request)?);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (http, url, token, body) =
            (http.clone(), url.to_owned(), token.to_owned(), body.clone());
        tasks.spawn(async move {
            let answer = http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let ok = matches!(&answer, Ok(r) if r.status() == 201);
            (due.elapsed(), ok)
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        let (latency, ok) = joined?;
        if ok {
            latencies.push(latency);
        } else {
            failures += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(OpenLoop {
        rate,
        achieved: total as f64 / elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        p999: percentile(&latencies, 0.999),
        max: latencies.last().copied().unwrap_or_default(),
        failures,
    })
}

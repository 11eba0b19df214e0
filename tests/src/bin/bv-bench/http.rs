//! Open-loop HTTP load: requests start at a fixed rate whatever the
//! answers do, and each latency is measured from when its request was due,
//! so a stall shows as the queueing it causes (no coordinated omission).

use std::time::{Duration, Instant};

use serde_json::Value;

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
    let pct = |p: f64| {
        latencies
            .get(
                ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1)) - 1,
            )
            .copied()
            .unwrap_or_default()
    };
    Ok(OpenLoop {
        rate,
        achieved: total as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        p999: pct(0.999),
        max: latencies.last().copied().unwrap_or_default(),
        failures,
    })
}

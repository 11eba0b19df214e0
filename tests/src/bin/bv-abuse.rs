//! `make abuse` (not in CI): whoever holds one validation's link floods the
//! end user's endpoints while another user completes validations, against
//! bv-ingress and bv-worker as separate release processes. The attacker's
//! link sends, at once and for the whole run: validate bodies of millions of
//! JSON elements (just under the body limit), captures of 16-bit RGBA
//! 4000×4000 pixels (1 GB decoded if they were), full-size 4000×4000 RGB
//! captures (decoded by the worker while its validation is open, `409` once
//! decided), and challenge requests. The other user creates a validation and
//! validates one capture in a loop.
//!
//! It prints the other user's validate latency (p50, p99) and both
//! processes' RSS before the flood, during it (peak) and after it, and the
//! attacker's answers by status. `--no-rate-limits` turns the ingress's rate
//! limits off, to see the memory budgets hold on their own.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bv_e2e::journey::uniform_png;
use bv_e2e::{TestPrefix, seed_request};
use clap::Parser;
use image::ExtendedColorType;
use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "Flood one link's endpoints while another user is served; see the module docs")]
struct Args {
    /// How long the flood runs, in seconds.
    #[arg(long, default_value_t = 180)]
    seconds: u64,
    /// Quiet seconds measured before and after the flood.
    #[arg(long, default_value_t = 30)]
    quiet: u64,
    /// Attacking tasks per kind of request.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Turn the ingress's rate limits off (the memory budgets alone).
    #[arg(long)]
    no_rate_limits: bool,
}

const CLIENT: &str = "abuse_client";

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn sibling(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name(name)
}

/// Creates a validation for `identifier`: its id and session token.
async fn start(
    http: &reqwest::Client,
    base: &str,
    client_token: &str,
    identifier: String,
) -> anyhow::Result<(String, String)> {
    let mut body = seed_request();
    body["identifier"] = json!(identifier);
    body["sendViaEmail"] = json!(false);
    let map = body.as_object_mut().expect("object");
    map.remove("email");
    map.remove("webhookUrl");
    let answer: Value = http
        .post(format!("{base}/v2/biometric-validations"))
        .bearer_auth(client_token)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let data = &answer["data"];
    Ok((
        data["_id"].as_str().unwrap_or_default().to_owned(),
        data["token"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// One phase's figures.
#[derive(Default)]
struct Phase {
    latencies_ms: Vec<f64>,
    /// Answers other than 200, by status (0: no answer).
    failures: BTreeMap<u16, u64>,
    rss_ingress_kib: u64,
    rss_worker_kib: u64,
}

impl Phase {
    fn percentile(&self, p: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prefix = TestPrefix::new();
    let passive = bv_store::flows::FlowSettings {
        liveness: bv_contract::LivenessMode::Passive,
        ..Default::default()
    };
    let (db, conn) = bv_e2e::db::seeded(CLIENT, "abuse", passive).await?;

    let port = bv_e2e::reserve_port();
    let mut env = bv_e2e::overrides(&db.url, &prefix.prefix);
    env.retain(|(k, _)| *k != "database.max_connections");
    env.extend([
        ("http.addr", format!("127.0.0.1:{port}")),
        ("telemetry.log_level", "error".to_owned()),
    ]);
    if args.no_rate_limits {
        for key in ["rate_limits.session_rate", "rate_limits.ip_rate"] {
            env.push((key, "off".to_owned()));
        }
    }
    let spawn = |binary: &str| {
        let mut cmd = tokio::process::Command::new(sibling(binary));
        for (key, value) in &env {
            cmd.env(bv_runtime::settings::env_var(key), value);
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    };
    let mut worker = spawn("e2e-bv-worker")?;
    let mut ingress = spawn("e2e-bv-ingress")?;
    let (ingress_pid, worker_pid) = (ingress.id().unwrap_or(0), worker.id().unwrap_or(0));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let ready = bv_e2e::eventually(Duration::from_secs(30), || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    anyhow::ensure!(ready, "the services did not become ready");
    let client_token = bv_e2e::token(CLIENT, 86_400);

    // The other user: a validation, one capture, again and again.
    let capture = bv_e2e::journey::jpeg();
    let phase = Arc::new(Mutex::new(Phase::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        // Its own connections: none shared with the attacker's, which the
        // ingress closes when it answers before reading a body.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let (base, phase, stop, client_token) = (
            base.clone(),
            phase.clone(),
            stop.clone(),
            client_token.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let Ok((_, token)) = start(&http, &base, &client_token, format!("other-{i}")).await
                else {
                    *phase.lock().await.failures.entry(0).or_default() += 1;
                    continue;
                };
                let began = Instant::now();
                let status = http
                    .post(format!("{base}/v2/biometric-validations/validate"))
                    .bearer_auth(&token)
                    .json(&json!({"os": "web", "image": capture}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                let mut p = phase.lock().await;
                if status == 200 {
                    p.latencies_ms.push(began.elapsed().as_secs_f64() * 1000.0);
                } else {
                    *p.failures.entry(status).or_default() += 1;
                }
                drop(p);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // RSS, sampled every 200 ms into the current phase's peak.
    let sampler = {
        let (phase, stop) = (phase.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (i, w) = (
                    status_kib(ingress_pid, "VmRSS:"),
                    status_kib(worker_pid, "VmRSS:"),
                );
                let mut p = phase.lock().await;
                p.rss_ingress_kib = p.rss_ingress_kib.max(i);
                p.rss_worker_kib = p.rss_worker_kib.max(w);
                drop(p);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let swap = |phase: &Arc<Mutex<Phase>>| {
        let phase = phase.clone();
        async move { std::mem::take(&mut *phase.lock().await) }
    };

    println!("before: {} s quiet", args.quiet);
    tokio::time::sleep(Duration::from_secs(args.quiet)).await;
    let before = swap(&phase).await;

    // The attacker's one link.
    let (id, token) = start(&http, &base, &client_token, "attacker".to_owned()).await?;
    let head = r#"{"os":"web","frames":["#;
    let max = 8 * 1024 * 1024 - 1024;
    let zeros = format!("{head}0{}]}}", ",0".repeat((max - head.len() - 3) / 2)).into_bytes();
    let deep =
        json!({"os": "web", "image": uniform_png(4000, 4000, ExtendedColorType::Rgba16, 96)})
            .to_string()
            .into_bytes();
    let large = json!({"os": "web", "image": uniform_png(4000, 4000, ExtendedColorType::Rgb8, 96)})
        .to_string()
        .into_bytes();
    let answers: Arc<Mutex<BTreeMap<(&'static str, u16), u64>>> = Arc::default();
    let flooding = Arc::new(AtomicBool::new(false));
    flooding.store(true, Ordering::Relaxed);
    let mut attackers = Vec::new();
    let kinds: [(&'static str, Option<Vec<u8>>); 4] = [
        ("zeros", Some(zeros)),
        ("deep", Some(deep)),
        ("large", Some(large)),
        ("challenge", None),
    ];
    for (kind, body) in kinds {
        for _ in 0..args.concurrency {
            let (http, base, token, id, body, answers, flooding) = (
                http.clone(),
                base.clone(),
                token.clone(),
                id.clone(),
                body.clone(),
                answers.clone(),
                flooding.clone(),
            );
            attackers.push(tokio::spawn(async move {
                while flooding.load(Ordering::Relaxed) {
                    let sent = match &body {
                        Some(body) => http
                            .post(format!("{base}/v2/biometric-validations/validate"))
                            .bearer_auth(&token)
                            .header("content-type", "application/json")
                            .body(body.clone()),
                        None => http
                            .get(format!("{base}/v2/biometric-validations/{id}/challenge"))
                            .bearer_auth(&token),
                    }
                    .send()
                    .await;
                    let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
                    *answers.lock().await.entry((kind, status)).or_default() += 1;
                }
            }));
        }
    }
    println!("during: {} s of flood from one link", args.seconds);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    flooding.store(false, Ordering::Relaxed);
    for attacker in attackers {
        let _ = attacker.await;
    }
    let during = swap(&phase).await;
    println!("after: {} s quiet", args.quiet);
    tokio::time::sleep(Duration::from_secs(args.quiet)).await;
    let after = swap(&phase).await;
    stop.store(true, Ordering::Relaxed);
    let _ = other.await;
    let _ = sampler.await;
    let alive = ingress.try_wait()?.is_none() && worker.try_wait()?.is_none();
    let attempts = bv_e2e::count_rows(&conn, "validation_attempts").await;

    println!();
    println!(
        "| phase | other user's validates | p50 | p99 | not 200 (status: count; 0: no answer) | ingress RSS peak | worker RSS peak |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, p) in [("before", &before), ("during", &during), ("after", &after)] {
        let failures: Vec<String> = p
            .failures
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {} | {} MiB | {} MiB |",
            p.latencies_ms.len(),
            p.percentile(0.5),
            p.percentile(0.99),
            if failures.is_empty() {
                "none".to_owned()
            } else {
                failures.join(", ")
            },
            p.rss_ingress_kib / 1024,
            p.rss_worker_kib / 1024,
        );
    }
    println!();
    println!(
        "the attacker's answers (kind, status: count; 0: no answer, e.g. the connection closed by an early 429 or 503 while the body was still being sent):"
    );
    for ((kind, status), count) in answers.lock().await.iter() {
        println!("  {kind:9} {status}: {count}");
    }
    println!("attempts recorded in all: {attempts}; both processes up: {alive}");
    let _ = ingress.start_kill();
    let _ = worker.start_kill();
    anyhow::ensure!(alive, "a process died under the flood");
    Ok(())
}

//! The webhook verification examples of `examples/webhooks/` (Node and Python
//! with the official Standard Webhooks libraries, Go with the standard
//! library, Rust with `bv_contract::webhook::verify_delivery`), each started
//! as the server an integrator would run and sent a real delivery from the
//! service: tampered, re-signed with a stale or a future timestamp, signed
//! with another secret (all refused), as received (accepted, processed) and
//! again (a duplicate, not processed twice).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bv_contract::webhook::{TOLERANCE, sign, verify};
use bv_e2e::{Options, Receiver, TestApp, seed_request};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const CLIENT: &str = "client_123456789";

#[tokio::test(flavor = "multi_thread")]
async fn the_node_example_verifies_with_the_standard_webhooks_library() {
    install("node").await;
    let delivery = a_real_delivery().await;
    let example = Example::start("node", &["server.js"], &examples().join("node"), &delivery).await;
    example.check("node", &delivery).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_verifies_with_the_standard_webhooks_library() {
    install("python").await;
    let delivery = a_real_delivery().await;
    let dir = examples().join("python");
    let python = dir.join(".venv/bin/python");
    let example = Example::start(&python, &["server.py"], &dir, &delivery).await;
    example.check("python", &delivery).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_go_example_verifies_with_the_standard_library() {
    if which("go").is_none() {
        // scripts/test.sh installs it (examples/webhooks/install.sh).
        eprintln!(
            "SKIPPED: the Go example needs `go`: run examples/webhooks/install.sh go \
             (apt-get install golang-go)"
        );
        return;
    }
    let dir = examples().join("go");
    // Its unit tests: the specification's test vector, and what it refuses.
    run(go(&dir).args(["test", "./..."])).await;
    let binary = target_dir().join("webhook-examples/go-receiver");
    std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
    run(go(&dir).arg("build").arg("-o").arg(&binary).arg(".")).await;
    let delivery = a_real_delivery().await;
    let example = Example::start(&binary, &[], &dir, &delivery).await;
    example.check("go", &delivery).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_example_verifies_with_verify_delivery() {
    let binary = build_rust_example().await;
    let delivery = a_real_delivery().await;
    let example = Example::start(&binary, &[], &examples(), &delivery).await;
    example.check("rust", &delivery).await;
}

/// A webhook as the service sent it, and the secret it signed it with.
struct Delivery {
    secret: String,
    validation: String,
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

/// Creates a validation whose `webhookUrl` is a [`Receiver`], and returns
/// the `biometric_validation.created` webhook it gets.
async fn a_real_delivery() -> Delivery {
    let app = TestApp::spawn_with(Options::dispatching()).await;
    let project = app.seed_project(CLIENT, "project_123456789").await;
    app.seed_flow("project_123456789", "flow_123456789", "login", "active")
        .await;
    let receiver = Receiver::start().await;
    let mut request = seed_request();
    request["webhookUrl"] = json!(receiver.url("/hooks/bv"));
    request["sendViaEmail"] = json!(false);
    request.as_object_mut().unwrap().remove("email");
    let validation = app.create(CLIENT, &request).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let hook = got.first().expect("the created webhook");
    Delivery {
        secret: project.webhook_secret.clone(),
        validation,
        id: hook.header("webhook-id").to_owned(),
        timestamp: hook.header("webhook-timestamp").parse().unwrap(),
        signature: hook.header("webhook-signature").to_owned(),
        body: hook.body.clone(),
    }
}

/// What an example must answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expected {
    /// 400 `refused: …`
    Refused,
    /// 200 `accepted`: verified and processed.
    Accepted,
    /// 200 `duplicate`: verified, already processed (a 2xx, so that the
    /// service stops retrying), not processed again.
    Duplicate,
}

/// An example's server, running.
struct Example {
    port: u16,
    /// What it printed after `listening on …`: one line per event processed.
    printed: Arc<Mutex<Vec<String>>>,
    _child: tokio::process::Child,
}

impl Example {
    /// Starts `program` in `dir` with the delivery's secret and PORT=0, and
    /// waits for its `listening on 127.0.0.1:<port>`.
    async fn start(
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        dir: &Path,
        delivery: &Delivery,
    ) -> Example {
        let program = program.as_ref();
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("WEBHOOK_SECRET", &delivery.secret)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program:?} in {dir:?}: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{program:?} did not start within 30 s"))
            .expect("its output")
            .unwrap_or_else(|| panic!("{program:?} exited without listening"));
        let port = first
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{program:?} printed {first:?}"));
        let printed = Arc::new(Mutex::new(Vec::new()));
        let shared = printed.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                shared.lock().unwrap().push(line);
            }
        });
        Example {
            port,
            printed,
            _child: child,
        }
    }

    /// Sends the delivery changed in each way an integrator must refuse, then
    /// as received, then again. Every refused one carries the delivery's
    /// webhook-id, so an example that records ids before verifying them
    /// answers `duplicate` to the real one.
    async fn check(&self, name: &str, d: &Delivery) {
        let now = chrono::Utc::now().timestamp();
        let signed_at = |ts: i64| {
            let signature = sign(&d.secret, &d.id, ts, d.body.as_bytes()).unwrap();
            // Signed right: only the time is wrong.
            assert!(verify(&d.secret, &d.id, ts, d.body.as_bytes(), &signature));
            signature
        };
        let (stale, future) = (now - 2 * TOLERANCE, now + 2 * TOLERANCE);
        let tampered = d.body.replacen(
            "biometric_validation.created",
            "biometric_validation.validated",
            1,
        );
        assert_ne!(tampered, d.body);
        let another_secret = sign(
            "whsec_c2VjcmV0IG9mIGFub3RoZXIgcHJvamVjdA==",
            &d.id,
            d.timestamp,
            d.body.as_bytes(),
        )
        .unwrap();
        let cases: [(&str, i64, String, &str, Expected); 6] = [
            (
                "a tampered body",
                d.timestamp,
                d.signature.clone(),
                &tampered,
                Expected::Refused,
            ),
            (
                "a stale timestamp (signed)",
                stale,
                signed_at(stale),
                &d.body,
                Expected::Refused,
            ),
            (
                "a future timestamp (signed)",
                future,
                signed_at(future),
                &d.body,
                Expected::Refused,
            ),
            (
                "another secret's signature",
                d.timestamp,
                another_secret,
                &d.body,
                Expected::Refused,
            ),
            (
                "the delivery as received",
                d.timestamp,
                d.signature.clone(),
                &d.body,
                Expected::Accepted,
            ),
            (
                "the same delivery again",
                d.timestamp,
                d.signature.clone(),
                &d.body,
                Expected::Duplicate,
            ),
        ];
        let client = reqwest::Client::new();
        let mut wrong = Vec::new();
        for (case, timestamp, signature, body, expected) in cases {
            let response = client
                .post(format!("http://127.0.0.1:{}/hooks/bv", self.port))
                .header("content-type", "application/json")
                .header("webhook-id", &d.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body.to_owned())
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: {case}: {e}"));
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let right = match expected {
                Expected::Refused => status == 400 && text.starts_with("refused"),
                Expected::Accepted => status == 200 && text == "accepted",
                Expected::Duplicate => status == 200 && text == "duplicate",
            };
            if !right {
                wrong.push(format!("{case}: {status} {text:?}, expected {expected:?}"));
            }
        }
        assert!(
            wrong.is_empty(),
            "the {name} example answered:\n{}",
            wrong.join("\n")
        );

        // It processed the event once, and read it.
        let processed = format!(
            "event {} biometric_validation.created {}",
            d.id, d.validation
        );
        // Printed before it answered: in the pipe, if not read yet.
        for _ in 0..50 {
            if !self.printed.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            *self.printed.lock().unwrap(),
            vec![processed],
            "the {name} example's events"
        );
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/webhooks")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Installs an example's packages (pinned, hash-checked), unless installed.
async fn install(what: &str) {
    run(Command::new(examples().join("install.sh")).arg(what)).await;
}

/// Runs a command to completion; its output goes to the test's.
async fn run(command: &mut Command) {
    let status = command
        .status()
        .await
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?}: {status}");
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// `go` in `dir`, offline: the example has no dependency to fetch.
fn go(dir: &Path) -> Command {
    let mut command = Command::new("go");
    command
        .current_dir(dir)
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly");
    command
}

/// Builds `crates/contract/examples/webhook_receiver.rs`; its path.
async fn build_rust_example() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--workspace",
            "--example",
            "webhook_receiver",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("cargo");
    assert!(
        output.status.success(),
        "cargo build --example webhook_receiver"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "webhook_receiver")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("the example's executable")
}

//! Helpers shared by the tests that run bv-worker or bv-ingress as separate
//! processes.

use std::process::Stdio;
use std::time::Duration;

use bv_e2e::TestApp;

/// Starts `bv-worker` with the app's settings plus `extra` (dotted keys).
pub fn spawn_worker(app: &TestApp, extra: &[(&str, String)]) -> tokio::process::Child {
    spawn(env!("CARGO_BIN_EXE_e2e-bv-worker"), app, extra, &[])
}

/// Starts `bv-ingress` on `port` with the app's settings plus `extra`, and
/// waits until it is ready.
pub async fn spawn_ingress(
    app: &TestApp,
    port: u16,
    extra: &[(&str, String)],
    env: &[(&str, String)],
) -> tokio::process::Child {
    let mut settings = extra.to_vec();
    settings.push(("http.addr", format!("127.0.0.1:{port}")));
    let child = spawn(env!("CARGO_BIN_EXE_e2e-bv-ingress"), app, &settings, env);
    let ready = bv_e2e::eventually(Duration::from_secs(20), || async {
        app.http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(ready, "bv-ingress did not become ready on port {port}");
    child
}

/// Starts a service binary with the app's settings, `extra` settings and
/// plain environment variables `env`.
pub fn spawn(
    binary: &str,
    app: &TestApp,
    extra: &[(&str, String)],
    env: &[(&str, String)],
) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(binary);
    for (key, value) in app
        .overrides
        .iter()
        .map(|(k, v)| (*k, v))
        .chain(extra.iter().map(|(k, v)| (*k, v)))
    {
        cmd.env(bv_runtime::settings::env_var(key), value);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.env("BV__TELEMETRY__LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd.spawn().expect("spawn a service binary")
}

/// The path of the bvctl binary.
pub fn bvctl() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bvctl"))
}

//! Helpers shared by the tests that run bv-worker as a separate process.

use std::process::Stdio;

use bv_e2e::TestApp;

/// Starts `bv-worker` with the app's settings plus `extra` (dotted keys).
pub fn spawn_worker(app: &TestApp, extra: &[(&str, String)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bv-worker"));
    for (key, value) in app
        .overrides
        .iter()
        .map(|(k, v)| (*k, v))
        .chain(extra.iter().map(|(k, v)| (*k, v)))
    {
        cmd.env(bv_runtime::settings::env_var(key), value);
    }
    cmd.env("BV__TELEMETRY__LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd.spawn().expect("spawn bv-worker")
}

/// The path of the bvctl binary.
pub fn bvctl() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_e2e-bvctl"))
}

//! bv-ingress's entry point: load settings, start telemetry, serve until SIGTERM.

use bv_ingress::{Application, Settings};

fn main() -> std::process::ExitCode {
    bv_runtime::service::main(
        "bv-ingress",
        Settings::load,
        |s| &s.telemetry,
        |settings, shutdown| async move { Application::build(settings, shutdown).await?.run().await },
    )
}

//! bv-ingress's entry point: load settings, start telemetry, serve until SIGTERM.

use bv_ingress::{Application, Settings};
use bv_runtime::Shutdown;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("bv-ingress: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let telemetry = match bv_runtime::telemetry::init("bv-ingress", &settings.telemetry) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("bv-ingress: telemetry: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = async {
        Application::build(settings, Shutdown::on_signals())
            .await?
            .run()
            .await
    }
    .await;
    telemetry.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bv-ingress: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

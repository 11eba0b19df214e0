//! bv-worker's entry point: load settings, start telemetry, run until SIGTERM.

use bv_runtime::Shutdown;
use bv_worker::Settings;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("bv-worker: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let telemetry = match bv_runtime::telemetry::init("bv-worker", &settings.telemetry) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("bv-worker: telemetry: {err:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = bv_worker::run(settings, Shutdown::on_signals()).await;
    telemetry.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bv-worker: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The life of a service process, the same for bv-ingress and bv-worker:
//! load settings, start telemetry, run until SIGTERM, flush telemetry.
//! Exit code 2 means a bad setting, 1 a failure, 0 a clean shutdown.

use std::future::Future;
use std::process::ExitCode;

use crate::settings::TelemetrySettings;
use crate::shutdown::Shutdown;

pub fn main<S, Fut>(
    name: &'static str,
    load: fn() -> anyhow::Result<S>,
    telemetry: fn(&S) -> &TelemetrySettings,
    run: impl FnOnce(S, Shutdown) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("{name}: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let settings = match load() {
            Ok(s) => s,
            Err(err) => {
                eprintln!("{name}: {err:#}");
                return ExitCode::from(2);
            }
        };
        let guard = match crate::telemetry::init(name, telemetry(&settings)) {
            Ok(t) => t,
            Err(err) => {
                eprintln!("{name}: telemetry: {err:#}");
                return ExitCode::from(2);
            }
        };
        let result = run(settings, Shutdown::on_signals()).await;
        guard.shutdown();
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{name}: {err:#}");
                ExitCode::FAILURE
            }
        }
    })
}

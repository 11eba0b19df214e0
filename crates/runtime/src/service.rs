//! The life of a service process, the same for bv-ingress and bv-worker:
//! load settings, start telemetry, run until SIGTERM, flush telemetry.
//! Exit code 2 means a bad setting (or argument), 1 a failure, 0 a clean
//! shutdown.
//!
//! The services take no arguments but `--version` (`-V`), which prints
//! `bv-ingress 0.1.0 (commit 162b491)` and exits 0 without reading any
//! setting, and `--help` (`-h`).

use std::ffi::OsString;
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
    match arguments(name, std::env::args_os().skip(1)) {
        Arguments::Run => {}
        Arguments::Print(text) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Arguments::Refuse(text) => {
            eprintln!("{text}");
            return ExitCode::from(2);
        }
    }
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

/// What the command line asks of a service.
#[derive(Debug, PartialEq, Eq)]
enum Arguments {
    /// Nothing: run.
    Run,
    /// Print this (the version, the help) and exit 0.
    Print(String),
    /// Print this to stderr and exit 2.
    Refuse(String),
}

fn arguments(name: &str, args: impl IntoIterator<Item = OsString>) -> Arguments {
    let usage = format!(
        "usage: {name} [--version | --help]\n\n\
         Settings come from the built-in defaults, the TOML file named by BV_CONFIG and\n\
         BV__SECTION__KEY environment variables (README, \"Configuration\")."
    );
    let args: Vec<OsString> = args.into_iter().collect();
    match args.first().map(|a| a.to_string_lossy()) {
        None => Arguments::Run,
        Some(flag) if args.len() == 1 && (flag == "--version" || flag == "-V") => {
            Arguments::Print(crate::build_info::version_line(name))
        }
        Some(flag) if args.len() == 1 && (flag == "--help" || flag == "-h") => Arguments::Print(
            format!("{}\n{usage}", crate::build_info::version_line(name)),
        ),
        Some(_) => {
            let given: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
            Arguments::Refuse(format!(
                "{name}: unexpected arguments `{}`\n{usage}",
                given.join(" ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Arguments, arguments};

    fn parse(args: &[&str]) -> Arguments {
        arguments("bv-test", args.iter().map(Into::into))
    }

    #[test]
    fn no_arguments_run_the_service() {
        assert_eq!(parse(&[]), Arguments::Run);
    }

    #[test]
    fn version_prints_the_name_version_and_commit() {
        let line = format!(
            "bv-test {} (commit {})",
            crate::build_info::VERSION,
            crate::build_info::COMMIT
        );
        assert_eq!(parse(&["--version"]), Arguments::Print(line.clone()));
        assert_eq!(parse(&["-V"]), Arguments::Print(line));
    }

    #[test]
    fn anything_else_is_refused_with_the_usage() {
        for args in [&["--verbose"][..], &["--version", "x"], &["run"]] {
            let Arguments::Refuse(text) = parse(args) else {
                panic!("{args:?} accepted");
            };
            assert!(
                text.contains("usage: bv-test [--version | --help]"),
                "{text}"
            );
        }
        let Arguments::Print(help) = parse(&["--help"]) else {
            panic!("--help refused");
        };
        assert!(help.contains("BV_CONFIG"), "{help}");
    }
}

//! bv-ingress's entry point: load settings, start telemetry, serve until SIGTERM.

fn main() -> std::process::ExitCode {
    bv_ingress::main()
}

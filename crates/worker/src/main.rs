//! bv-worker's entry point (see [`bv_worker::main`]).

fn main() -> std::process::ExitCode {
    bv_worker::main()
}

fn main() -> std::process::ExitCode {
    bv_worker::main()
}

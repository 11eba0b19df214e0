fn main() -> std::process::ExitCode {
    bv_cli::main()
}

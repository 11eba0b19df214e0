fn main() -> std::process::ExitCode {
    bv_ingress::main()
}

//! A release an operator can name: every binary answers `--version` (and
//! `-V`) with its name, the release and the commit, exit 0, without reading
//! a setting.

use bv_runtime::build_info::{COMMIT, VERSION};

/// The three binaries, as the tests build them, and the name each prints.
const BINARIES: [(&str, &str); 3] = [
    (env!("CARGO_BIN_EXE_e2e-bv-ingress"), "bv-ingress"),
    (env!("CARGO_BIN_EXE_e2e-bv-worker"), "bv-worker"),
    (env!("CARGO_BIN_EXE_e2e-bvctl"), "bvctl"),
];

async fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    tokio::process::Command::new(binary)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_binary_names_its_version_and_commit() {
    // The workspace's version, and the commit the build recorded.
    assert_eq!(VERSION, env!("CARGO_PKG_VERSION"));
    assert!(
        COMMIT == "unknown" || (COMMIT.len() >= 7 && COMMIT.chars().all(|c| c.is_ascii_hexdigit())),
        "{COMMIT}"
    );
    for (binary, name) in BINARIES {
        for flag in ["--version", "-V"] {
            // A bad setting does not matter: nothing is loaded.
            let output = run(binary, &[flag], &[("BV__WORKER__PREFETCH", "0")]).await;
            assert_eq!(
                output.status.code(),
                Some(0),
                "{name} {flag}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                format!("{name} {VERSION} (commit {COMMIT})\n"),
                "{name} {flag}"
            );
        }
    }
}

/// Built from this checkout, the commit is one of its own (not necessarily
/// HEAD: someone may have committed since the build).
#[tokio::test(flavor = "multi_thread")]
async fn the_commit_is_the_checkouts_when_built_from_git() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if std::env::var_os("BV_BUILD_COMMIT").is_some() || !git(&["rev-parse", "HEAD"]) {
        return; // given explicitly, or no git here: nothing to compare with
    }
    assert!(
        git(&["cat-file", "-e", &format!("{COMMIT}^{{commit}}")]),
        "{COMMIT} is not a commit of this checkout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_refuses_arguments_it_does_not_know() {
    for (binary, name) in &BINARIES[..2] {
        let output = run(binary, &["--verbose"], &[]).await;
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("unexpected arguments `--verbose`")
                && stderr.contains(&format!("usage: {name} [--version | --help]")),
            "{name}: {stderr}"
        );
        let output = run(binary, &["--help"], &[]).await;
        assert_eq!(output.status.code(), Some(0), "{name}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("BV_CONFIG"));
    }
}

//! Records the commit the binaries are built from, as `BV_BUILD_COMMIT` for
//! `bv_runtime::build_info::COMMIT`:
//!
//! 1. the `BV_BUILD_COMMIT` environment variable, when set and not empty (a
//!    build without `.git`, such as `deploy/Dockerfile`'s, whose context
//!    leaves `.git` out, passes it as a build argument);
//! 2. else `git rev-parse --short HEAD` in this checkout;
//! 3. else `unknown` (no git, no repository: a build from a source tarball).
//!
//! Cargo runs this again when the variable changes or HEAD moves (a commit,
//! a checkout), and not otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=BV_BUILD_COMMIT");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = match std::env::var("BV_BUILD_COMMIT") {
        Ok(given) if !given.trim().is_empty() => checked(given.trim()),
        _ => {
            watch_head(&manifest_dir);
            git(&manifest_dir, &["rev-parse", "--short", "HEAD"])
                .map(|c| checked(&c))
                .unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=BV_BUILD_COMMIT={commit}");
}

/// A commit as given: a label value and one word (letters, digits, `.`, `_`,
/// `-`; at most 64), or the build stops naming it.
fn checked(commit: &str) -> String {
    let fine = commit.len() <= 64
        && commit
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    assert!(
        fine,
        "BV_BUILD_COMMIT={commit:?}: expected a commit id (letters, digits, '.', '_', '-'; at most 64)"
    );
    commit.to_owned()
}

/// Asks Cargo to run this again when HEAD moves: `.git/HEAD` (a checkout)
/// and the branch it points to (a commit), loose or packed. Only paths that
/// exist (Cargo reruns on every build for a missing one): a packed branch's
/// loose file appears at its next commit, so its folder is watched instead.
fn watch_head(dir: &Path) {
    let path = |name: &str| {
        git(dir, &["rev-parse", "--git-path", name])
            .map(|p| dir.join(p))
            .filter(|p| p.exists())
    };
    let mut watched: Vec<PathBuf> = ["HEAD", "packed-refs"]
        .iter()
        .filter_map(|n| path(n))
        .collect();
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        let folder = Path::new(&branch)
            .parent()
            .and_then(|f| path(&f.to_string_lossy()));
        watched.extend(path(&branch).or(folder));
    }
    for file in watched {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

/// `git ARGS` in `dir`: its first line of output, if it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let out = String::from_utf8(output.stdout).ok()?;
    let line = out.lines().next()?.trim();
    (output.status.success() && !line.is_empty()).then(|| line.to_owned())
}

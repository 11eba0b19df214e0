//! What a binary was built from, the same for bv-ingress, bv-worker and
//! bvctl: the workspace's version (every crate shares it) and the commit
//! (recorded by `build.rs`: `BV_BUILD_COMMIT` when the build was given one,
//! else `git rev-parse --short HEAD`, else `unknown`).
//!
//! `--version` prints them, `/metrics` carries them as
//! `bv_build_info{version,commit} 1`, and traces as the resource's
//! `service.version`.

/// The release, `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit, `162b491` (or `unknown`).
pub const COMMIT: &str = env!("BV_BUILD_COMMIT");

/// What `--version` prints after the binary's name: `0.1.0 (commit 162b491)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BV_BUILD_COMMIT"),
    ")"
);

/// `name`'s `--version` line: `bv-ingress 0.1.0 (commit 162b491)`.
pub fn version_line(name: &str) -> String {
    format!("{name} {VERSION_LINE}")
}

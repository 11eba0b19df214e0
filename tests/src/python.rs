//! The Python the tests run their reference tools with (aiosmtpd,
//! prometheus_client, joserfc): the project's virtual environment,
//! `var/venv`, which `make test` makes (`scripts/venv.sh`), else the
//! `python3` on the PATH.

use std::path::PathBuf;

/// `var/venv/bin/python3` when it exists, else `python3`.
pub fn python() -> PathBuf {
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../var/venv/bin/python3"
    ));
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

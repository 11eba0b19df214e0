//! A real SMTP server process for the email tests.

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::poll;

/// A real SMTP server process (aiosmtpd, `tests/smtp/smtp_sink.py`) writing
/// what it accepts, decoded, into its own folder.
pub struct SmtpServer {
    pub port: u16,
    dir: std::path::PathBuf,
    _child: tokio::process::Child,
}

impl SmtpServer {
    pub async fn start_on(port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("bv-test-smtp-{}", Uuid::new_v4().simple()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/smtp_sink.py");
        let child = tokio::process::Command::new(crate::python::python())
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP server (python3 with aiosmtpd: run scripts/test.sh, which makes var/venv)");
        for _ in 0..200 {
            let probe = tokio::net::TcpStream::connect(("127.0.0.1", port));
            if matches!(
                tokio::time::timeout(Duration::from_secs(1), probe).await,
                Ok(Ok(_))
            ) {
                return SmtpServer {
                    port,
                    dir,
                    _child: child,
                };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the SMTP server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Value> {
        poll(limit, || async { self.messages() }, |got| got.len() >= n).await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

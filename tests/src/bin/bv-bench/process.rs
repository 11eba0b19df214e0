//! The services measured (bv-worker, bv-ingress, the bare chain) as
//! processes of their own (the release binaries beside this one), so what
//! each costs in memory and CPU is its own.

use std::time::{Duration, Instant};

use bv_runtime::settings::env_var;

/// A running service process.
pub struct ServiceProcess {
    /// The binary's name, for errors.
    name: String,
    child: tokio::process::Child,
    pid: u32,
    peak_rss_kib: u64,
}

impl ServiceProcess {
    /// Starts bv-worker with `settings` (dotted keys) in its environment,
    /// and `role` over them (which of its parts run).
    pub fn start(
        settings: &[(&str, String)],
        role: &[(&str, &str)],
    ) -> anyhow::Result<ServiceProcess> {
        let mut env: Vec<(&str, String)> = settings.to_vec();
        env.extend(role.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Self::spawn("e2e-bv-worker", &[], &env)
    }

    /// Starts the binary `name` beside this one with `args`, and `settings`
    /// (dotted keys) in its environment.
    pub fn spawn(
        name: &str,
        args: &[String],
        settings: &[(&str, String)],
    ) -> anyhow::Result<ServiceProcess> {
        let binary = std::env::current_exe()?.with_file_name(name);
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.args(args);
        for (key, value) in settings {
            cmd.env(env_var(key), value);
        }
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run {} ({e})", binary.display()))?;
        let pid = child.id().unwrap_or_default();
        Ok(ServiceProcess {
            name: name.to_owned(),
            child,
            pid,
            peak_rss_kib: 0,
        })
    }

    /// Whether it has exited (an error saying how).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("{} (pid {}) exited: {status}", self.name, self.pid);
        }
        Ok(())
    }

    /// Polls `done` (how many of `n` are finished) every 50 ms until it
    /// reaches `n`; the rate from the first finished one to the last, so
    /// the process's start is not counted. Samples the peak RSS meanwhile.
    pub async fn rate_until<F, Fut>(&mut self, n: usize, mut done: F) -> anyhow::Result<f64>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = usize>,
    {
        let deadline = Instant::now() + Duration::from_secs(900);
        let mut first: Option<(Instant, usize)> = None;
        loop {
            anyhow::ensure!(Instant::now() < deadline, "{} stalled", self.name);
            self.check_running()?;
            self.sample();
            let finished = done().await;
            match first {
                None if finished > 0 => first = Some((Instant::now(), finished)),
                Some((at, from)) if finished >= n => {
                    self.sample();
                    let span = at.elapsed().as_secs_f64().max(1e-3);
                    return Ok((finished - from) as f64 / span);
                }
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The peak resident set seen so far (`VmHWM`), in MiB.
    pub fn peak_rss_mib(&mut self) -> f64 {
        self.sample();
        self.peak_rss_kib as f64 / 1024.0
    }

    fn sample(&mut self) {
        self.peak_rss_kib = self.peak_rss_kib.max(vm_hwm_kib(self.pid));
    }

    /// The CPU time (user and system) the process has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    /// SIGTERM, and waits for the exit (at most 20 s).
    pub async fn stop(mut self) {
        self.sample();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}

/// A process's peak resident set (`VmHWM`), in KiB; 0 when unreadable.
fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The CPU time (user + system) process `pid` has used, in seconds (`/proc/PID/stat`,
/// in clock ticks of 1/100 s on Linux); 0 when unreadable.
pub fn cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The command name (field 2) may hold spaces; count from after it.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line.
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

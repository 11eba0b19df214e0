//! A watchdog per test process: when a test is still running after
//! [`AFTER`] (nextest kills it at 120 s), it prints what the in-process
//! services are in the middle of (the progress registry: each loop's
//! current step and how long it has waited) and every thread's stack (gdb,
//! when installed), so a hang explains itself instead of only timing out.

use std::sync::OnceLock;
use std::time::Duration;

/// How long a test may run before the watchdog reports.
pub const AFTER: Duration = Duration::from_secs(90);

static ARMED: OnceLock<()> = OnceLock::new();

/// Arms the watchdog once per process.
pub fn arm() {
    ARMED.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("test-watchdog".into())
            .spawn(|| {
                std::thread::sleep(AFTER);
                eprintln!("{}", dump());
            });
    });
}

/// The report: steps in progress, then thread stacks.
pub fn dump() -> String {
    let mut out = format!(
        "\n=== watchdog: the test is still running after {AFTER:?} ===\nsteps in progress:\n"
    );
    let steps = bv_runtime::progress::report();
    if steps.is_empty() {
        out.push_str("  (none: no service loop is inside a step)\n");
    }
    for line in steps {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&thread_stacks());
    out
}

/// Every thread's stack, from gdb attached to this process. gdb writes to a
/// file, not a pipe: it stops every thread of this process while it works,
/// the one that would read a pipe too, and a full pipe would then block it.
fn thread_stacks() -> String {
    let pid = std::process::id().to_string();
    let file = std::env::temp_dir().join(format!("bv-watchdog-{pid}.txt"));
    let Ok(out) = std::fs::File::create(&file) else {
        return "(no thread stacks: cannot create a file)\n".into();
    };
    let spawned = std::process::Command::new("gdb")
        .args(["-p", &pid, "-batch", "-nx"])
        .args([
            "-ex",
            "set debuginfod enabled off",
            "-ex",
            "thread apply all bt",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => return format!("(no thread stacks: gdb: {err})\n"),
    };
    // Symbols of a debug test binary take gdb a few seconds to read.
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let stacks = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    format!("thread stacks (gdb):\n{stacks}")
}

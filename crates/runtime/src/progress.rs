//! Where each long-lived loop is, so that one that stops making progress
//! while looking healthy is caught: every loop marks the step it is in with
//! [`busy`] (a guard), naming how long that step may take at most. A step
//! held longer is *stuck*: the worker's liveness probe fails (Kubernetes
//! restarts the pod) and [`report`] names it, with how long it has waited.
//! The test harness prints the same report when a test stops progressing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

struct Step {
    loop_name: String,
    what: String,
    since: Instant,
    limit: Duration,
}

static STEPS: LazyLock<Mutex<BTreeMap<u64, Step>>> = LazyLock::new(Mutex::default);
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Marks a step as in progress until dropped.
#[must_use = "the step ends when the guard is dropped"]
pub struct Busy(u64);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut steps) = STEPS.lock() {
            steps.remove(&self.0);
        }
    }
}

/// `loop_name` (e.g. `consumer 3`) is doing `what`, which takes at most `limit`.
pub fn busy(loop_name: impl Into<String>, what: impl Into<String>, limit: Duration) -> Busy {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut steps) = STEPS.lock() {
        steps.insert(
            id,
            Step {
                loop_name: loop_name.into(),
                what: what.into(),
                since: Instant::now(),
                limit,
            },
        );
    }
    Busy(id)
}

/// The steps held past their limit: one line each.
pub fn stuck() -> Vec<String> {
    lines(|s| s.since.elapsed() > s.limit)
}

/// Every step in progress, stuck or not: one line each.
pub fn report() -> Vec<String> {
    lines(|_| true)
}

fn lines(keep: impl Fn(&Step) -> bool) -> Vec<String> {
    let Ok(steps) = STEPS.lock() else {
        return vec!["(progress registry poisoned)".into()];
    };
    steps
        .values()
        .filter(|s| keep(s))
        .map(|s| {
            format!(
                "{}: {} for {:.1?} (limit {:?})",
                s.loop_name,
                s.what,
                s.since.elapsed(),
                s.limit
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_past_its_limit_is_stuck_until_it_ends() {
        let quick = busy("loop a", "short step", Duration::from_secs(60));
        let slow = busy("loop b", "awaiting forever", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let stuck = stuck();
        assert!(
            stuck
                .iter()
                .any(|l| l.starts_with("loop b: awaiting forever for")),
            "{stuck:?}"
        );
        assert!(!stuck.iter().any(|l| l.starts_with("loop a")));
        assert!(report().iter().any(|l| l.starts_with("loop a: short step")));
        drop(slow);
        assert!(!super::stuck().iter().any(|l| l.starts_with("loop b")));
        drop(quick);
    }
}

//! Retrying what depends on the broker or the database, written once: every
//! reconnect loop (the ingress's publisher session, the worker's consumers,
//! the database connection) and the worker's "database down, try the batch
//! again" wait go through [`until_ok`] or [`keep_alive`].
//!
//! Delays come from [`reconnect_backoff`]: the first retry at once, then
//! 100 ms doubling to a 3 s cap, jittered, so a service is back within a few
//! seconds of its peer and many replicas do not reconnect in step.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::shutdown::Shutdown;

/// The cap of [`reconnect_backoff`].
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(3);

/// Delays between reconnection attempts: at once, then 100 ms doubling to
/// 3 s, with jitter, forever. backon adds its jitter (up to the delay again)
/// after its own cap, so the cap is applied once more here: no delay ever
/// exceeds [`MAX_RECONNECT_DELAY`] (the logs showed `retry_in=5.58s`).
pub fn reconnect_backoff() -> impl Iterator<Item = Duration> + Send {
    std::iter::once(Duration::ZERO).chain(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(MAX_RECONNECT_DELAY)
            .with_jitter()
            .without_max_times()
            .build()
            .map(|delay| delay.min(MAX_RECONNECT_DELAY)),
    )
}

/// Why [`until_ok`] stopped without a result.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped<E> {
    /// Shutdown was triggered.
    Shutdown,
    /// Still failing after `give_up_after`: the last error.
    GaveUp(E),
}

/// Calls `attempt` until it succeeds, waiting [`reconnect_backoff`] delays
/// between failures (each logged as a warning about `what`); stops early on
/// shutdown or, with `give_up_after`, once that long has passed.
pub async fn until_ok<T, E, F, Fut>(
    what: &str,
    give_up_after: Option<Duration>,
    shutdown: &Shutdown,
    mut attempt: F,
) -> Result<T, Stopped<E>>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut delays = reconnect_backoff();
    loop {
        if shutdown.is_triggered() {
            return Err(Stopped::Shutdown);
        }
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if give_up_after.is_some_and(|limit| started.elapsed() >= limit) {
            return Err(Stopped::GaveUp(err));
        }
        let delay = delays.next().unwrap_or(MAX_RECONNECT_DELAY);
        tracing::warn!(error = %err, retry_in = ?delay, "{what} failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait() => return Err(Stopped::Shutdown),
        }
    }
}

/// Keeps a session running until shutdown: `session` connects and serves
/// until it ends. `Ok` (a clean end, e.g. its own shutdown) starts the next
/// one at once; `Err` (the connection was lost) is logged and the next one
/// starts after a [`reconnect_backoff`] delay, which a session that had come
/// up resets.
pub async fn keep_alive<F, Fut>(what: &str, shutdown: &Shutdown, mut session: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut delays = reconnect_backoff();
    while !shutdown.is_triggered() {
        let began = Instant::now();
        match session().await {
            Ok(()) => delays = reconnect_backoff(),
            Err(err) => {
                // A session that ran a while was healthy: start over at once.
                if began.elapsed() > MAX_RECONNECT_DELAY {
                    delays = reconnect_backoff();
                }
                let delay = delays.next().unwrap_or(MAX_RECONNECT_DELAY);
                tracing::error!(error = %format!("{err:#}"), retry_in = ?delay, "{what} lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retry_is_immediate_and_later_ones_are_capped() {
        let delays: Vec<Duration> = reconnect_backoff().take(200).collect();
        assert_eq!(delays[0], Duration::ZERO);
        assert!(delays[1] >= Duration::from_millis(100));
        // Jittered, never past the documented cap, and reaching it.
        assert!(
            delays.iter().all(|d| *d <= MAX_RECONNECT_DELAY),
            "{delays:?}"
        );
        assert!(delays[100..].contains(&MAX_RECONNECT_DELAY));
        assert!(
            delays[1..10].windows(2).any(|w| w[0] != w[1]),
            "jittered: {delays:?}"
        );
    }

    #[tokio::test]
    async fn until_ok_retries_until_success_and_gives_up_after_its_limit() {
        let shutdown = Shutdown::new();
        let mut calls = 0;
        let got = until_ok("thing", None, &shutdown, || {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err("down") } else { Ok(n) } }
        })
        .await;
        assert_eq!(got, Ok(3));

        let never = until_ok("thing", Some(Duration::ZERO), &shutdown, || async {
            Err::<(), _>("down")
        })
        .await;
        assert_eq!(never, Err(Stopped::GaveUp("down")));

        shutdown.trigger();
        let stopped = until_ok("thing", None, &shutdown, || async { Err::<(), _>("down") }).await;
        assert_eq!(stopped, Err(Stopped::Shutdown));
    }
}

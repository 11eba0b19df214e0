//! Waiting for something to become true without sleeping blindly: one
//! polling helper behind every wait in the suite.

use std::time::Duration;

/// Fetches every 25 ms until `done` holds for what came back or `limit`
/// passes; returns the last value fetched.
pub async fn poll<T, F, Fut>(limit: Duration, mut fetch: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let value = fetch().await;
        if done(&value) || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `check` until it returns true (`true`) or `limit` passes (`false`).
pub async fn eventually<F, Fut>(limit: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll(limit, check, |ok| *ok).await
}

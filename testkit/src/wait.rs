//! Waiting on conditions with deadlines, so no test sleeps a fixed time and hopes.

use std::future::Future;
use std::time::Duration;

/// How often conditions are checked: often enough not to slow a test down, rarely enough
/// not to load the two cores every test shares.
pub const POLL: Duration = Duration::from_millis(20);

/// Checks `check` every [`POLL`] until it returns true or `deadline` passes; true when it
/// held.
pub async fn wait_for<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_for`] with a condition that needs no waiting itself.
pub async fn wait_until(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    wait_for(deadline, || std::future::ready(check())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_condition_that_holds_returns_at_once_and_one_that_never_does_times_out() {
        assert!(wait_until(Duration::ZERO, || true).await);
        let start = std::time::Instant::now();
        assert!(!wait_until(Duration::from_millis(60), || false).await);
        assert!(start.elapsed() >= Duration::from_millis(60));
    }

    #[tokio::test]
    async fn a_condition_is_checked_until_it_holds() {
        let mut calls = 0;
        assert!(
            wait_until(Duration::from_secs(5), || {
                calls += 1;
                calls == 3
            })
            .await
        );
        assert_eq!(calls, 3);
    }
}

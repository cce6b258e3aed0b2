//! A shared cap on request starts per second (`api.max_requests_per_second`).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces request starts at least `interval` apart, across every task that shares it.
///
/// Each caller reserves the next free slot (`max(now, previous slot + interval)`) under a
/// lock and then sleeps until its slot with the lock released, so waiting callers never
/// block one another and slots are handed out in arrival order.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Minimum gap between two starts; `None` when there is no cap.
    interval: Option<Duration>,
    /// The earliest instant the next request may start. `std::sync::Mutex` because it is
    /// held for a comparison and an addition only, never across an `.await`.
    next_slot: Mutex<Instant>,
}

impl Pacer {
    /// A pacer for `per_second` starts per second; zero, negative or non-finite means no cap.
    pub(crate) fn new(per_second: f64) -> Self {
        let interval = (per_second.is_finite() && per_second > 0.0)
            .then(|| Duration::try_from_secs_f64(1.0 / per_second).ok())
            .flatten()
            .filter(|d| !d.is_zero());
        Self {
            interval,
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits until this caller may start a request.
    pub(crate) async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = {
            let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
            let slot = (*next).max(Instant::now());
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_negative_and_non_finite_rates_mean_no_cap() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(Pacer::new(rate).interval, None, "rate {rate}");
        }
        assert_eq!(Pacer::new(50.0).interval, Some(Duration::from_millis(20)));
    }

    #[tokio::test]
    async fn starts_are_spaced_by_the_interval() {
        let pacer = Pacer::new(100.0);
        let start = Instant::now();
        for _ in 0..6 {
            pacer.wait().await;
        }
        // Six starts at 100/s: the sixth is at least five intervals after the first.
        assert!(
            start.elapsed() >= Duration::from_millis(50),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn uncapped_pacer_does_not_wait() {
        let pacer = Pacer::new(0.0);
        let start = Instant::now();
        for _ in 0..1000 {
            pacer.wait().await;
        }
        assert!(start.elapsed() < Duration::from_millis(500));
    }
}

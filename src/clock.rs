//! Time as a dependency.
//!
//! Rule evaluation, `for` durations, reminders and stale-sync checks all ask a [`Clock`]
//! for "now" instead of calling `SystemTime::now()` themselves, so tests move time by hand
//! ([`ManualClock`]) and never sleep.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// A clock shared between the daemon's parts.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    /// The time it reports. `std::sync::Mutex` because it is held for a copy only.
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A clock standing at a fixed, round instant (2026-01-01T00:00:00Z).
    pub fn at_epoch_2026() -> Self {
        Self::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: SystemTime) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Seconds since the Unix epoch as a float (negative before 1970), as Prometheus wants them.
pub fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The instant `seconds` after the Unix epoch (the form the model keeps upstream timestamps
/// in); before 1970 is the epoch itself. `seconds` must be finite, as the model's parsers
/// make every timestamp they keep.
pub fn from_unix_seconds(seconds: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0))
}

/// RFC 3339 text of `t` in UTC, with second precision (e.g. `2026-01-01T00:00:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    let odt = odt.replace_nanosecond(0).unwrap_or(odt);
    odt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("{}", unix_seconds(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at_epoch_2026();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now().duration_since(t0).unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn formats_rfc3339_in_utc() {
        let c = ManualClock::at_epoch_2026();
        assert_eq!(rfc3339(c.now()), "2026-01-01T00:00:00Z");
        assert_eq!(unix_seconds(c.now()), 1_767_225_600.0);
    }
}

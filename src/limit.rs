//! The protective limits against a hostile or broken upstream, by name.
//!
//! A leaf on purpose: `upstream` counts their hits and `metrics` labels its counter with
//! them (and counts the label values it cuts), and neither should have to know the other.

/// A protective limit: the `limit` label of `inventory_monitor_upstream_limit_hits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Limit {
    /// A list or detail body longer than `api.max_body_size`.
    MaxBodySize,
    /// More profiles listed than `api.max_profiles`.
    MaxProfiles,
    /// A label value longer than `api.max_label_length` (cut when rendering metrics).
    MaxLabelLength,
    /// A value that cannot be true (negative count, timestamp before 2000 or far in the
    /// future), treated as unknown.
    AbsurdValue,
}

impl Limit {
    /// Every limit, in label order.
    pub const ALL: [Limit; 4] = [
        Limit::MaxBodySize,
        Limit::MaxProfiles,
        Limit::MaxLabelLength,
        Limit::AbsurdValue,
    ];

    /// The label value: the configuration key of the limit, or `absurd_value`.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxBodySize => "max_body_size",
            Limit::MaxProfiles => "max_profiles",
            Limit::MaxLabelLength => "max_label_length",
            Limit::AbsurdValue => "absurd_value",
        }
    }
}

/// A steady condition checked once per sweep (a limit hit, a list that cannot be read),
/// told when it starts and when it stops rather than on every sweep it holds: a condition
/// that lasts a day would otherwise log the same line 17,280 times at a 5 s interval.
/// The counters keep counting every sweep; only the log is latched.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Latch {
    /// Sweeps in a row the condition has held (0: it does not hold).
    held: u64,
}

/// A change [`Latch::observe`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The condition holds, and did not in the sweep before.
    Started,
    /// The condition no longer holds, after holding for `sweeps` observations in a row
    /// (sweeps, or delivery attempts for a receiver).
    Stopped {
        /// How many observations in a row it held.
        sweeps: u64,
    },
}

impl Latch {
    /// Takes this sweep's observation; answers the edge to tell, if any.
    pub fn observe(&mut self, holds: bool) -> Option<Edge> {
        match (holds, self.held) {
            (true, 0) => {
                self.held = 1;
                Some(Edge::Started)
            }
            (true, n) => {
                self.held = n.saturating_add(1);
                None
            }
            (false, 0) => None,
            (false, n) => {
                self.held = 0;
                Some(Edge::Stopped { sweeps: n })
            }
        }
    }

    /// True while the condition holds.
    pub fn holds(&self) -> bool {
        self.held > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latch_tells_the_start_and_the_stop_of_a_condition_once_each() {
        let mut latch = Latch::default();
        assert_eq!(
            latch.observe(false),
            None,
            "nothing to tell while all is well"
        );
        assert_eq!(latch.observe(true), Some(Edge::Started));
        assert!(latch.holds());
        for _ in 0..5 {
            assert_eq!(latch.observe(true), None, "a steady condition is told once");
        }
        assert_eq!(latch.observe(false), Some(Edge::Stopped { sweeps: 6 }));
        assert!(!latch.holds());
        assert_eq!(latch.observe(false), None);
        // It starts again: told again, and its length counts afresh.
        assert_eq!(latch.observe(true), Some(Edge::Started));
        assert_eq!(latch.observe(false), Some(Edge::Stopped { sweeps: 1 }));
    }
}

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

//! The limits that keep a hostile or broken upstream from costing us more than a bounded
//! amount of memory, time or series, and how their hits are reported.
//!
//! Every hit is counted at once in `inventory_monitor_upstream_limit_hits_total{limit}`
//! and tallied for the sweep under way; the sweep takes the tally at its end
//! ([`super::UpstreamClient::take_limit_report`]) and logs it as **one** summary line. A
//! misbehaving upstream hits a limit on every profile of every sweep, and one log line per
//! profile would drown everything else (and cost more than the answer itself).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use crate::limit::{Latch, Limit};
use crate::model::AbsurdValue;

/// What the sweeps of one client have told the log about their steady conditions: each is
/// told when it starts and when it stops, not on every sweep it holds (README, Behaviour in
/// detail). Kept by the client, so a reload (a new client) tells what still holds once
/// more.
#[derive(Debug, Default)]
pub struct Told {
    /// Per protective limit the sweep reports (all but `max_label_length`, which the
    /// renderer tells).
    pub limits: BTreeMap<Limit, Latch>,
    /// Profiles whose detail could not be read.
    pub details: Latch,
    /// The list walk did not complete.
    pub list: Latch,
    /// How, at the last sweep (incomplete, or the kind of failure): another kind is told
    /// too.
    pub list_problem: Option<&'static str>,
}

/// Counts limit hits into the metric (once one is attached) and into the sweep's tally.
#[derive(Default)]
pub(crate) struct LimitHits {
    /// `inventory_monitor_upstream_limit_hits_total{limit}`, when attached.
    counter: OnceLock<prometheus::IntCounterVec>,
    /// What the sweep under way has hit so far.
    tally: Mutex<LimitReport>,
}

impl LimitHits {
    /// Attaches the counter; only the first attachment counts.
    pub(crate) fn attach(&self, counter: prometheus::IntCounterVec) {
        let _ = self.counter.set(counter);
    }

    /// A body over `api.max_body_size` on `endpoint` (`list` or `detail`).
    pub(crate) fn body_too_large(&self, endpoint: &'static str) {
        self.count(Limit::MaxBodySize, 1);
        *self.tally().oversized.entry(endpoint).or_default() += 1;
    }

    /// The profile cap cut the sweep short; `what` says by how much (no secrets).
    pub(crate) fn profiles_capped(&self, what: String) {
        self.count(Limit::MaxProfiles, 1);
        self.tally().capped.push(what);
    }

    /// Absurd values found in profile `id`'s detail (`None` for a list page).
    pub(crate) fn absurd(&self, id: Option<u64>, values: &[AbsurdValue]) {
        if values.is_empty() {
            return;
        }
        self.count(Limit::AbsurdValue, values.len() as u64);
        let mut tally = self.tally();
        for value in values {
            let seen = tally.absurd.entry(*value).or_insert((0, id));
            seen.0 += 1;
        }
    }

    /// The tally of the sweep so far, leaving an empty one.
    pub(crate) fn take(&self) -> LimitReport {
        std::mem::take(&mut *self.tally())
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, LimitReport> {
        // A panic elsewhere while holding the lock leaves a consistent tally.
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, limit: Limit, n: u64) {
        if let Some(counter) = self.counter.get() {
            // `get_metric_with_label_values`: a counter with other labels costs a metric,
            // not a panic.
            if let Ok(c) = counter.get_metric_with_label_values(&[limit.as_str()]) {
                c.inc_by(n);
            }
        }
    }
}

/// The limits one sweep hit, for its one summary log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitReport {
    /// Bodies over `api.max_body_size`, per endpoint.
    oversized: BTreeMap<&'static str, u64>,
    /// What `api.max_profiles` cut.
    capped: Vec<String>,
    /// Absurd values by field and problem: how many, and the first profile they came
    /// from (`None`: a list page).
    absurd: BTreeMap<AbsurdValue, (u64, Option<u64>)>,
}

impl LimitReport {
    /// True when no limit was hit.
    pub fn is_empty(&self) -> bool {
        self.oversized.is_empty() && self.capped.is_empty() && self.absurd.is_empty()
    }

    /// How often `limit` was hit (label lengths are not counted here: the renderer
    /// reports them).
    pub fn hits(&self, limit: Limit) -> u64 {
        match limit {
            Limit::MaxBodySize => self.oversized.values().sum(),
            Limit::MaxProfiles => self.capped.len() as u64,
            Limit::MaxLabelLength => 0,
            Limit::AbsurdValue => self.absurd.values().map(|(n, _)| n).sum(),
        }
    }
}

impl fmt::Display for LimitReport {
    /// `max_body_size: 2 (detail 2); absurd_value: 3 (sync_record_count negative ×2,
    /// first in profile 17; ...)`: counts and field names, never a value or a body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if !self.oversized.is_empty() {
            let per: Vec<String> = self
                .oversized
                .iter()
                .map(|(endpoint, n)| format!("{endpoint} {n}"))
                .collect();
            parts.push(format!(
                "max_body_size: {} ({})",
                self.hits(Limit::MaxBodySize),
                per.join(", ")
            ));
        }
        if !self.capped.is_empty() {
            parts.push(format!(
                "max_profiles: {} ({})",
                self.capped.len(),
                self.capped.join("; ")
            ));
        }
        if !self.absurd.is_empty() {
            let per: Vec<String> = self
                .absurd
                .iter()
                .map(|(value, (n, first))| match first {
                    Some(id) => format!("{value} ×{n}, first in profile {id}"),
                    None => format!("{value} ×{n}, in a list page"),
                })
                .collect();
            parts.push(format!(
                "absurd_value: {} ({})",
                self.hits(Limit::AbsurdValue),
                per.join("; ")
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Absurdity;

    fn counter() -> prometheus::IntCounterVec {
        prometheus::IntCounterVec::new(prometheus::Opts::new("hits", "hits"), &["limit"])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn hits_are_counted_and_summarised_once() {
        let hits = LimitHits::default();
        let metric = counter();
        hits.attach(metric.clone());
        hits.body_too_large("detail");
        hits.body_too_large("detail");
        hits.body_too_large("list");
        hits.profiles_capped("the API lists 9 profiles; 5 were read".to_string());
        let negative = AbsurdValue {
            field: "sync_record_count",
            problem: Absurdity::Negative,
        };
        let future = AbsurdValue {
            field: "last_sync",
            problem: Absurdity::FarFuture,
        };
        hits.absurd(Some(17), &[negative, future]);
        hits.absurd(Some(4), &[negative]);
        hits.absurd(None, &[]);

        let count = |limit: Limit| metric.with_label_values(&[limit.as_str()]).get();
        assert_eq!(count(Limit::MaxBodySize), 3);
        assert_eq!(count(Limit::MaxProfiles), 1);
        assert_eq!(count(Limit::AbsurdValue), 3);
        assert_eq!(count(Limit::MaxLabelLength), 0);

        let report = hits.take();
        assert_eq!(report.hits(Limit::AbsurdValue), 3);
        assert_eq!(
            report.to_string(),
            "max_body_size: 3 (detail 2, list 1); \
             max_profiles: 1 (the API lists 9 profiles; 5 were read); \
             absurd_value: 3 (last_sync more than a day in the future ×1, first in profile 17; \
             sync_record_count negative ×2, first in profile 17)"
        );
        // Taking the report starts the next sweep's tally afresh; the metric goes on.
        assert!(hits.take().is_empty());
        assert_eq!(count(Limit::MaxBodySize), 3);
    }

    #[test]
    fn without_a_counter_the_tally_still_works() {
        let hits = LimitHits::default();
        hits.body_too_large("list");
        assert_eq!(hits.take().hits(Limit::MaxBodySize), 1);
    }

    #[test]
    fn a_counter_with_other_labels_is_not_a_panic() {
        let hits = LimitHits::default();
        hits.attach(
            prometheus::IntCounterVec::new(prometheus::Opts::new("x", "x"), &["a", "b"])
                .unwrap_or_else(|e| panic!("{e}")),
        );
        hits.body_too_large("list");
        assert_eq!(hits.take().hits(Limit::MaxBodySize), 1);
    }
}

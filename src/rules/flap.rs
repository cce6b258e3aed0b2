//! Flap detection (README, Flapping): per (profile, condition), whether the condition held in
//! each of the last `rules.flapping.window` sweeps in which the profile was judged, and
//! whether it is flapping.
//!
//! The measure is Nagios' weighted share of state changes: each change between two
//! neighbouring outcomes of the window weighs from 0.8 (the oldest possible change) to 1.2
//! (the newest), linearly, and the sum is divided by the number of possible changes
//! (`window - 1`). Flapping starts when the share exceeds `high` and stops only when it falls
//! below `low`: between the two, nothing changes (hysteresis).
//!
//! Before a profile is first judged, and once its condition has not held for a whole window,
//! the condition counts as "did not hold" in every sweep of the window. Such a history is not
//! stored at all, so a healthy fleet costs no memory and no allocation here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{FlappingRule, FLAP_WINDOW};
use crate::vocabulary::AlertName;

/// The weight of the oldest possible change in a window.
pub const OLDEST_WEIGHT: f64 = 0.8;

/// The weight of the newest possible change in a window.
pub const NEWEST_WEIGHT: f64 = 1.2;

/// One condition's recent outcomes and whether it flaps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// Bit `i` is set when the condition held `i` judged sweeps ago (bit 0: the newest).
    /// Bits beyond the window are always clear.
    bits: u128,
    /// Whether the condition is flapping now.
    flapping: bool,
}

impl History {
    /// A history from its outcomes, oldest first (`true`: the condition held).
    pub fn from_outcomes(outcomes: &[bool]) -> Self {
        let bits = outcomes
            .iter()
            .fold(0u128, |bits, &held| (bits << 1) | u128::from(held));
        Self {
            bits,
            flapping: false,
        }
    }

    /// Adds this sweep's outcome and decides whether the condition flaps now; returns that.
    pub fn record(&mut self, held: bool, rule: &FlappingRule) -> bool {
        let window = clamp_window(rule.window);
        self.bits = ((self.bits << 1) | u128::from(held)) & mask(window);
        let share = self.share(window);
        if !self.flapping && share > rule.high {
            self.flapping = true;
        } else if self.flapping && share < rule.low {
            self.flapping = false;
        }
        self.flapping
    }

    /// The weighted share of state changes over the last `window` outcomes (0 to 1).
    pub fn share(&self, window: u32) -> f64 {
        weighted_share(self.bits, window)
    }

    /// How many times the condition changed state within the last `window` outcomes.
    pub fn changes(&self, window: u32) -> u32 {
        let window = clamp_window(window);
        let bits = self.bits & mask(window);
        ((bits ^ (bits >> 1)) & mask(window - 1)).count_ones()
    }

    /// Whether the condition is flapping.
    pub fn is_flapping(&self) -> bool {
        self.flapping
    }

    /// True when the history says nothing a missing one does not: the condition did not
    /// hold in the whole window, and it is not flapping.
    fn is_quiet(&self) -> bool {
        self.bits == 0 && !self.flapping
    }
}

/// Nagios' weighted share of state changes of the outcomes in `bits` (bit 0: the newest)
/// over a window of `window` sweeps: the change between the sweeps `p` and `p + 1` ago
/// weighs 1.2 for `p = 0` down to 0.8 for the oldest pair, linearly; the sum is divided by
/// `window - 1`, the number of changes the window can hold.
pub fn weighted_share(bits: u128, window: u32) -> f64 {
    let window = clamp_window(window);
    let pairs = window - 1;
    let mut sum = 0.0;
    for p in 0..pairs {
        if ((bits >> p) ^ (bits >> (p + 1))) & 1 == 1 {
            // Position of the change counted from the oldest (0) to the newest (pairs - 1).
            let from_oldest = f64::from(pairs - 1 - p);
            sum += OLDEST_WEIGHT
                + (NEWEST_WEIGHT - OLDEST_WEIGHT) * from_oldest / f64::from(pairs - 1);
        }
    }
    sum / f64::from(pairs)
}

/// A window within [`FLAP_WINDOW`]; validation refuses others, this keeps the arithmetic safe.
fn clamp_window(window: u32) -> u32 {
    window.clamp(*FLAP_WINDOW.start(), *FLAP_WINDOW.end())
}

/// The low `n` bits set (`n` at most 100).
fn mask(n: u32) -> u128 {
    (1u128 << n) - 1
}

/// What one sweep says about one condition of one profile, for its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The profile was judged and the condition held.
    Held,
    /// The profile was judged and the condition did not hold.
    Cleared,
    /// Nothing is known this sweep (the detail could not be read): the history waits.
    Unknown,
    /// The condition is no longer watched (rule switched off, profile not judged): the
    /// history is forgotten.
    Forget,
}

/// Every watched condition's history, by profile and condition.
#[derive(Debug, Clone, Default)]
pub(super) struct Flaps {
    /// The histories that say more than "never held"; others are not stored.
    histories: BTreeMap<(u64, AlertName), History>,
}

impl Flaps {
    /// Records `outcome` of condition `name` on profile `id`; returns whether it flaps now.
    pub fn observe(
        &mut self,
        id: u64,
        name: AlertName,
        outcome: Outcome,
        rule: &FlappingRule,
    ) -> bool {
        let key = (id, name);
        let held = match outcome {
            Outcome::Held => true,
            Outcome::Cleared => false,
            Outcome::Unknown => return self.histories.get(&key).is_some_and(History::is_flapping),
            Outcome::Forget => {
                self.histories.remove(&key);
                return false;
            }
        };
        match self.histories.get_mut(&key) {
            Some(history) => {
                let flapping = history.record(held, rule);
                if history.is_quiet() {
                    self.histories.remove(&key);
                }
                flapping
            }
            // The common case: a condition that did not hold and has no history.
            None if !held => false,
            None => {
                let mut history = History::default();
                let flapping = history.record(true, rule);
                self.histories.insert(key, history);
                flapping
            }
        }
    }

    /// The history of condition `name` on profile `id`, when it says anything.
    pub fn get(&self, id: u64, name: AlertName) -> Option<&History> {
        self.histories.get(&(id, name))
    }

    /// Forgets every history (flap detection switched off).
    pub fn clear(&mut self) {
        self.histories.clear();
    }

    /// True when no history is kept.
    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }

    /// Keeps only the histories of profiles `keep` says yes to.
    pub fn retain_profiles(&mut self, mut keep: impl FnMut(u64) -> bool) {
        self.histories.retain(|(id, _), _| keep(*id));
    }

    /// The (profile, condition) pairs flapping now, in order.
    pub fn flapping(&self) -> impl Iterator<Item = (u64, AlertName)> + '_ {
        self.histories
            .iter()
            .filter(|(_, h)| h.flapping)
            .map(|(key, _)| *key)
    }

    /// The histories as saved in the state directory.
    pub fn records(&self) -> Vec<FlapRecord> {
        self.histories
            .iter()
            .map(|(&(profile_id, condition), h)| FlapRecord {
                profile_id,
                condition,
                outcomes: format!("{:b}", h.bits),
                flapping: h.flapping,
            })
            .collect()
    }

    /// Replaces the histories with saved ones. Records naming no watched condition, or with
    /// outcomes that are not a string of at most 100 `0`s and `1`s, are skipped.
    pub fn restore(&mut self, records: Vec<FlapRecord>) {
        self.histories.clear();
        for r in records {
            if !watched(r.condition)
                || r.outcomes.is_empty()
                || r.outcomes.len() > *FLAP_WINDOW.end() as usize
            {
                continue;
            }
            let Ok(bits) = u128::from_str_radix(&r.outcomes, 2) else {
                continue;
            };
            let history = History {
                bits,
                flapping: r.flapping,
            };
            if !history.is_quiet() {
                self.histories.insert((r.profile_id, r.condition), history);
            }
        }
    }
}

/// Whether flap detection watches condition `name`: every per-profile condition, not
/// `InventoryApiDown` (not about a profile) and not `ProfileFlapping` itself.
pub fn watched(name: AlertName) -> bool {
    !matches!(
        name,
        AlertName::InventoryApiDown | AlertName::ProfileFlapping
    )
}

/// One condition's history as saved in `state.dir/flapping.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlapRecord {
    /// The profile.
    pub profile_id: u64,
    /// The condition, by its alertname.
    pub condition: AlertName,
    /// Its outcomes, oldest first, newest last: `1` held, `0` did not (leading `0`s left
    /// out).
    pub outcomes: String,
    /// Whether it was flapping.
    pub flapping: bool,
}

/// Summary and description of the `ProfileFlapping` alert about `condition` of `subject`.
pub(super) fn texts(
    condition: AlertName,
    subject: &str,
    history: &History,
    rule: &FlappingRule,
) -> (String, String) {
    let window = clamp_window(rule.window);
    (
        format!("{condition} of {subject} keeps changing"),
        format!(
            "{condition} changed state {} times in the last {window} sweeps (weighted share \
             of changes {}, flapping above {} until below {}). Its own alert is not \
             announced while it flaps; this alert speaks for it.",
            history.changes(window),
            percent(history.share(window)),
            percent(rule.high),
            percent(rule.low),
        ),
    )
}

/// Why `ProfileFlapping` about `condition` stopped, its share having fallen below `low`.
pub(super) fn stopped(
    condition: AlertName,
    history: Option<&History>,
    rule: &FlappingRule,
) -> String {
    let share = history.map_or(0.0, |h| h.share(rule.window));
    format!(
        "{condition} is steady again: the weighted share of changes is {}, below {}",
        percent(share),
        percent(rule.low)
    )
}

/// A share as a percentage with one decimal: `0.525` → `52.5%`.
fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

//! Maintenance windows (README, Maintenance windows): the `[[alerting.maintenance]]` blocks of
//! the config as a [`Suppressor`] that mutes the alerts they match while they are in force.
//!
//! Pure: every answer is about the `now` it is given, so tests move a clock instead of waiting.
//!
//! A recurring window is judged as Alertmanager judges a `time_interval`: the instant is turned
//! into the wall-clock time of the window's zone, and that is compared with the fields. So
//! around a change of the clocks a window follows the wall clock: an hour skipped in spring
//! (02:00 to 03:00 in Europe/Berlin on the last Sunday of March) is never in force, and an hour
//! that happens twice in autumn is in force both times.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use jiff::{SignedDuration, Timestamp};

use crate::config::{Config, Recurrence, Schedule, When};
use crate::matchers::{all_match, display_list};
use crate::suppress::{InForce, Labels, Suppressor};
use crate::vocabulary::Suppression;

#[cfg(test)]
mod tests;

/// How far from `now` the start and end of a recurring window's occurrence are looked for.
/// Beyond it the status page shows no start or end: the window is in force for over a month.
pub const SCAN_LIMIT: SignedDuration = SignedDuration::from_hours(35 * 24);

/// What [`Suppressor::in_force`] answered, and for which instant.
type InForceAt = (SystemTime, Vec<InForce>);

/// The maintenance windows of one configuration.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    /// The windows, in the file's order.
    windows: Vec<Schedule>,
    /// The last answer of [`Suppressor::in_force`] and the instant it was for: the status
    /// page asks about the same instant (its sweep's) on every request until the next
    /// sweep, and finding an occurrence's bounds scans minute by minute.
    in_force_cache: Arc<Mutex<Option<InForceAt>>>,
}

impl Windows {
    /// The windows of `config`'s `[[alerting.maintenance]]`. The config was validated when
    /// loaded; a window that does not read (which validation refuses) is left out.
    pub fn from_config(config: &Config) -> Self {
        let windows = config
            .alerting
            .maintenance
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.schedule(&format!("alerting.maintenance[{i}]")).ok())
            .collect();
        Self {
            windows,
            in_force_cache: Arc::default(),
        }
    }

    /// The windows, in the file's order.
    pub fn schedules(&self) -> &[Schedule] {
        &self.windows
    }
}

impl Suppressor for Windows {
    fn suppressions(&self, labels: &dyn Labels, now: SystemTime) -> Vec<Suppression> {
        let Some(now) = timestamp(now) else {
            return Vec::new();
        };
        self.windows
            .iter()
            .filter(|w| in_force(&w.when, now) && all_match(&w.matchers, |n| labels.label(n)))
            .map(|w| Suppression::Maintenance {
                name: w.name.clone(),
            })
            .collect()
    }

    fn in_force(&self, now: SystemTime) -> Vec<InForce> {
        let mut cache = self
            .in_force_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((at, answer)) = cache.as_ref() {
            if *at == now {
                return answer.clone();
            }
        }
        let answer = self.find_in_force(now);
        *cache = Some((now, answer.clone()));
        answer
    }
}

impl Windows {
    /// The windows in force at `now`, with their current occurrence's bounds.
    fn find_in_force(&self, at: SystemTime) -> Vec<InForce> {
        let Some(now) = timestamp(at) else {
            return Vec::new();
        };
        self.windows
            .iter()
            .filter(|w| in_force(&w.when, now))
            .map(|w| {
                let (starts_at, ends_at) = occurrence(&w.when, now);
                InForce {
                    what: Suppression::Maintenance {
                        name: w.name.clone(),
                    },
                    matchers: display_list(&w.matchers),
                    starts_at: starts_at.map(SystemTime::from),
                    ends_at: ends_at.map(SystemTime::from),
                    created_by: String::new(),
                    comment: String::new(),
                }
            })
            .collect()
    }
}

/// `now` as a [`Timestamp`]; `None` only for instants outside years -9999..=9999.
fn timestamp(now: SystemTime) -> Option<Timestamp> {
    Timestamp::try_from(now).ok()
}

/// Whether a window is in force at `at`.
pub fn in_force(when: &When, at: Timestamp) -> bool {
    match when {
        When::Once { starts_at, ends_at } => *starts_at <= at && at < *ends_at,
        When::Recurring(r) => contains(r, at),
    }
}

/// Whether the wall clock of `at` in the recurrence's zone matches every field given.
pub fn contains(r: &Recurrence, at: Timestamp) -> bool {
    let dt = r.location.to_datetime(at);
    let minute = i16::from(dt.hour()) * 60 + i16::from(dt.minute());
    let (day, days) = (dt.day(), dt.date().days_in_month());
    let weekday = dt.weekday().to_sunday_zero_offset();
    any(&r.times, |&(s, e)| {
        i16::try_from(s).is_ok_and(|s| s <= minute) && i16::try_from(e).is_ok_and(|e| minute < e)
    }) && any(&r.days_of_month, |&(b, e)| day_in_range(day, days, b, e))
        && any(&r.months, |&(b, e)| (b..=e).contains(&dt.month()))
        && any(&r.weekdays, |&(b, e)| (b..=e).contains(&weekday))
        && any(&r.years, |&(b, e)| (b..=e).contains(&dt.year()))
}

/// An absent field matches everything; a field given, when any of its entries does.
fn any<T>(field: &Option<Vec<T>>, test: impl Fn(&T) -> bool) -> bool {
    field.as_ref().is_none_or(|list| list.iter().any(test))
}

/// Whether day `day` of a month of `days` days is in `begin..=end`, negative days counting
/// from the last (-1): Alertmanager's rule, clamped to the month, so `-31:-1` is every day
/// of February and `29:31` no day of February 2027.
pub fn day_in_range(day: i8, days: i8, begin: i8, end: i8) -> bool {
    let resolve = |d: i8| if d < 0 { days + d + 1 } else { d };
    let (begin, end) = (resolve(begin), resolve(end));
    if begin > days {
        return false;
    }
    begin.clamp(-days, days) <= day && day <= end.clamp(-days, days)
}

/// The start and end of the occurrence of the window in force at `at`: exact for a one-off
/// window; for a recurring one, the first instant of the unbroken stretch in force that holds
/// `at` and the first instant after it, each `None` when beyond [`SCAN_LIMIT`].
///
/// A stretch can only begin or end on a whole minute (zones move their clocks by whole
/// minutes), so the scan steps minute by minute from the minute holding `at`.
pub fn occurrence(when: &When, at: Timestamp) -> (Option<Timestamp>, Option<Timestamp>) {
    let r = match when {
        When::Once { starts_at, ends_at } => return (Some(*starts_at), Some(*ends_at)),
        When::Recurring(r) => r,
    };
    let minute = SignedDuration::from_mins(1);
    let Ok(first) = at.round(
        jiff::TimestampRound::new()
            .smallest(jiff::Unit::Minute)
            .mode(jiff::RoundMode::Trunc),
    ) else {
        return (None, None);
    };
    let steps = SCAN_LIMIT.as_mins();
    let mut start = None;
    let mut t = first;
    for _ in 0..steps {
        match t.checked_sub(minute) {
            Ok(before) if contains(r, before) => t = before,
            _ => {
                start = Some(t);
                break;
            }
        }
    }
    let mut end = None;
    let mut t = first;
    for _ in 0..steps {
        match t.checked_add(minute) {
            Ok(after) if contains(r, after) => t = after,
            Ok(after) => {
                end = Some(after);
                break;
            }
            Err(_) => break,
        }
    }
    (start, end)
}

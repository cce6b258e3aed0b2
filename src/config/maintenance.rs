//! `[[alerting.maintenance]]`: maintenance windows (README, Maintenance windows), as written
//! in the file and as read into a [`Schedule`].
//!
//! The file's values stay text in [`MaintenanceConfig`] so that one bad entry does not stop the
//! rest of the file from being read: [`MaintenanceConfig::schedule`] reads them all, and
//! reports every bad one with its key path. Validation and [`crate::maintenance`] both call it,
//! so a window means what `check` said it means.
//!
//! The recurring fields are Alertmanager's `time_interval` fields, with its rules: a weekday
//! range runs within one week (sunday first), a range of days of the month may count from the
//! end (`-3:-1`) but may not start from the end and finish from the start, `24:00` ends a day.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Problem;
use crate::matchers::Matcher;

/// `[[alerting.maintenance]]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Unique name, shown as `maintenance <name>` where an alert is suppressed.
    pub name: String,
    /// Alertmanager matchers; every one must match an alert's labels.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// IANA time zone of the recurring fields (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Wall-clock ranges, `[{ start = "22:00", end = "24:00" }]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<TimeRangeConfig>>,
    /// `monday`, `monday:friday`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<String>>,
    /// `1`, `-1`, `1:5`, `-3:-1` (as text or numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_month: Option<Vec<Entry>>,
    /// `january`, `1`, `june:august`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<Vec<Entry>>,
    /// `2027`, `2026:2027`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<Vec<Entry>>,
    /// One-off window: its start (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// One-off window: its end (RFC 3339, after `starts_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
}

/// One `{ start = "HH:MM", end = "HH:MM" }` of `times`. Both keys are required; a missing
/// one is reported by validation (so that the rest of the file is still read).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeConfig {
    /// `HH:MM`, from `00:00` to `23:59`.
    #[serde(default)]
    pub start: String,
    /// `HH:MM`, after `start`; `24:00` is the end of the day.
    #[serde(default)]
    pub end: String,
}

/// An entry of `days_of_month`, `months` or `years`: text (`"1:5"`, `"june"`) or a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// A whole number, `15` or `-1`.
    Number(i64),
    /// Text: a number, a name or a range.
    Text(String),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Entry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number like 15 or text like \"1:5\" or \"june\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Entry, E> {
                Ok(Entry::Number(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Entry, E> {
                i64::try_from(v)
                    .map(Entry::Number)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl Entry {
    fn text(&self) -> String {
        match self {
            Entry::Number(n) => n.to_string(),
            Entry::Text(t) => t.trim().to_string(),
        }
    }
}

/// A window read and checked: what [`crate::maintenance`] evaluates.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The window's name.
    pub name: String,
    /// Its matchers, parsed.
    pub matchers: Vec<Matcher>,
    /// When it is in force.
    pub when: When,
}

/// When a window is in force.
#[derive(Debug, Clone)]
pub enum When {
    /// Every instant whose wall clock in the zone matches every field given.
    Recurring(Recurrence),
    /// From `starts_at` (inclusive) to `ends_at` (exclusive).
    Once {
        /// The first instant in force.
        starts_at: Timestamp,
        /// The first instant no longer in force.
        ends_at: Timestamp,
    },
}

/// Alertmanager's `time_interval`: each field `None` matches everything; a field given matches
/// when any of its ranges does (inclusive ranges, except `times`, whose end is exclusive).
#[derive(Debug, Clone)]
pub struct Recurrence {
    /// The zone the wall clock is read in.
    pub location: TimeZone,
    /// Minutes of the day, `start..end` (end up to 1440).
    pub times: Option<Vec<(u16, u16)>>,
    /// Days of the week, 0 = sunday .. 6 = saturday.
    pub weekdays: Option<Vec<(i8, i8)>>,
    /// Days of the month, 1..=31 or counted from the end, -1 = the last day.
    pub days_of_month: Option<Vec<(i8, i8)>>,
    /// Months, 1 = january .. 12.
    pub months: Option<Vec<(i8, i8)>>,
    /// Years.
    pub years: Option<Vec<(i16, i16)>>,
}

/// The weekday names, sunday first (Alertmanager's numbering).
pub const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// The month names, january first.
pub const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Checks every window and that names are unique.
pub(super) fn check(windows: &[MaintenanceConfig], out: &mut Vec<Problem>) {
    let mut seen = std::collections::HashSet::new();
    for (i, window) in windows.iter().enumerate() {
        let at = format!("alerting.maintenance[{i}]");
        if !window.name.trim().is_empty() && !seen.insert(window.name.as_str()) {
            out.push(Problem::new(
                format!("{at}.name"),
                format!("duplicate maintenance window name {:?}", window.name),
            ));
        }
        if let Err(problems) = window.schedule(&at) {
            out.extend(problems);
        }
    }
}

impl MaintenanceConfig {
    /// Reads the window; `at` is its key path (`alerting.maintenance[1]`), which every
    /// problem's path starts with. Every problem found is in the error.
    pub fn schedule(&self, at: &str) -> Result<Schedule, Vec<Problem>> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(Problem::new(format!("{at}.name"), "must not be empty"));
        }
        let matchers = self.read_matchers(at, &mut out);
        let once = self.starts_at.is_some() || self.ends_at.is_some();
        let recurring = self.location.is_some()
            || self.times.is_some()
            || self.weekdays.is_some()
            || self.days_of_month.is_some()
            || self.months.is_some()
            || self.years.is_some();
        let when = if once && recurring {
            out.push(Problem::new(
                at,
                "a window is either one-off (starts_at, ends_at) or recurring (times, weekdays, \
                 days_of_month, months, years, location), not both: split it into two windows",
            ));
            None
        } else if once {
            self.read_once(at, &mut out)
        } else {
            self.read_recurrence(at, &mut out).map(When::Recurring)
        };
        match when {
            Some(when) if out.is_empty() => Ok(Schedule {
                name: self.name.clone(),
                matchers,
                when,
            }),
            _ => Err(out),
        }
    }

    fn read_matchers(&self, at: &str, out: &mut Vec<Problem>) -> Vec<Matcher> {
        if self.matchers.is_empty() {
            out.push(Problem::new(
                format!("{at}.matchers"),
                "must list at least one matcher, like ['organization=\"Legacy Systems\"'] \
                 (a window muting every alert would hide outages)",
            ));
        }
        let mut matchers = Vec::new();
        for (j, text) in self.matchers.iter().enumerate() {
            match Matcher::parse(text) {
                Ok(m) => matchers.push(m),
                Err(e) => out.push(Problem::new(format!("{at}.matchers[{j}]"), e.to_string())),
            }
        }
        matchers
    }

    fn read_once(&self, at: &str, out: &mut Vec<Problem>) -> Option<When> {
        let read = |key: &str, value: &Option<String>, out: &mut Vec<Problem>| match value {
            None => {
                out.push(Problem::new(
                    format!("{at}.{key}"),
                    "is required in a one-off window (with starts_at and ends_at)",
                ));
                None
            }
            Some(text) => match text.trim().parse::<Timestamp>() {
                Ok(t) => Some(t),
                Err(_) => {
                    out.push(Problem::new(
                        format!("{at}.{key}"),
                        format!(
                            "{text:?} is not an RFC 3339 time; write it like \
                             \"2027-01-09T22:00:00Z\" or \"2027-01-09T23:00:00+01:00\""
                        ),
                    ));
                    None
                }
            },
        };
        let starts_at = read("starts_at", &self.starts_at, out);
        let ends_at = read("ends_at", &self.ends_at, out);
        let (starts_at, ends_at) = (starts_at?, ends_at?);
        if ends_at <= starts_at {
            out.push(Problem::new(
                format!("{at}.ends_at"),
                format!("must be after starts_at ({starts_at}), got {ends_at}"),
            ));
            return None;
        }
        Some(When::Once { starts_at, ends_at })
    }

    fn read_recurrence(&self, at: &str, out: &mut Vec<Problem>) -> Option<Recurrence> {
        let before = out.len();
        let location = match self.location.as_deref().map(str::trim) {
            None => TimeZone::UTC,
            Some(name) => match zone(name) {
                Ok(tz) => tz,
                Err(why) => {
                    out.push(Problem::new(format!("{at}.location"), why));
                    TimeZone::UTC
                }
            },
        };
        let times = self.times.as_ref().map(|list| {
            let key = format!("{at}.times");
            nonempty(out, &key, list.len(), "time");
            list.iter()
                .enumerate()
                .filter_map(|(j, r)| match time_range(r) {
                    Ok(range) => Some(range),
                    Err((field, why)) => {
                        out.push(Problem::new(format!("{key}[{j}]{field}"), why));
                        None
                    }
                })
                .collect::<Vec<_>>()
        });
        let weekdays = ranges(out, at, "weekdays", self.weekdays.as_deref(), |s| {
            weekday_range(s)
        });
        let days_of_month = self.days_of_month.as_ref().map(|list| {
            let texts: Vec<String> = list.iter().map(Entry::text).collect();
            ranges(out, at, "days_of_month", Some(&texts), day_range).unwrap_or_default()
        });
        let months = self.months.as_ref().map(|list| {
            let texts: Vec<String> = list.iter().map(Entry::text).collect();
            ranges(out, at, "months", Some(&texts), month_range).unwrap_or_default()
        });
        let years = self.years.as_ref().map(|list| {
            let texts: Vec<String> = list.iter().map(Entry::text).collect();
            ranges(out, at, "years", Some(&texts), year_range).unwrap_or_default()
        });
        (out.len() == before).then_some(Recurrence {
            location,
            times,
            weekdays,
            days_of_month,
            months,
            years,
        })
    }
}

/// The time zone named `name`: from the system's database when there is one, else from the
/// copy built into the binary (a scratch container has none of its own).
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name.eq_ignore_ascii_case("local") {
        return Err(
            "\"Local\" is not accepted: the zone of the machine may differ from where the \
             window is meant (and a container has none); name the zone, like \"Europe/Berlin\""
                .to_string(),
        );
    }
    if name.is_empty() {
        return Err("must name an IANA time zone, like \"Europe/Berlin\" or \"UTC\"".to_string());
    }
    TimeZone::get(name).map_err(|_| {
        format!("{name:?} is not an IANA time zone; write it like \"Europe/Berlin\" or \"UTC\"")
    })
}

/// Reports an empty list (which would match nothing, ever).
fn nonempty(out: &mut Vec<Problem>, key: &str, len: usize, what: &str) {
    if len == 0 {
        out.push(Problem::new(
            key,
            format!("must list at least one {what} range; leave the key out to match every {what}"),
        ));
    }
}

/// Reads every entry of a list field with `read`, reporting each bad one at `at.key[j]`.
fn ranges<T>(
    out: &mut Vec<Problem>,
    at: &str,
    key: &str,
    list: Option<&[String]>,
    read: impl Fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    let list = list?;
    let path = format!("{at}.{key}");
    let what = match key {
        "weekdays" => "weekday",
        "days_of_month" => "day",
        "months" => "month",
        _ => "year",
    };
    nonempty(out, &path, list.len(), what);
    let mut read_ok = Vec::new();
    for (j, text) in list.iter().enumerate() {
        match read(text.trim()) {
            Ok(r) => read_ok.push(r),
            Err(why) => out.push(Problem::new(format!("{path}[{j}]"), why)),
        }
    }
    Some(read_ok)
}

/// `a` or `a:b`.
fn split(text: &str) -> (&str, &str) {
    match text.split_once(':') {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (text, text),
    }
}

/// A `times` entry as minutes of the day; the error names the field (`.start`, `.end`, or
/// nothing for the pair) and what is wrong.
fn time_range(r: &TimeRangeConfig) -> Result<(u16, u16), (&'static str, String)> {
    let start = minute_of_day(r.start.trim()).map_err(|why| (".start", why))?;
    let end = minute_of_day(r.end.trim()).map_err(|why| (".end", why))?;
    if start == 1440 {
        return Err((
            ".start",
            "24:00 is the end of a day; a range starts by 23:59".into(),
        ));
    }
    if end <= start {
        return Err((
            ".end",
            format!(
                "{:?} must be after start {:?} (a range ends the day it starts: for a night, \
                 write {{ start = {:?}, end = \"24:00\" }} and {{ start = \"00:00\", end = {:?} }})",
                r.end, r.start, r.start, r.end
            ),
        ));
    }
    Ok((start, end))
}

/// `HH:MM` (00:00..23:59, and 24:00) as minutes since midnight.
fn minute_of_day(text: &str) -> Result<u16, String> {
    if text.is_empty() {
        return Err("is required, like \"02:00\" (00:00 to 24:00)".to_string());
    }
    let bad = || format!("{text:?} is not a time of day; write it like \"02:00\" (00:00 to 24:00)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (24, 0) => Ok(1440),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

fn weekday_range(text: &str) -> Result<(i8, i8), String> {
    let (a, b) = split(text);
    let day = |name: &str| {
        WEEKDAYS
            .iter()
            .position(|w| w.eq_ignore_ascii_case(name))
            .map(|i| i as i8)
            .ok_or_else(|| {
                format!("{name:?} is not a weekday (monday..sunday or a range like monday:friday)")
            })
    };
    let (begin, end) = (day(a)?, day(b)?);
    if begin > end {
        return Err(format!(
            "{text:?}: a range of weekdays runs within one week, sunday to saturday; \
             list the days on both sides of the week's turn apart, like \"{a}\", \"{b}\""
        ));
    }
    Ok((begin, end))
}

fn day_range(text: &str) -> Result<(i8, i8), String> {
    let (a, b) = split(text);
    let day = |s: &str| match s.parse::<i8>() {
        Ok(d) if d != 0 && (-31..=31).contains(&d) => Ok(d),
        _ => Err(format!(
            "{s:?} is not a day of the month (1 to 31, or -1 to -31 counting from the last day, \
             or a range like 1:5 or -3:-1)"
        )),
    };
    let (begin, end) = (day(a)?, day(b)?);
    if begin < 0 && end > 0 {
        return Err(format!(
            "{text:?}: a range that starts counting from the end of the month must end so too \
             (like -3:-1)"
        ));
    }
    // As Alertmanager's check: a negative day read as `30 + d`, a range whose end comes
    // before its start is refused (`28:-1`, the 28th to the last day, is taken).
    let rough = |d: i8| if d < 0 { 30 + d } else { d };
    if rough(begin) > rough(end) {
        return Err(format!(
            "{text:?}: the end day is always before the start day"
        ));
    }
    Ok((begin, end))
}

fn month_range(text: &str) -> Result<(i8, i8), String> {
    let (a, b) = split(text);
    let month = |s: &str| {
        MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(s))
            .map(|i| i as i8 + 1)
            .or_else(|| s.parse::<i8>().ok().filter(|m| (1..=12).contains(m)))
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a month (january..december or 1..12, or a range like june:august)"
                )
            })
    };
    let (begin, end) = (month(a)?, month(b)?);
    if begin > end {
        return Err(format!(
            "{text:?}: the end month is before the start month (a range runs within one year)"
        ));
    }
    Ok((begin, end))
}

fn year_range(text: &str) -> Result<(i16, i16), String> {
    let (a, b) = split(text);
    let year = |s: &str| {
        s.parse::<i16>()
            .ok()
            .filter(|y| (1..=9999).contains(y))
            .ok_or_else(|| format!("{s:?} is not a year (like 2027, or a range like 2026:2027)"))
    };
    let (begin, end) = (year(a)?, year(b)?);
    if begin > end {
        return Err(format!("{text:?}: the end year is before the start year"));
    }
    Ok((begin, end))
}

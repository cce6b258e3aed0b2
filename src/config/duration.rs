//! Durations as humantime strings (`30s`, `5m`, `1h 30m`), for `#[serde(with = ...)]`.
//!
//! Written by hand rather than with `humantime_serde` for the errors: "expected a duration"
//! does not tell an operator what to write instead.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, Visitor};

/// What every duration error ends with.
const HINT: &str = "write durations like \"30s\", \"5m\" or \"1h 30m\"";

/// Writes `d` as an operator would (`1h 30m`).
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

/// Reads a duration string; a bare number is refused with a hint to add a unit.
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    from_text(d, "a duration like \"30s\", \"5m\" or \"1h 30m\"", |text| {
        parse_text(text, "a duration")
    })
}

/// Reads a string-valued duration-like setting with `read`; `expecting` is what a value of
/// the wrong type is told was expected. Bare numbers get the "add a unit" hint.
pub(super) fn from_text<'de, D: serde::Deserializer<'de>, T>(
    d: D,
    expecting: &'static str,
    read: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_any(TextVisitor {
        expecting,
        read,
        value: PhantomData,
    })
}

/// Parses `text`, or says in words why it is not a duration. `what` names what was
/// expected (`a duration`, or `"auto" or a duration`).
pub(super) fn parse_text(text: &str, what: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        use humantime::DurationError as E;
        let why = match e {
            E::Empty => ": it is empty".to_string(),
            E::UnknownUnit { unit, .. } if unit.is_empty() => ": the unit is missing".to_string(),
            E::UnknownUnit { unit, .. } => format!(": unknown unit {unit:?}"),
            E::NumberOverflow => ": it is too large".to_string(),
            _ => String::new(),
        };
        format!("{text:?} is not {what}{why}; {HINT}")
    })
}

/// Reads a period from the command line (`demo --interval`): a duration as in the config
/// file, and more than zero, since a sweep every 0 s is no schedule (and a zero period would
/// panic the timer). clap prefixes the argument's name to the message.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let period = parse_text(text, "a duration")?;
    if period.is_zero() {
        return Err(format!("must be more than 0s, got {text:?}"));
    }
    Ok(period)
}

/// A duration as an operator writes it (`1h 30m`), for messages.
pub(super) fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A bare TOML number where a duration string belongs.
fn bare_number(n: impl fmt::Display) -> String {
    format!("{n} is not a duration: durations are strings with a unit, like \"{n}s\" or \"{n}m\"")
}

/// Reads a string with `read` and refuses numbers with [`bare_number`].
struct TextVisitor<T> {
    /// What a value of another type is told was expected.
    expecting: &'static str,
    /// Turns the text into the value, or says why not.
    read: fn(&str) -> Result<T, String>,
    /// The value read.
    value: PhantomData<T>,
}

impl<T> Visitor<'_> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.read)(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Err(E::custom(bare_number(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Err(E::custom(bare_number(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Err(E::custom(bare_number(v)))
    }
}

//! `Retry-After` (RFC 9110 §10.2.3), read one way for everyone who is asked to wait: the
//! upstream API's client and the notification receivers.
//!
//! A value is delta-seconds (`120`; a fraction such as `1.5` is taken as it says) or an
//! HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), counted from `now`; a date in the past
//! means "now". A negative, non-finite or unreadable value says nothing (`None`), so the
//! caller falls back on its own backoff. Nothing is capped here: how long a wait may be is
//! the caller's business (a sweep and an outbox can afford very different waits).

use std::time::{Duration, SystemTime};

/// The wait a `Retry-After` value asks for, or `None` when it says nothing usable.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return from_seconds(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Seconds as a wait: `None` for a negative or non-finite number; a number too large for a
/// [`Duration`] is the longest one (the caller's cap then applies).
pub fn from_seconds(seconds: f64) -> Option<Duration> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        assert_eq!(parse("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse("soon", now), None);
        assert_eq!(parse("-5", now), None);
        assert_eq!(parse("", now), None);
    }

    #[test]
    fn fractions_count_and_nonsense_says_nothing() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(parse("1.5", now), Some(Duration::from_millis(1_500)));
        assert_eq!(parse("NaN", now), None);
        assert_eq!(parse("inf", now), None);
        assert_eq!(parse("1e300", now), Some(Duration::MAX));
        assert_eq!(from_seconds(-0.5), None);
    }
}

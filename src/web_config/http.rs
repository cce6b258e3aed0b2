//! `http_server_config` (the response headers an operator may set) and `rate_limit`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_norway::Value;

use crate::config::Problem;

/// Headers the file may set, as in the exporter toolkit (which keeps the list short on
/// purpose), with the values allowed where the header is an enumeration.
const CONFIGURABLE_HEADERS: &[(&str, &[&str])] = &[
    ("strict-transport-security", &[]),
    ("x-content-type-options", &["nosniff"]),
    ("x-frame-options", &["deny", "sameorigin"]),
    ("x-xss-protection", &[]),
    ("content-security-policy", &[]),
];

/// `rate_limit`: a token bucket refilled with one request every `interval`, holding at
/// most `burst`; requests beyond it get 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Time to earn one request.
    pub interval: Duration,
    /// Requests that may be made at once after a quiet spell.
    pub burst: u32,
}

/// `http_server_config` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    /// Accepted for compatibility; we always speak HTTP/1.1.
    #[allow(dead_code)]
    http2: Option<bool>,
    /// `headers`: name → value, checked against [`CONFIGURABLE_HEADERS`].
    headers: Option<BTreeMap<String, String>>,
}

/// `rate_limit` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRateLimit {
    /// `interval`: a duration as text, or 0 (off); any YAML so a wrong type is ours to word.
    interval: Option<Value>,
    /// `burst`.
    burst: Option<u32>,
}

impl RawHttp {
    /// The checked headers; each one refused is a problem in `out`.
    pub(super) fn headers(&self, out: &mut Vec<Problem>) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = Vec::new();
        for (name, value) in self.headers.iter().flatten() {
            let path = format!("http_server_config.headers.{name}");
            let lower = name.to_ascii_lowercase();
            let Some((_, allowed)) = CONFIGURABLE_HEADERS.iter().find(|(h, _)| *h == lower) else {
                out.push(Problem::new(
                    path,
                    "cannot be configured; allowed: Content-Security-Policy, X-Frame-Options, \
                     X-Content-Type-Options, X-XSS-Protection, Strict-Transport-Security",
                ));
                continue;
            };
            // Unset if blank, as in the toolkit.
            if value.is_empty() {
                continue;
            }
            if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
                out.push(Problem::new(
                    path,
                    format!("must be one of {}, got {value:?}", allowed.join(", ")),
                ));
                continue;
            }
            match (
                HeaderName::from_bytes(lower.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(n), Ok(v)) => headers.push((n, v)),
                _ => out.push(Problem::new(
                    path,
                    "holds characters not allowed in an HTTP header",
                )),
            }
        }
        headers
    }
}

impl RawRateLimit {
    /// The limit, `None` when it is off or (with a problem in `out`) wrong.
    pub(super) fn build(self, out: &mut Vec<Problem>) -> Option<RateLimit> {
        let interval = match &self.interval {
            None => Ok(Duration::ZERO),
            Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Duration::ZERO),
            Some(Value::String(s)) => humantime::parse_duration(s.trim())
                .map_err(|e| format!("{e}; write durations like \"1s\" or \"100ms\"")),
            Some(_) => Err(
                "must be a duration like \"1s\" or \"100ms\" (0 turns the limit off)".to_string(),
            ),
        };
        let interval = interval
            .map_err(|message| out.push(Problem::new("rate_limit.interval", message)))
            .ok()?;
        if interval.is_zero() {
            return None;
        }
        let burst = self.burst.unwrap_or(0);
        if burst == 0 {
            out.push(Problem::new(
                "rate_limit.burst",
                "must be at least 1 when rate_limit.interval is set (0 would refuse every request)",
            ));
            return None;
        }
        Some(RateLimit { interval, burst })
    }
}

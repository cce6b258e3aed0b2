//! `[api]`: the upstream API, its token and CA, and the protective limits ([`ByteSize`]).

use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secret::{read_secret, SecretSource};
use super::{
    between, duration, empty_path_is_none, io_reason, positive, process_env, Problem, Secret,
};

/// `[api]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Base URL of the API, e.g. `https://control.example.com/api/v1` (required).
    pub base_url: String,
    /// Environment variable holding the bearer token.
    pub token_env: Option<String>,
    /// File holding the bearer token (trailing newline trimmed).
    pub token_file: Option<PathBuf>,
    /// Passed as `?name=` to the list endpoint when not empty.
    pub name_filter: String,
    /// `limit` of each list request, 1..=100.
    pub page_size: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// Cap on requests started per second; 0 means no cap.
    pub max_requests_per_second: f64,
    /// Per-request timeout.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Retries per request on timeouts, connection errors, 5xx and 429.
    pub retries: u32,
    /// Extra PEM root certificate(s) for a private CA; `None` (or `""` in the file) for none.
    #[serde(deserialize_with = "empty_path_is_none")]
    pub ca_file: Option<PathBuf>,
    /// Largest list or detail body read; a longer one is treated as malformed.
    pub max_body_size: ByteSize,
    /// Profiles read per sweep at most; beyond it the walk stops, incomplete.
    pub max_profiles: u64,
    /// Longest metric label value taken from the upstream (names, organizations, states),
    /// in characters; longer ones are cut and end in `…`.
    pub max_label_length: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            token_env: None,
            token_file: None,
            name_filter: String::new(),
            page_size: 100,
            concurrency: 16,
            max_requests_per_second: 0.0,
            timeout: Duration::from_secs(10),
            retries: 3,
            ca_file: None,
            max_body_size: ByteSize(8 * 1024 * 1024),
            max_profiles: 200_000,
            max_label_length: 256,
        }
    }
}

/// A size in bytes, written in the file as a whole number of bytes or a string with a
/// unit: `"8MiB"`, `"512 KiB"`, `"1GiB"` (binary), `"10MB"`, `"500kB"` (decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `"8MiB"`, `"8 MiB"`, `"8388608"`; units are case-insensitive.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() {
            return Err(format!(
                "{text:?} is not a size; write sizes like \"8MiB\", \"512KiB\" or a number of bytes"
            ));
        }
        let number: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => {
                return Err(format!(
                    "{text:?} has an unknown unit {other:?}; use B, KiB, MiB, GiB, kB, MB or GB"
                ))
            }
        };
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= factor && self.0 % factor == 0 {
                return write!(f, "{} {unit}", self.0 / factor);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `8MiB` where a unit fits, else the number of bytes: both read back.
        match self.to_string().split_once(' ') {
            Some((n, unit)) if unit != "bytes" => s.collect_str(&format_args!("{n}{unit}")),
            _ => s.serialize_u64(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"8MiB\" or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("{v} is not a size: it is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

/// Smallest `api.max_body_size`: a list page of one profile does not fit in less.
pub const MIN_BODY_SIZE: ByteSize = ByteSize(1 << 10);

/// Largest `api.max_body_size`: more is no longer a defence.
pub const MAX_BODY_SIZE: ByteSize = ByteSize(1 << 30);

/// The token variable used when neither `token_env` nor `token_file` is set.
pub const DEFAULT_TOKEN_ENV: &str = "INVENTORY_API_TOKEN";

impl ApiConfig {
    /// The bearer token, from `token_file` or the `token_env` variable (by default
    /// `INVENTORY_API_TOKEN`), trailing whitespace trimmed.
    pub fn token(&self) -> Result<Secret, Problem> {
        self.token_with(&process_env)
    }

    /// [`ApiConfig::token`] with an injected environment.
    pub fn token_with(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Secret, Problem> {
        let (path, source) = match (&self.token_env, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err(Problem::new(
                    "api",
                    "token_env and token_file are both set; set only one",
                ))
            }
            (None, Some(file)) => ("api.token_file", SecretSource::File(file)),
            (Some(name), None) => ("api.token_env", SecretSource::Env(name)),
            (None, None) => ("api.token_env", SecretSource::Env(DEFAULT_TOKEN_ENV)),
        };
        let token = read_secret(path, &source, env)?;
        // The token travels in an `Authorization` header: refuse now, without showing it,
        // one that could never be sent.
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(Problem::new(
                path,
                format!(
                    "{} holds characters not allowed in an HTTP header",
                    source.describe()
                ),
            ));
        }
        Ok(Secret::new(token))
    }

    /// The PEM text of `ca_file`, or `None` when no extra root is configured.
    pub fn ca_pem(&self) -> Result<Option<Vec<u8>>, Problem> {
        const MARKER: &[u8] = b"-----BEGIN CERTIFICATE-----";
        let Some(file) = &self.ca_file else {
            return Ok(None);
        };
        let pem = fs::read(file).map_err(|e| {
            Problem::new(
                "api.ca_file",
                format!("cannot read {}: {}", file.display(), io_reason(&e)),
            )
        })?;
        if !pem.windows(MARKER.len()).any(|w| w == MARKER) {
            return Err(Problem::new(
                "api.ca_file",
                format!(
                    "{} holds no PEM certificate (no \"-----BEGIN CERTIFICATE-----\" line)",
                    file.display()
                ),
            ));
        }
        Ok(Some(pem))
    }

    /// Validates the section; `token` says whether to look the token up (`notify-test`
    /// does not need it, but still hears of `token_env` and `token_file` both set).
    pub(super) fn check(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        token: bool,
        out: &mut Vec<Problem>,
    ) {
        if self.base_url.trim().is_empty() {
            out.push(Problem::new(
                "api.base_url",
                "is required, e.g. \"https://control.example.com/api/v1\"",
            ));
        } else {
            match reqwest::Url::parse(&self.base_url) {
                Err(e) => out.push(Problem::new(
                    "api.base_url",
                    format!("is not a valid URL ({e})"),
                )),
                Ok(url) => {
                    if !matches!(url.scheme(), "http" | "https") {
                        out.push(Problem::new(
                            "api.base_url",
                            format!(
                                "must be an http or https URL, got scheme {:?}",
                                url.scheme()
                            ),
                        ));
                    }
                    // The client appends its own path and `?limit=&offset=`; a query of
                    // our own would be silently lost or doubled.
                    if url.query().is_some() {
                        out.push(Problem::new(
                            "api.base_url",
                            "must not have a query string (\"?...\"); use api.name_filter to filter by name",
                        ));
                    }
                    if url.fragment().is_some() {
                        out.push(Problem::new(
                            "api.base_url",
                            "must not have a fragment (\"#...\")",
                        ));
                    }
                }
            }
        }
        between(out, "api.page_size", self.page_size, 1, 100);
        between(out, "api.concurrency", self.concurrency, 1, 1024);
        let rps = self.max_requests_per_second;
        if !rps.is_finite() || rps < 0.0 {
            out.push(Problem::new(
                "api.max_requests_per_second",
                format!("must be 0 (no cap) or a positive number, got {rps}"),
            ));
        }
        positive(out, "api.timeout", self.timeout);
        if self.retries > 20 {
            out.push(Problem::new(
                "api.retries",
                format!("must be at most 20, got {}", self.retries),
            ));
        }
        let body = self.max_body_size;
        if !(MIN_BODY_SIZE..=MAX_BODY_SIZE).contains(&body) {
            out.push(Problem::new(
                "api.max_body_size",
                format!("must be between {MIN_BODY_SIZE} and {MAX_BODY_SIZE}, got {body}"),
            ));
        }
        if !(1..=10_000_000).contains(&self.max_profiles) {
            out.push(Problem::new(
                "api.max_profiles",
                format!("must be between 1 and 10000000, got {}", self.max_profiles),
            ));
        }
        between(
            out,
            "api.max_label_length",
            self.max_label_length,
            16,
            65_536,
        );
        if token {
            if let Err(p) = self.token_with(env) {
                out.push(p);
            }
        } else if self.token_env.is_some() && self.token_file.is_some() {
            out.push(Problem::new(
                "api",
                "token_env and token_file are both set; set only one",
            ));
        }
        if let Err(p) = self.ca_pem() {
            out.push(p);
        }
    }
}

//! The configuration file (SPEC §3): one serde struct per TOML section, unknown keys
//! refused, durations as humantime strings, every problem reported with its key path.
//!
//! Loading happens in two steps: [`parse`] turns TOML text into a [`Config`] (syntax, types,
//! unknown keys), then [`Config::validate`] checks ranges and that every referenced
//! environment variable and file exists. Both report [`Problem`]s that name the key;
//! [`load`] does both and refuses the file on any problem.
//!
//! Secrets (the API token, receiver URLs, webhook signing secrets) never live in [`Config`]
//! except a receiver's inline `url`, which `Debug` redacts. They are read when needed through
//! [`ApiConfig::token`], [`ReceiverConfig::url`] and [`ReceiverConfig::secret`], wrapped in a
//! [`Secret`], and no message about them ever quotes the value.
//!
//! Every lookup of the environment has a `_with` twin taking the environment as a function,
//! so tests inject variables instead of mutating the process environment that all test
//! threads share. Relative paths (`token_file`, `ca_file`, `url_file`, `state.dir`) are
//! relative to the working directory, as in the shell that started the daemon.

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A secret value (API token, webhook URL, signing secret). Never printed: `Debug` and
/// `Display` both show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One thing wrong with a configuration: the key path (`api.page_size`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `alerting.receivers[0].url_env`; empty for file-level problems.
    pub path: String,
    /// What is wrong, e.g. `must be between 1 and 100, got 500`.
    pub message: String,
}

impl Problem {
    /// A problem at key `path` (empty for the file as a whole).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[api]`: the upstream inventory-control API.
    pub api: ApiConfig,
    /// `[poll]`: the sweep schedule.
    pub poll: PollConfig,
    /// `[server]`: our HTTP endpoints.
    pub server: ServerConfig,
    /// `[state]`: where alert state and the outbox live.
    pub state: StateConfig,
    /// `[shard]`: this replica's share of the profiles.
    pub shard: ShardConfig,
    /// `[rules]`: what counts as unhealthy.
    pub rules: RulesConfig,
    /// `[alerting]`: grouping, reminders and receivers.
    pub alerting: AlertingConfig,
}

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
    #[serde(with = "duration_serde")]
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

/// `[poll]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// Time between the starts of two sweeps.
    #[serde(with = "duration_serde")]
    pub interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `0.0.0.0:9857`.
    pub listen: String,
    /// Web configuration file (TLS, client certificates, basic auth; the Prometheus
    /// exporter-toolkit format, see [`crate::web_config`]); `None` (or `""`) serves plain
    /// HTTP. `--web-config` wins over it.
    #[serde(
        deserialize_with = "empty_path_is_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_config: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:9857".to_string(),
            web_config: None,
        }
    }
}

/// `[state]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Directory for alert state and the notification outbox.
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("./data"),
        }
    }
}

/// `[shard]`
///
/// The file's values can be overridden from the environment, so that one config file (a
/// Kubernetes ConfigMap) serves every replica: [`SHARD_INDEX_ENV`] and [`SHARD_COUNT_ENV`]
/// replace `index` and `count`, and an index of `"auto"` (in the file or in
/// [`SHARD_INDEX_ENV`]) is the trailing `-N` of [`HOSTNAME_ENV`], the ordinal of a
/// StatefulSet pod, as kube-state-metrics' auto-sharding reads it from the pod name.
/// [`load`] applies them; [`ShardConfig::resolve_with`] computes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "ShardFile", into = "ShardFile")]
pub struct ShardConfig {
    /// This replica's index, `0..count`. After [`load`], the index in force (overrides and
    /// `"auto"` applied); after [`parse`] alone, the file's number (0 for `"auto"`).
    pub index: u32,
    /// Number of replicas sharing the profiles. After [`load`], the count in force.
    pub count: u32,
    /// `index = "auto"` in the file: the index comes from the trailing `-N` of `HOSTNAME`.
    pub index_from_hostname: bool,
}

impl Default for ShardConfig {
    fn default() -> Self {
        Self {
            index: 0,
            count: 1,
            index_from_hostname: false,
        }
    }
}

/// Overrides `shard.index`: a whole number, or `auto` for the trailing `-N` of `HOSTNAME`.
pub const SHARD_INDEX_ENV: &str = "INVENTORY_MONITOR_SHARD_INDEX";

/// Overrides `shard.count`.
pub const SHARD_COUNT_ENV: &str = "INVENTORY_MONITOR_SHARD_COUNT";

/// Where `shard.index = "auto"` reads the pod name (Kubernetes sets it to the pod's name;
/// a StatefulSet's pods are named `<statefulset>-<ordinal>`).
pub const HOSTNAME_ENV: &str = "HOSTNAME";

/// `[shard]` as written in the file: the index may be `"auto"`.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct ShardFile {
    index: ShardIndex,
    count: u32,
}

impl Default for ShardFile {
    fn default() -> Self {
        ShardConfig::default().into()
    }
}

impl From<ShardFile> for ShardConfig {
    fn from(file: ShardFile) -> Self {
        let (index, index_from_hostname) = match file.index {
            ShardIndex::Fixed(n) => (n, false),
            ShardIndex::Auto => (0, true),
        };
        Self {
            index,
            count: file.count,
            index_from_hostname,
        }
    }
}

impl From<ShardConfig> for ShardFile {
    fn from(config: ShardConfig) -> Self {
        Self {
            index: if config.index_from_hostname {
                ShardIndex::Auto
            } else {
                ShardIndex::Fixed(config.index)
            },
            count: config.count,
        }
    }
}

/// `shard.index`: a number, or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShardIndex {
    /// This index.
    Fixed(u32),
    /// The trailing `-N` of `HOSTNAME`.
    Auto,
}

impl Serialize for ShardIndex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ShardIndex::Fixed(n) => s.serialize_u32(*n),
            ShardIndex::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for ShardIndex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShardIndexVisitor)
    }
}

/// Reads `shard.index`, saying what to write instead of what Rust type was expected.
struct ShardIndexVisitor;

impl ShardIndexVisitor {
    const EXPECTED: &'static str = "a whole number from 0 to 4294967295, or \"auto\"";
}

impl<'de> serde::de::Visitor<'de> for ShardIndexVisitor {
    type Value = ShardIndex;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::EXPECTED)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ShardIndex, E> {
        u32::try_from(v)
            .map(ShardIndex::Fixed)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &Self::EXPECTED))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ShardIndex, E> {
        u64::try_from(v)
            .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &Self::EXPECTED))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ShardIndex, E> {
        if v.trim() == "auto" {
            Ok(ShardIndex::Auto)
        } else {
            Err(E::invalid_value(
                serde::de::Unexpected::Str(v),
                &Self::EXPECTED,
            ))
        }
    }
}

/// Where the index in force came from, for problems that name it.
enum IndexSource {
    /// `shard.index` in the file.
    File,
    /// The environment variable [`SHARD_INDEX_ENV`].
    Env,
    /// The trailing `-N` of this `HOSTNAME`.
    Hostname(String),
}

impl ShardConfig {
    /// The shard in force: the file's `index` and `count`, overridden by
    /// [`SHARD_INDEX_ENV`] and [`SHARD_COUNT_ENV`] when they are set (an empty value counts
    /// as unset), with an index of `"auto"` read from the trailing `-N` of [`HOSTNAME_ENV`].
    /// Every problem names the key and, when the value came from the environment, the
    /// variable.
    pub fn resolve_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::shard::Shard, Vec<Problem>> {
        let mut problems = Vec::new();
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        let (count, count_from_env) = match set(SHARD_COUNT_ENV) {
            None => (Some(self.count), false),
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) => (Some(n), true),
                Err(_) => {
                    problems.push(Problem::new(
                        "shard.count",
                        format!(
                            "environment variable {SHARD_COUNT_ENV} must be a whole number, got {text:?}"
                        ),
                    ));
                    (None, true)
                }
            },
        };

        let auto = |from: &str| -> Result<(u32, IndexSource), Problem> {
            let hostname = set(HOSTNAME_ENV).ok_or_else(|| {
                Problem::new(
                    "shard.index",
                    format!(
                        "\"auto\"{from} takes the index from the trailing -N of the {HOSTNAME_ENV} \
                         environment variable (a StatefulSet pod name such as inventory-monitor-2), \
                         but {HOSTNAME_ENV} is not set"
                    ),
                )
            })?;
            ordinal(&hostname)
                .map(|n| (n, IndexSource::Hostname(hostname.clone())))
                .ok_or_else(|| {
                    Problem::new(
                        "shard.index",
                        format!(
                            "\"auto\"{from} takes the index from the trailing -N of the {HOSTNAME_ENV} \
                             environment variable (a StatefulSet pod name such as inventory-monitor-2), \
                             but {HOSTNAME_ENV} is {hostname:?}"
                        ),
                    )
                })
        };
        let index = match set(SHARD_INDEX_ENV) {
            Some(text) if text.trim() == "auto" => auto(&format!(" (from {SHARD_INDEX_ENV})")),
            Some(text) => text
                .trim()
                .parse::<u32>()
                .map(|n| (n, IndexSource::Env))
                .map_err(|_| {
                    Problem::new(
                        "shard.index",
                        format!(
                            "environment variable {SHARD_INDEX_ENV} must be a whole number or \"auto\", got {text:?}"
                        ),
                    )
                }),
            None if self.index_from_hostname => auto(""),
            None => Ok((self.index, IndexSource::File)),
        };
        let index = match index {
            Ok(found) => Some(found),
            Err(p) => {
                problems.push(p);
                None
            }
        };

        if let Some(count) = count {
            let from = if count_from_env {
                format!(" (from environment variable {SHARD_COUNT_ENV})")
            } else {
                String::new()
            };
            if count == 0 {
                problems.push(Problem::new(
                    "shard.count",
                    format!("must be at least 1, got 0{from}"),
                ));
            } else if let Some((index, source)) = &index {
                if *index >= count {
                    let from = match source {
                        IndexSource::File => String::new(),
                        IndexSource::Env => {
                            format!(" (from environment variable {SHARD_INDEX_ENV})")
                        }
                        IndexSource::Hostname(name) => format!(
                            " (from {HOSTNAME_ENV} {name:?}; is shard.count the number of replicas?)"
                        ),
                    };
                    problems.push(Problem::new(
                        "shard.index",
                        format!("must be less than shard.count ({count}), got {index}{from}"),
                    ));
                }
            }
        }

        match (index, count) {
            (Some((index, _)), Some(count)) if problems.is_empty() => {
                Ok(crate::shard::Shard { index, count })
            }
            _ => Err(problems),
        }
    }
}

/// The `N` of a name ending in `-N` (`inventory-monitor-2` → 2).
fn ordinal(hostname: &str) -> Option<u32> {
    let (_, digits) = hostname.trim().rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `[rules]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Judge profiles whose status is not `active` too.
    pub include_inactive: bool,
    /// `[rules.connectivity]`
    pub connectivity: StateRule,
    /// `[rules.authentication]`
    pub authentication: StateRule,
    /// `[rules.sync_stale]`
    pub sync_stale: SyncStaleRule,
    /// `[rules.sync_failed]`
    pub sync_failed: SimpleRule,
    /// `[rules.errors]`
    pub errors: ErrorsRule,
    /// `[rules.unreachable]`
    pub unreachable: UnreachableRule,
}

/// A rule on a reported state (`connectivity`, `authentication`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", with = "duration_serde")]
    pub for_: Duration,
    /// `critical`, `warning` or `info`.
    pub severity: String,
}

impl Default for StateRule {
    fn default() -> Self {
        Self {
            enabled: true,
            for_: Duration::ZERO,
            severity: "critical".to_string(),
        }
    }
}

/// `[rules.sync_stale]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncStaleRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Age of the last sync after which it is stale.
    pub after: StaleAfter,
    /// Severity of the alert.
    pub severity: String,
}

impl Default for SyncStaleRule {
    fn default() -> Self {
        Self {
            enabled: true,
            after: StaleAfter::Auto,
            severity: "warning".to_string(),
        }
    }
}

/// `rules.sync_stale.after`: `"auto"` (2 × the profile's sync_frequency + 15m) or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleAfter {
    /// 2 × sync_frequency + 15 minutes, per profile.
    Auto,
    /// A fixed age.
    Fixed(Duration),
}

impl Serialize for StaleAfter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StaleAfter::Auto => s.serialize_str("auto"),
            StaleAfter::Fixed(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for StaleAfter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(duration_serde::StaleAfterVisitor)
    }
}

/// A rule with only `enabled` and `severity` (`[rules.sync_failed]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimpleRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Severity of the alert.
    pub severity: String,
}

impl Default for SimpleRule {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: "warning".to_string(),
        }
    }
}

/// `[rules.errors]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorsRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Fires when `error_count_24h >= threshold`.
    pub threshold: u64,
    /// Severity of the alert.
    pub severity: String,
}

impl Default for ErrorsRule {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 10,
            severity: "warning".to_string(),
        }
    }
}

/// `[rules.unreachable]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnreachableRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// Consecutive sweeps whose detail read failed before the alert fires.
    pub after_failures: u32,
    /// Severity of the alert.
    pub severity: String,
}

impl Default for UnreachableRule {
    fn default() -> Self {
        Self {
            enabled: true,
            after_failures: 3,
            severity: "warning".to_string(),
        }
    }
}

/// `[alerting]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Alerts that change within this window go out as one message per receiver.
    #[serde(with = "duration_serde")]
    pub group_wait: Duration,
    /// Reminder interval for alerts still firing.
    #[serde(with = "duration_serde")]
    pub repeat_interval: Duration,
    /// Announce resolved alerts too.
    pub send_resolved: bool,
    /// Undeliverable notifications older than this are dropped (and counted).
    #[serde(with = "duration_serde")]
    pub max_delivery_age: Duration,
    /// `[[alerting.receivers]]`
    pub receivers: Vec<ReceiverConfig>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            group_wait: Duration::from_secs(10),
            repeat_interval: Duration::from_secs(4 * 3600),
            send_resolved: true,
            max_delivery_age: Duration::from_secs(24 * 3600),
            receivers: Vec::new(),
        }
    }
}

/// The kinds of receiver (SPEC §3 `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// Slack incoming webhook.
    Slack,
    /// Microsoft Teams Workflows webhook.
    Teams,
    /// Discord webhook.
    Discord,
    /// Google Chat space webhook.
    GoogleChat,
    /// Mattermost incoming webhook.
    Mattermost,
    /// Any HTTP receiver taking Alertmanager's webhook payload.
    Webhook,
    /// An Alertmanager cluster (`POST /api/v2/alerts`).
    Alertmanager,
    /// One line per alert on stderr.
    Log,
}

impl ReceiverKind {
    /// The name used in the configuration file, e.g. `google_chat`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Slack => "slack",
            ReceiverKind::Teams => "teams",
            ReceiverKind::Discord => "discord",
            ReceiverKind::GoogleChat => "google_chat",
            ReceiverKind::Mattermost => "mattermost",
            ReceiverKind::Webhook => "webhook",
            ReceiverKind::Alertmanager => "alertmanager",
            ReceiverKind::Log => "log",
        }
    }
}

impl fmt::Display for ReceiverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[alerting.receivers]]`
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique name, used in logs and metrics (never the URL).
    pub name: String,
    /// What the receiver speaks.
    pub kind: ReceiverKind,
    /// The URL inline (discouraged: it is a secret).
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// File holding the URL.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Only alerts of these severities (empty: all).
    #[serde(default)]
    pub match_severity: Vec<String>,
    /// Only alerts of profiles of these organizations (empty: all).
    #[serde(default)]
    pub match_organization: Vec<String>,
    /// Only these alertnames (empty: all).
    #[serde(default)]
    pub match_alertname: Vec<String>,
    /// `webhook`: environment variable holding the HMAC-SHA256 secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `webhook`: file holding the HMAC-SHA256 secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// `webhook`: extra HTTP headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

impl fmt::Debug for ReceiverConfig {
    // Hand-written so that an inline `url` or header value never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("url_env", &self.url_env)
            .field("url_file", &self.url_file)
            .field("match_severity", &self.match_severity)
            .field("match_organization", &self.match_organization)
            .field("match_alertname", &self.match_alertname)
            .field("secret_env", &self.secret_env)
            .field("secret_file", &self.secret_file)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The severities a rule or a receiver's `match_severity` may name.
pub const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];

/// The alertnames of SPEC §6: the values a receiver's `match_alertname` may name.
pub const ALERTNAMES: [&str; 7] = [
    "ProfileConnectivityDegraded",
    "ProfileAuthenticationFailing",
    "ProfileSyncStale",
    "ProfileSyncFailing",
    "ProfileErrorsHigh",
    "ProfileUnreachable",
    "InventoryApiDown",
];

/// Looks `name` up in the process environment. `None` when the variable is unset, is not
/// UTF-8, or `name` is not something an environment could hold (empty, `=` or NUL inside),
/// so that a typo in the file can never make the lookup panic.
pub fn process_env(name: &str) -> Option<String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    std::env::var(name).ok()
}

/// Reads, parses and validates the configuration file at `path`, looking secrets up in the
/// process environment, and applies the environment's shard overrides (see
/// [`ShardConfig`]). Every problem found is in the error.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &process_env)
}

/// [`load`] with an injected environment, so tests never touch the process's own.
pub fn load_with(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![Problem::new(
            "",
            format!(
                "cannot read config file {}: {}",
                path.display(),
                io_reason(&e)
            ),
        )],
    })?;
    let mut config = parse(&text)?;
    let problems = config.validate_with(env);
    if !problems.is_empty() {
        return Err(ConfigError { problems });
    }
    // Validation resolved the shard without a problem; put the values in force in place.
    let shard = config
        .shard
        .resolve_with(env)
        .map_err(|problems| ConfigError { problems })?;
    config.shard.index = shard.index;
    config.shard.count = shard.count;
    Ok(config)
}

/// Parses TOML text into a [`Config`]; syntax errors, type errors and unknown keys are
/// reported with their key path (and, for syntax errors, line and column). Does not
/// validate ranges or look up secrets: see [`Config::validate`].
///
/// Deserialization stops at the first error, so this reports one problem at most.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        // toml parses the whole document before serde sees a single key, so an error
        // with no key path is a syntax error (or a key defined twice).
        let at_root = e.path().iter().next().is_none();
        let path = e.path().to_string();
        let inner = e.into_inner();
        let problem = if at_root {
            syntax_problem(text, &inner)
        } else {
            data_problem(path, inner.message())
        };
        ConfigError {
            problems: vec![problem],
        }
    })
}

/// A syntax error, located by line and column since there is no key path to name.
fn syntax_problem(text: &str, err: &toml::de::Error) -> Problem {
    // toml puts "what" and "what was expected" on separate lines; one line reads better
    // in a list of problems.
    let what = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    let message = match err.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("TOML syntax error at line {line}, column {column}: {what}")
        }
        None => format!("TOML syntax error: {what}"),
    };
    Problem::new("", message)
}

/// A type error, unknown key or missing key at `path`.
fn data_problem(path: String, message: &str) -> Problem {
    // serde reports a missing key at the table that lacks it; point at the key itself.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return Problem::new(format!("{path}.{field}"), "is required");
    }
    // serde names Rust types ("expected u32"); say what to write instead.
    let readable = [
        (
            ", expected u32",
            ", expected a whole number from 0 to 4294967295",
        ),
        (", expected u64", ", expected a whole number, 0 or more"),
        (", expected f64", ", expected a number"),
        (", expected path string", ", expected a file path"),
    ]
    .iter()
    .find_map(|(rust, words)| {
        message
            .strip_suffix(rust)
            .map(|start| format!("{start}{words}"))
    });
    Problem::new(path, readable.unwrap_or_else(|| message.to_string()))
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Config {
    /// Checks ranges, cross-field rules and that every referenced environment variable and
    /// file exists, against the process environment. Returns every problem (empty: valid).
    pub fn validate(&self) -> Vec<Problem> {
        self.validate_with(&process_env)
    }

    /// [`Config::validate`] with an injected environment.
    pub fn validate_with(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<Problem> {
        let mut out = Vec::new();
        self.api.check(env, &mut out);

        if self.poll.interval < Duration::from_secs(1) {
            out.push(Problem::new(
                "poll.interval",
                format!("must be at least 1s, got {}", show(self.poll.interval)),
            ));
        }

        if self.server.listen.trim().parse::<SocketAddr>().is_err() {
            out.push(Problem::new(
                "server.listen",
                format!(
                    "must be an IP address and port like \"0.0.0.0:9857\" or \"[::]:9857\", got {:?}",
                    self.server.listen
                ),
            ));
        }

        if self.state.dir.as_os_str().is_empty() {
            out.push(Problem::new("state.dir", "must not be empty"));
        }

        if let Err(problems) = self.shard.resolve_with(env) {
            out.extend(problems);
        }

        self.rules.check(&mut out);
        self.alerting.check(env, &mut out);
        out
    }

    /// This replica's share of the profiles: `shard.index` and `shard.count` as they stand
    /// (after [`load`], with the environment's overrides and `"auto"` applied).
    pub fn shard(&self) -> crate::shard::Shard {
        crate::shard::Shard {
            index: self.shard.index,
            count: self.shard.count,
        }
    }
}

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

    fn check(&self, env: &dyn Fn(&str) -> Option<String>, out: &mut Vec<Problem>) {
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
        if let Err(p) = self.token_with(env) {
            out.push(p);
        }
        if let Err(p) = self.ca_pem() {
            out.push(p);
        }
    }
}

impl RulesConfig {
    fn check(&self, out: &mut Vec<Problem>) {
        severity(
            out,
            "rules.connectivity.severity",
            &self.connectivity.severity,
        );
        severity(
            out,
            "rules.authentication.severity",
            &self.authentication.severity,
        );
        if self.sync_stale.after == StaleAfter::Fixed(Duration::ZERO) {
            out.push(Problem::new(
                "rules.sync_stale.after",
                "must be more than 0s, or \"auto\"",
            ));
        }
        severity(out, "rules.sync_stale.severity", &self.sync_stale.severity);
        severity(
            out,
            "rules.sync_failed.severity",
            &self.sync_failed.severity,
        );
        if self.errors.threshold == 0 {
            out.push(Problem::new(
                "rules.errors.threshold",
                "must be at least 1, got 0",
            ));
        }
        severity(out, "rules.errors.severity", &self.errors.severity);
        if self.unreachable.after_failures == 0 {
            out.push(Problem::new(
                "rules.unreachable.after_failures",
                "must be at least 1, got 0",
            ));
        }
        severity(
            out,
            "rules.unreachable.severity",
            &self.unreachable.severity,
        );
    }
}

impl AlertingConfig {
    fn check(&self, env: &dyn Fn(&str) -> Option<String>, out: &mut Vec<Problem>) {
        // group_wait may be 0: every change then goes out on its own.
        positive(out, "alerting.repeat_interval", self.repeat_interval);
        positive(out, "alerting.max_delivery_age", self.max_delivery_age);
        let mut seen = std::collections::HashSet::new();
        for (i, receiver) in self.receivers.iter().enumerate() {
            let at = format!("alerting.receivers[{i}]");
            if receiver.name.trim().is_empty() {
                out.push(Problem::new(format!("{at}.name"), "must not be empty"));
            } else if !seen.insert(receiver.name.as_str()) {
                out.push(Problem::new(
                    format!("{at}.name"),
                    format!("duplicate receiver name {:?}", receiver.name),
                ));
            }
            receiver.check(&at, env, out);
        }
    }
}

impl ReceiverConfig {
    /// A receiver with this name and kind, no URL, no secret, no headers and no filters
    /// (it gets every alert); set the rest field by field.
    pub fn new(name: impl Into<String>, kind: ReceiverKind) -> Self {
        Self {
            name: name.into(),
            kind,
            url: None,
            url_env: None,
            url_file: None,
            match_severity: Vec::new(),
            match_organization: Vec::new(),
            match_alertname: Vec::new(),
            secret_env: None,
            secret_file: None,
            headers: Default::default(),
        }
    }

    /// The receiver's URL from `url`, `url_env` or `url_file` (trailing whitespace
    /// trimmed), checked to be http(s); `None` for kind `log`, which has none.
    pub fn url(&self) -> Result<Option<Secret>, Problem> {
        self.url_with(&process_env)
    }

    /// [`ReceiverConfig::url`] with an injected environment.
    pub fn url_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, Problem> {
        self.url_at(&self.path_by_name(), env)
    }

    /// The HMAC-SHA256 signing secret of a `webhook` receiver, from `secret_env` or
    /// `secret_file`; `None` when it has none (or is of another kind).
    pub fn secret(&self) -> Result<Option<Secret>, Problem> {
        self.secret_with(&process_env)
    }

    /// [`ReceiverConfig::secret`] with an injected environment.
    pub fn secret_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, Problem> {
        self.secret_at(&self.path_by_name(), env)
    }

    /// Outside validation the receiver's index is not known, but (once validated) its
    /// name is unique, so problems found later name it.
    fn path_by_name(&self) -> String {
        format!("alerting.receivers[{:?}]", self.name)
    }

    /// The URL keys that are set, in file order.
    fn url_sources(&self) -> Vec<(&'static str, SecretSource<'_>)> {
        let mut sources = Vec::new();
        if let Some(url) = &self.url {
            sources.push(("url", SecretSource::Inline(url)));
        }
        if let Some(name) = &self.url_env {
            sources.push(("url_env", SecretSource::Env(name)));
        }
        if let Some(file) = &self.url_file {
            sources.push(("url_file", SecretSource::File(file)));
        }
        sources
    }

    fn url_at(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, Problem> {
        if self.kind == ReceiverKind::Log {
            return Ok(None);
        }
        let sources = self.url_sources();
        let (key, source) = match sources.as_slice() {
            [] => {
                return Err(Problem::new(
                    at,
                    format!(
                        "a {:?} receiver needs one of url, url_env or url_file",
                        self.kind.as_str()
                    ),
                ))
            }
            [one] => one,
            several => {
                let keys: Vec<&str> = several.iter().map(|(key, _)| *key).collect();
                // Only three keys exist, so "several" is two or all three.
                let set = if let [a, b] = keys.as_slice() {
                    format!("{a} and {b} are both set")
                } else {
                    "url, url_env and url_file are all set".to_string()
                };
                return Err(Problem::new(
                    at,
                    format!("{set}; set only one of url, url_env or url_file"),
                ));
            }
        };
        let path = format!("{at}.{key}");
        let url = read_secret(&path, source, env)?;
        if let Err(reason) = http_url(&url) {
            // Never the URL itself: for chat webhooks the URL is the credential.
            let message = match source {
                SecretSource::Inline(_) => format!("is not a valid http(s) URL ({reason})"),
                other => format!(
                    "{} does not hold a valid http(s) URL ({reason})",
                    other.describe()
                ),
            };
            return Err(Problem::new(path, message));
        }
        Ok(Some(Secret::new(url)))
    }

    fn secret_at(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, Problem> {
        if self.kind != ReceiverKind::Webhook {
            return Ok(None);
        }
        let (key, source) = match (&self.secret_env, &self.secret_file) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(Problem::new(
                    at,
                    "secret_env and secret_file are both set; set only one",
                ))
            }
            (Some(name), None) => ("secret_env", SecretSource::Env(name)),
            (None, Some(file)) => ("secret_file", SecretSource::File(file)),
        };
        read_secret(&format!("{at}.{key}"), &source, env).map(|s| Some(Secret::new(s)))
    }

    fn check(&self, at: &str, env: &dyn Fn(&str) -> Option<String>, out: &mut Vec<Problem>) {
        if self.kind == ReceiverKind::Log {
            for (key, _) in self.url_sources() {
                out.push(Problem::new(
                    format!("{at}.{key}"),
                    "a \"log\" receiver takes no URL",
                ));
            }
        } else if let Err(p) = self.url_at(at, env) {
            out.push(p);
        }

        if self.kind == ReceiverKind::Webhook {
            if let Err(p) = self.secret_at(at, env) {
                out.push(p);
            }
            for (name, value) in &self.headers {
                let key = format!("{at}.headers.{}", toml_key(name));
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    out.push(Problem::new(key, "is not a valid HTTP header name"));
                } else if reqwest::header::HeaderValue::from_str(value).is_err() {
                    // Header values are often credentials: say what is wrong, not what it is.
                    out.push(Problem::new(
                        key,
                        "holds characters not allowed in an HTTP header value",
                    ));
                }
            }
        } else {
            let webhook_only = [
                ("secret_env", self.secret_env.is_some()),
                ("secret_file", self.secret_file.is_some()),
                ("headers", !self.headers.is_empty()),
            ];
            for (key, set) in webhook_only {
                if set {
                    out.push(Problem::new(
                        format!("{at}.{key}"),
                        format!(
                            "only a \"webhook\" receiver takes {key}, not a {:?} one",
                            self.kind.as_str()
                        ),
                    ));
                }
            }
        }

        for (i, value) in self.match_severity.iter().enumerate() {
            severity(out, &format!("{at}.match_severity[{i}]"), value);
        }
        for (i, value) in self.match_alertname.iter().enumerate() {
            if !ALERTNAMES.contains(&value.as_str()) {
                out.push(Problem::new(
                    format!("{at}.match_alertname[{i}]"),
                    format!(
                        "unknown alertname {value:?}; expected one of {}",
                        ALERTNAMES.join(", ")
                    ),
                ));
            }
        }
    }
}

/// Where a secret is read from.
enum SecretSource<'a> {
    /// Written in the file itself.
    Inline(&'a str),
    /// An environment variable of this name.
    Env(&'a str),
    /// A file at this path.
    File(&'a Path),
}

impl SecretSource<'_> {
    /// Names the source, never its value: `environment variable X`, `/run/secrets/y`.
    fn describe(&self) -> String {
        match self {
            SecretSource::Inline(_) => "the value".to_string(),
            SecretSource::Env(name) => format!("environment variable {name}"),
            SecretSource::File(file) => file.display().to_string(),
        }
    }
}

/// Reads a secret, trailing whitespace (a file's final newline) trimmed. `path` is the key
/// that named the source, for the problem. No message ever contains the value.
fn read_secret(
    path: &str,
    source: &SecretSource<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Problem> {
    let value = match source {
        SecretSource::Inline(value) => value.to_string(),
        SecretSource::Env(name) => {
            if name.trim().is_empty() {
                return Err(Problem::new(path, "must not be empty"));
            }
            env(name).ok_or_else(|| {
                Problem::new(path, format!("environment variable {name} is not set"))
            })?
        }
        SecretSource::File(file) => {
            if file.as_os_str().is_empty() {
                return Err(Problem::new(path, "must not be empty"));
            }
            fs::read_to_string(file).map_err(|e| {
                Problem::new(
                    path,
                    format!("cannot read {}: {}", file.display(), io_reason(&e)),
                )
            })?
        }
    };
    let trimmed = value.trim_end();
    if trimmed.is_empty() {
        let message = match source {
            SecretSource::Inline(_) => "must not be empty".to_string(),
            other => format!("{} is empty", other.describe()),
        };
        return Err(Problem::new(path, message));
    }
    Ok(trimmed.to_string())
}

/// Why an absolute http(s) URL could not be read from `text`; the reason never quotes it.
fn http_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| e.to_string())?;
    if matches!(url.scheme(), "http" | "https") {
        Ok(url)
    } else {
        Err("the scheme must be http or https".to_string())
    }
}

/// An I/O error in words, without the `(os error 2)` noise for the common cases.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
        _ => e.to_string(),
    }
}

/// A TOML key as it would be written: bare when it can be, quoted otherwise.
fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// A duration as an operator writes it (`1h 30m`).
fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Reports `value` outside `low..=high`.
fn between(out: &mut Vec<Problem>, path: &str, value: u32, low: u32, high: u32) {
    if !(low..=high).contains(&value) {
        out.push(Problem::new(
            path,
            format!("must be between {low} and {high}, got {value}"),
        ));
    }
}

/// Reports a zero duration where a wait or an age must be positive.
fn positive(out: &mut Vec<Problem>, path: &str, value: Duration) {
    if value.is_zero() {
        out.push(Problem::new(path, "must be more than 0s"));
    }
}

/// Reports a severity other than `critical`, `warning` or `info`.
fn severity(out: &mut Vec<Problem>, path: &str, value: &str) {
    if !SEVERITIES.contains(&value) {
        out.push(Problem::new(
            path,
            format!("must be one of critical, warning or info, got {value:?}"),
        ));
    }
}

/// `ca_file = ""` (the documented default) means no extra root, like leaving it out.
fn empty_path_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = Option::<PathBuf>::deserialize(d)?;
    Ok(path.filter(|p| !p.as_os_str().is_empty()))
}

/// Durations as humantime strings (`30s`, `5m`, `1h 30m`). Written by hand rather than
/// with `humantime_serde` for the errors: "expected a duration" does not tell an operator
/// what to write instead.
mod duration_serde {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};

    use super::StaleAfter;

    const HINT: &str = "write durations like \"30s\", \"5m\" or \"1h 30m\"";

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    /// Parses `text`, or says in words why it is not a duration. `what` names what was
    /// expected (`a duration`, or `"auto" or a duration`).
    pub(super) fn parse_text(text: &str, what: &str) -> Result<Duration, String> {
        humantime::parse_duration(text.trim()).map_err(|e| {
            use humantime::DurationError as E;
            let why = match e {
                E::Empty => ": it is empty".to_string(),
                E::UnknownUnit { unit, .. } if unit.is_empty() => {
                    ": the unit is missing".to_string()
                }
                E::UnknownUnit { unit, .. } => format!(": unknown unit {unit:?}"),
                E::NumberOverflow => ": it is too large".to_string(),
                _ => String::new(),
            };
            format!("{text:?} is not {what}{why}; {HINT}")
        })
    }

    /// A bare TOML number where a duration string belongs.
    fn bare_number(n: impl fmt::Display) -> String {
        format!(
            "{n} is not a duration: durations are strings with a unit, like \"{n}s\" or \"{n}m\""
        )
    }

    struct DurationVisitor;

    impl<'de> Visitor<'de> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration like \"30s\", \"5m\" or \"1h 30m\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_text(v, "a duration").map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            Err(E::custom(bare_number(v)))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Err(E::custom(bare_number(v)))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Err(E::custom(bare_number(v)))
        }
    }

    /// `rules.sync_stale.after`: `"auto"` or a duration.
    pub(super) struct StaleAfterVisitor;

    impl<'de> Visitor<'de> for StaleAfterVisitor {
        type Value = StaleAfter;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("\"auto\" or a duration like \"2h\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<StaleAfter, E> {
            if v.trim() == "auto" {
                return Ok(StaleAfter::Auto);
            }
            parse_text(v, "\"auto\" or a duration")
                .map(StaleAfter::Fixed)
                .map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<StaleAfter, E> {
            Err(E::custom(bare_number(v)))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<StaleAfter, E> {
            Err(E::custom(bare_number(v)))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<StaleAfter, E> {
            Err(E::custom(bare_number(v)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn line_and_column_count_characters_not_bytes() {
        let text = "a = \"é\"\nbé = [";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, text.find('b').unwrap_or(0)), (2, 1));
        assert_eq!(line_column(text, text.len()), (2, 7));
        // An offset inside a multi-byte character is not a panic.
        assert_eq!(line_column(text, 6), (1, 6));
    }

    #[test]
    fn duration_errors_say_what_is_wrong() {
        let hint = "write durations like \"30s\", \"5m\" or \"1h 30m\"";
        assert_eq!(
            problem("[poll]\ninterval = \"\""),
            format!("poll.interval: \"\" is not a duration: it is empty; {hint}")
        );
        assert_eq!(
            problem("[poll]\ninterval = \"30\""),
            format!("poll.interval: \"30\" is not a duration: the unit is missing; {hint}")
        );
        assert_eq!(
            problem("[poll]\ninterval = \"soon\""),
            format!("poll.interval: \"soon\" is not a duration; {hint}")
        );
        assert_eq!(
            problem("[poll]\ninterval = \"99999999999999999999999y\""),
            format!(
                "poll.interval: \"99999999999999999999999y\" is not a duration: it is too large; {hint}"
            )
        );
        assert_eq!(
            problem("[poll]\ninterval = 1.5"),
            "poll.interval: 1.5 is not a duration: durations are strings with a unit, like \"1.5s\" or \"1.5m\""
        );
        assert_eq!(
            problem("[poll]\ninterval = true"),
            "poll.interval: invalid type: boolean `true`, expected a duration like \"30s\", \"5m\" or \"1h 30m\""
        );
    }

    #[test]
    fn sync_stale_after_takes_auto_or_a_duration() {
        let after = |text: &str| parse(text).map(|c| c.rules.sync_stale.after);
        assert_eq!(
            after("[rules.sync_stale]\nafter = \"auto\""),
            Ok(StaleAfter::Auto)
        );
        assert_eq!(
            after("[rules.sync_stale]\nafter = \"90m\""),
            Ok(StaleAfter::Fixed(Duration::from_secs(5400)))
        );
        assert_eq!(
            problem("[rules.sync_stale]\nafter = \"later\""),
            "rules.sync_stale.after: \"later\" is not \"auto\" or a duration; write durations like \"30s\", \"5m\" or \"1h 30m\""
        );
        let config = parse("[rules.sync_stale]\nafter = \"0s\"").expect("parses");
        assert!(config
            .rules
            .validate_problems()
            .contains(&"rules.sync_stale.after: must be more than 0s, or \"auto\"".to_string()));
    }

    #[test]
    fn serde_type_names_become_words() {
        assert_eq!(
            problem("[shard]\ncount = 5000000000"),
            "shard.count: invalid value: integer `5000000000`, expected a whole number from 0 to 4294967295"
        );
        assert_eq!(
            problem("[api]\nmax_requests_per_second = \"fast\""),
            "api.max_requests_per_second: invalid type: string \"fast\", expected a number"
        );
        assert_eq!(
            problem("[api]\nca_file = 3"),
            "api.ca_file: invalid type: integer `3`, expected a file path"
        );
    }

    #[test]
    fn a_key_defined_twice_is_a_syntax_error_with_its_place() {
        assert_eq!(
            problem("[api]\npage_size = 1\npage_size = 2\n"),
            "TOML syntax error at line 3, column 1: duplicate key `page_size` in table `api`"
        );
    }

    #[test]
    fn empty_ca_file_means_none() {
        let config = parse("[api]\nca_file = \"\"").expect("parses");
        assert_eq!(config.api.ca_file, None);
        assert_eq!(config.api.ca_pem(), Ok(None));
    }

    #[test]
    fn bad_header_names_and_values_are_refused_without_showing_the_value() {
        let config = parse(
            "[api]\nbase_url = \"https://api.example/v1\"\n[[alerting.receivers]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://h.example/\"\nheaders = { \"Bad Name\" = \"x\", X-Auth = \"secret\\nvalue\" }",
        )
        .expect("parses");
        let found: Vec<String> = config
            .validate_with(&|name: &str| (name == DEFAULT_TOKEN_ENV).then(|| "t".to_string()))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "alerting.receivers[0].headers.\"Bad Name\": is not a valid HTTP header name",
                "alerting.receivers[0].headers.X-Auth: holds characters not allowed in an HTTP header value",
            ]
        );
    }

    #[test]
    fn receiver_with_every_url_key_lists_them_all() {
        let config = parse(
            "[[alerting.receivers]]\nname = \"r\"\nkind = \"alertmanager\"\nurl = \"https://a/\"\nurl_env = \"A\"\nurl_file = \"/a\"",
        )
        .expect("parses");
        assert_eq!(
            config.alerting.receivers[0].url_at("r", &|_: &str| None),
            Err(Problem::new(
                "r",
                "url, url_env and url_file are all set; set only one of url, url_env or url_file"
            ))
        );
    }

    #[test]
    fn odd_variable_names_are_unset_not_a_panic() {
        assert_eq!(process_env(""), None);
        assert_eq!(process_env("A=B"), None);
        assert_eq!(process_env("A\0B"), None);
    }

    #[test]
    fn sizes_take_units_or_bytes() {
        for (text, bytes) in [
            ("8MiB", 8 << 20),
            ("8 mib", 8 << 20),
            (" 512KiB ", 512 << 10),
            ("1GiB", 1 << 30),
            ("10MB", 10_000_000),
            ("500kB", 500_000),
            ("4096", 4096),
            ("4096B", 4096),
        ] {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
        }
        for bad in [
            "",
            "MiB",
            "8 parsecs",
            "-1MiB",
            "1.5MiB",
            "99999999999999999999GiB",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
        let config = parse("[api]\nmax_body_size = 65536").expect("parses");
        assert_eq!(config.api.max_body_size, ByteSize(65536));
        let config = parse("[api]\nmax_body_size = \"2MiB\"").expect("parses");
        assert_eq!(config.api.max_body_size.to_string(), "2 MiB");
        assert!(problem("[api]\nmax_body_size = \"lots\"").starts_with("api.max_body_size: "));
        assert!(problem("[api]\nmax_body_size = -1").contains("negative"));
        // What is written reads back.
        let text = toml::to_string(&ApiConfig::default()).expect("serialises");
        assert!(text.contains("max_body_size = \"8MiB\""), "{text}");
    }

    #[test]
    fn upstream_limits_are_validated() {
        let config = parse(
            "[api]\nbase_url = \"https://api.example/v1\"\nmax_body_size = 100\nmax_profiles = 0\nmax_label_length = 8",
        )
        .expect("parses");
        let found: Vec<String> = config
            .validate_with(&|name: &str| (name == DEFAULT_TOKEN_ENV).then(|| "t".to_string()))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "api.max_body_size: must be between 1 KiB and 1 GiB, got 100 bytes",
                "api.max_profiles: must be between 1 and 10000000, got 0",
                "api.max_label_length: must be between 16 and 65536, got 8",
            ]
        );
        let defaults = ApiConfig::default();
        assert_eq!(
            (
                defaults.max_body_size.bytes(),
                defaults.max_profiles,
                defaults.max_label_length
            ),
            (8 << 20, 200_000, 256)
        );
    }

    #[test]
    fn secret_and_problem_display() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(Problem::new("", "whole file").to_string(), "whole file");
        assert_eq!(Problem::new("a.b", "bad").to_string(), "a.b: bad");
    }

    impl RulesConfig {
        fn validate_problems(&self) -> Vec<String> {
            let mut out = Vec::new();
            self.check(&mut out);
            out.iter().map(ToString::to_string).collect()
        }
    }
}

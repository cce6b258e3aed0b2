//! The configuration file (SPEC §3): one serde struct per TOML section, unknown keys
//! refused, durations as humantime strings, every problem reported with its key path.
//!
//! Loading happens in two steps: [`parse`] turns TOML text into a [`Config`] (syntax, types,
//! unknown keys), then [`Config::validate`] checks ranges and that every referenced
//! environment variable and file exists. Both report [`Problem`]s that name the key.

use std::fmt;
use std::path::PathBuf;
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
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries per request on timeouts, connection errors, 5xx and 429.
    pub retries: u32,
    /// Extra PEM root certificate(s) for a private CA; empty for none.
    pub ca_file: Option<PathBuf>,
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
        }
    }
}

/// The token variable used when neither `token_env` nor `token_file` is set.
pub const DEFAULT_TOKEN_ENV: &str = "INVENTORY_API_TOKEN";

/// `[poll]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// Time between the starts of two sweeps.
    #[serde(with = "humantime_serde")]
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:9857".to_string(),
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
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardConfig {
    /// This replica's index, `0..count`.
    pub index: u32,
    /// Number of replicas sharing the profiles.
    pub count: u32,
}

impl Default for ShardConfig {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize, Serialize)]
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

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            include_inactive: false,
            connectivity: StateRule::default(),
            authentication: StateRule::default(),
            sync_stale: SyncStaleRule::default(),
            sync_failed: SimpleRule::default(),
            errors: ErrorsRule::default(),
            unreachable: UnreachableRule::default(),
        }
    }
}

/// A rule on a reported state (`connectivity`, `authentication`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateRule {
    /// `enabled = false` switches the rule off.
    pub enabled: bool,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", with = "humantime_serde")]
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
        let text = String::deserialize(d)?;
        if text.trim() == "auto" {
            return Ok(StaleAfter::Auto);
        }
        humantime::parse_duration(&text)
            .map(StaleAfter::Fixed)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "expected \"auto\" or a duration like \"2h\", got {text:?} ({e})"
                ))
            })
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
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// Reminder interval for alerts still firing.
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Announce resolved alerts too.
    pub send_resolved: bool,
    /// Undeliverable notifications older than this are dropped (and counted).
    #[serde(with = "humantime_serde")]
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

/// Parses TOML text into a [`Config`]; syntax errors, type errors and unknown keys are
/// reported with their key path. Does not validate ranges or look up secrets: see
/// [`Config::validate`].
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError {
            problems: vec![Problem { path, message }],
        }
    })
}

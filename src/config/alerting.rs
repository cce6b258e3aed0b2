//! `[alerting]`: grouping, reminders, and the receivers with their validation.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::maintenance::MaintenanceConfig;
use super::secret::{read_secret, SecretSource};
use super::template;
use super::{duration, positive, process_env, severity, Problem, Secret};
use crate::vocabulary::{AlertName, Named, Severity};

/// `[alerting]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// Alerts that change within this window go out as one message per receiver.
    #[serde(with = "duration")]
    pub group_wait: Duration,
    /// Reminder interval for alerts still firing.
    #[serde(with = "duration")]
    pub repeat_interval: Duration,
    /// Announce resolved alerts too.
    pub send_resolved: bool,
    /// Undeliverable notifications older than this are dropped (and counted).
    #[serde(with = "duration")]
    pub max_delivery_age: Duration,
    /// `[[alerting.receivers]]`
    pub receivers: Vec<ReceiverConfig>,
    /// `[[alerting.maintenance]]`: windows that mute matching alerts (README, Maintenance
    /// windows). Left out when empty, as the example file shows it only commented out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceConfig>,
    /// Where people reach this monitor (`https://monitor.example.com`), for the links in
    /// notifications (README, Status page); "" when unknown: no links.
    pub external_url: String,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            group_wait: Duration::from_secs(10),
            repeat_interval: Duration::from_secs(4 * 3600),
            send_resolved: true,
            max_delivery_age: Duration::from_secs(24 * 3600),
            receivers: Vec::new(),
            maintenance: Vec::new(),
            external_url: String::new(),
        }
    }
}

/// The kinds of receiver (README, Configuration: `kind`).
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

impl ReceiverKind {
    /// True for the kinds whose messages people read in a chat (the kinds that take a
    /// `template`).
    pub fn is_chat(self) -> bool {
        matches!(
            self,
            ReceiverKind::Slack
                | ReceiverKind::Teams
                | ReceiverKind::Discord
                | ReceiverKind::GoogleChat
                | ReceiverKind::Mattermost
        )
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
    pub match_severity: Vec<Named<Severity>>,
    /// Only alerts of profiles of these organizations (empty: all).
    #[serde(default)]
    pub match_organization: Vec<String>,
    /// Only these alertnames (empty: all).
    #[serde(default)]
    pub match_alertname: Vec<Named<AlertName>>,
    /// `webhook`: environment variable holding the HMAC-SHA256 secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `webhook`: file holding the HMAC-SHA256 secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// `webhook`: extra HTTP headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Chat kinds: the message text as a minijinja template over the notification
    /// (README, Message templates); the built-in message when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// `webhook`, `alertmanager`: the most alerts in one request; a larger group goes out
    /// as several requests, none cut short (README, Alerting). `None`: [`MAX_ALERTS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_alerts: Option<usize>,
}

/// The default of a receiver's `max_alerts`, as Alertmanager's webhook payloads list at
/// most 1000 alerts by default.
pub const MAX_ALERTS: usize = 1_000;

/// The largest `max_alerts` accepted: one request stays a few tens of MB at most.
pub const MAX_ALERTS_LIMIT: usize = 100_000;

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
            .field("template", &self.template.as_ref().map(String::len))
            .field("max_alerts", &self.max_alerts)
            .finish()
    }
}

/// The severities a rule or a receiver's `match_severity` may name, spelled as in the file.
pub const SEVERITIES: [&str; 3] = {
    let mut out = [""; 3];
    let mut i = 0;
    while i < out.len() {
        out[i] = Severity::ALL[i].as_str();
        i += 1;
    }
    out
};

/// The alertnames of the README's Alerts table: the values a receiver's `match_alertname` may name.
pub const ALERTNAMES: [&str; 8] = {
    let mut out = [""; 8];
    let mut i = 0;
    while i < out.len() {
        out[i] = AlertName::ALL[i].as_str();
        i += 1;
    }
    out
};

impl AlertingConfig {
    /// Validates the section; with `only`, the secrets of the receivers of other names are
    /// not looked up (`notify-test --receiver`).
    pub(super) fn check(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        only: Option<&str>,
        out: &mut Vec<Problem>,
    ) {
        // group_wait may be 0: every change then goes out on its own.
        positive(out, "alerting.repeat_interval", self.repeat_interval);
        positive(out, "alerting.max_delivery_age", self.max_delivery_age);
        if !self.external_url.is_empty() {
            if let Err(reason) = http_url(&self.external_url) {
                out.push(Problem::new(
                    "alerting.external_url",
                    format!("is not a valid http(s) URL ({reason})"),
                ));
            }
        }
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
            let lookup = only.is_none_or(|name| receiver.name == name);
            receiver.check(&at, env, lookup, out);
        }
        super::maintenance::check(&self.maintenance, out);
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
            template: None,
            max_alerts: None,
        }
    }

    /// The most alerts in one request to this receiver (`max_alerts`, or [`MAX_ALERTS`]).
    pub fn max_alerts(&self) -> usize {
        self.max_alerts.unwrap_or(MAX_ALERTS).max(1)
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

    pub(super) fn url_at(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, Problem> {
        match self.url_source(at)? {
            Some((key, source)) => self.read_url(at, key, &source, env).map(Some),
            None => Ok(None),
        }
    }

    /// The one URL key set, with where it points; `None` for kind `log`.
    fn url_source(&self, at: &str) -> Result<Option<(&'static str, SecretSource<'_>)>, Problem> {
        if self.kind == ReceiverKind::Log {
            return Ok(None);
        }
        let mut sources = self.url_sources();
        let one = match sources.as_slice() {
            [] => {
                return Err(Problem::new(
                    at,
                    format!(
                        "a {:?} receiver needs one of url, url_env or url_file",
                        self.kind.as_str()
                    ),
                ))
            }
            [_] => sources.pop(),
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
        Ok(one)
    }

    /// Reads the URL from `source` (set at key `key`) and checks it is http(s).
    fn read_url(
        &self,
        at: &str,
        key: &str,
        source: &SecretSource<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, Problem> {
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
        Ok(Secret::new(url))
    }

    fn secret_at(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, Problem> {
        let Some((key, source)) = self.secret_source(at)? else {
            return Ok(None);
        };
        read_secret(&format!("{at}.{key}"), &source, env).map(|s| Some(Secret::new(s)))
    }

    /// The signing secret's key and where it points; `None` when there is none to read.
    fn secret_source(&self, at: &str) -> Result<Option<(&'static str, SecretSource<'_>)>, Problem> {
        if self.kind != ReceiverKind::Webhook {
            return Ok(None);
        }
        Ok(Some(match (&self.secret_env, &self.secret_file) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(Problem::new(
                    at,
                    "secret_env and secret_file are both set; set only one",
                ))
            }
            (Some(name), None) => ("secret_env", SecretSource::Env(name)),
            (None, Some(file)) => ("secret_file", SecretSource::File(file)),
        }))
    }

    /// Validates the receiver at `at`; without `lookup`, its URL and secret are checked
    /// for how they are set (and an inline URL for what it is) but not looked up.
    fn check(
        &self,
        at: &str,
        env: &dyn Fn(&str) -> Option<String>,
        lookup: bool,
        out: &mut Vec<Problem>,
    ) {
        if self.kind == ReceiverKind::Log {
            for (key, _) in self.url_sources() {
                out.push(Problem::new(
                    format!("{at}.{key}"),
                    "a \"log\" receiver takes no URL",
                ));
            }
        } else {
            let url = self.url_source(at).and_then(|source| match source {
                Some((key, source)) if lookup || matches!(source, SecretSource::Inline(_)) => {
                    self.read_url(at, key, &source, env).map(|_| ())
                }
                _ => Ok(()),
            });
            if let Err(p) = url {
                out.push(p);
            }
        }

        if self.kind == ReceiverKind::Webhook {
            let secret = if lookup {
                self.secret_at(at, env).map(|_| ())
            } else {
                self.secret_source(at).map(|_| ())
            };
            if let Err(p) = secret {
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

        self.check_template(at, out);
        if let Some(max) = self.max_alerts {
            let key = format!("{at}.max_alerts");
            if !matches!(
                self.kind,
                ReceiverKind::Webhook | ReceiverKind::Alertmanager
            ) {
                out.push(Problem::new(
                    key,
                    format!(
                        "only \"webhook\" and \"alertmanager\" receivers take max_alerts, not a {:?} one \
                         (chat messages list at most 20 alerts and say how many more there are)",
                        self.kind.as_str()
                    ),
                ));
            } else if !(1..=MAX_ALERTS_LIMIT).contains(&max) {
                out.push(Problem::new(
                    key,
                    format!("must be between 1 and {MAX_ALERTS_LIMIT}, got {max}"),
                ));
            }
        }

        for (i, value) in self.match_severity.iter().enumerate() {
            severity(out, &format!("{at}.match_severity[{i}]"), value);
        }
        for (i, value) in self.match_alertname.iter().enumerate() {
            if let Named::Unknown(text) = value {
                out.push(Problem::new(
                    format!("{at}.match_alertname[{i}]"),
                    format!(
                        "unknown alertname {text:?}; expected one of {}",
                        Named::<AlertName>::choices("")
                    ),
                ));
            }
        }
    }
}

impl ReceiverConfig {
    /// `template`: only on chat kinds, and it must compile and render (README, Message
    /// templates).
    fn check_template(&self, at: &str, out: &mut Vec<Problem>) {
        let Some(source) = &self.template else {
            return;
        };
        let path = format!("{at}.template");
        if !self.kind.is_chat() {
            out.push(Problem::new(
                path,
                format!(
                    "only chat receivers (slack, teams, discord, google_chat, mattermost) \
                     take a template, not a {:?} one",
                    self.kind.as_str()
                ),
            ));
        } else if let Err(why) = template::check(source) {
            out.push(Problem::new(path, why));
        }
    }
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

/// A TOML key as it would be written: bare when it can be, quoted otherwise.
pub(super) fn toml_key(name: &str) -> String {
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

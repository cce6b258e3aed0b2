//! The configuration file (README, Configuration): one serde struct per TOML section, unknown keys
//! refused, durations as humantime strings, every problem reported with its key path.
//!
//! Loading happens in two steps: [`parse`] turns TOML text into a [`Config`] (syntax, types,
//! unknown keys), then [`Config::validate`] checks ranges and that every referenced
//! environment variable and file exists. Both report [`Problem`]s that name the key;
//! [`load`] does both and refuses the file on any problem, reporting every problem of both
//! steps at once, each with its line, sorted by line.
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
//!
//! # Layout
//!
//! - this file: [`Config`], [`load`], [`parse`], [`Problem`] and the small sections
//!   (`[poll]`, `[server]`, `[state]`);
//! - `api.rs`: `[api]` and [`ByteSize`]; `shard.rs`: `[shard]` and its environment
//!   overrides; `rules.rs`: `[rules]`, one table per rule; `runbook.rs`: a rule's
//!   `runbook_url` and its `{label}` placeholders; `template.rs`: what is checked of a chat
//!   receiver's `template`; `alerting.rs`: `[alerting]` and
//!   the receivers; `maintenance.rs`: `[[alerting.maintenance]]`, read into a [`Schedule`];
//! - `read.rs`: reading the text with every parse-level problem found in one pass, and the
//!   line of a key path;
//! - `secret.rs`: [`Secret`] and reading secrets; `duration.rs`: durations as humantime
//!   strings, with errors that say what to write.
//!
//! Alert names and severities are read as [`Named`] members of the enums in
//! [`crate::vocabulary`], which `rules` shares without `config` importing `rules`.

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::vocabulary::{AlertName, Named, Severity};

mod alerting;
mod api;
mod duration;
mod maintenance;
mod read;
mod rules;
pub mod runbook;
mod secret;
mod shard;
pub mod template;
#[cfg(test)]
mod tests;

pub use alerting::{AlertingConfig, ReceiverConfig, ReceiverKind, ALERTNAMES, SEVERITIES};
pub use api::{ApiConfig, ByteSize, DEFAULT_TOKEN_ENV, MAX_BODY_SIZE, MIN_BODY_SIZE};
pub use duration::parse_period;
pub use maintenance::{
    zone, Entry, MaintenanceConfig, Recurrence, Schedule, TimeRangeConfig, When, MONTHS, WEEKDAYS,
};
pub use rules::{
    ErrorsRule, FlappingRule, RuleSettings, RulesConfig, SimpleRule, StaleAfter, StateRule,
    SyncStaleRule, UnreachableRule, FLAP_WINDOW,
};
pub use secret::Secret;
pub use shard::{ShardConfig, HOSTNAME_ENV, SHARD_COUNT_ENV, SHARD_INDEX_ENV};

use duration::show;

/// One thing wrong with a configuration: the key path (`api.page_size`), the line of the
/// file it is on, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `alerting.receivers[0].url_env`; empty for file-level problems.
    pub path: String,
    /// What is wrong, e.g. `must be between 1 and 100, got 500`.
    pub message: String,
    /// The line of the key in the file (1-based), or of the table that lacks it; `None`
    /// when the problem was not found in a file, or nothing of its path is written there.
    pub line: Option<usize>,
}

impl Problem {
    /// A problem at key `path` (empty for the file as a whole), on no particular line.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for Problem {
    /// `path (line N): message`, as `check` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (true, None) => f.write_str(&self.message),
            (true, Some(line)) => write!(f, "line {line}: {}", self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
            (false, Some(line)) => write!(f, "{} (line {line}): {}", self.path, self.message),
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

/// `[poll]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollConfig {
    /// Time between the starts of two sweeps.
    #[serde(with = "duration")]
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
    /// Allow writes (silences, `POST /-/reload`) from callers that are not authenticated
    /// on a listen address that is not loopback (README, Silences, Write access).
    pub allow_unauthenticated_writes: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:9857".to_string(),
            web_config: None,
            allow_unauthenticated_writes: false,
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
    load_for(path, env, Lookups::All)
}

/// [`load`] for `notify-test`: everything is checked, but the API token is not looked up
/// (receivers are tested without it), and with `receiver` only that receiver's URL and
/// signing secret are (the others are still checked for all but their secrets' presence).
pub fn load_for_notify_test(path: &Path, receiver: Option<&str>) -> Result<Config, ConfigError> {
    load_for(path, &process_env, Lookups::Receivers(receiver))
}

/// What validation looks up in the environment and the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lookups<'a> {
    /// Everything: the API token and every receiver's URL and secret (`run`, `check`).
    #[default]
    All,
    /// What `notify-test` needs: no API token, and the secrets of the receiver named, or
    /// of every receiver when `None`.
    Receivers(Option<&'a str>),
}

/// [`load_with`], looking up only what `lookups` names. Every problem in the file is in
/// the error, sorted by line: parse-level ones (unknown keys, wrong types, bad durations,
/// unknown names) and validation's, a key never reported twice.
pub fn load_for(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    lookups: Lookups<'_>,
) -> Result<Config, ConfigError> {
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
    load_text(&text, env, lookups)
}

/// [`load_for`] on the text of the file.
fn load_text(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    lookups: Lookups<'_>,
) -> Result<Config, ConfigError> {
    let read = read::read(text)?;
    let mut problems = read.problems;
    let parsed = problems.len();
    if let Some(config) = &read.config {
        for mut problem in config.validate_for(env, lookups) {
            // A key whose value was refused has its default now: what validation says of
            // that is not news.
            let said = problems[..parsed].iter().any(|p| p.path == problem.path);
            if said || read.stand_ins.contains(&problem.path) {
                continue;
            }
            problem.line = read.lines.of(&problem.path);
            problems.push(problem);
        }
    }
    let Some(mut config) = read.config.filter(|_| problems.is_empty()) else {
        problems.sort_by_key(|p| p.line);
        return Err(ConfigError { problems });
    };
    // Validation resolved the shard without a problem; put the values in force in place.
    let shard = config
        .shard
        .resolve_with(env)
        .map_err(|problems| ConfigError { problems })?;
    config.shard.index = shard.index;
    config.shard.count = shard.count;
    Ok(config)
}

/// Parses TOML text into a [`Config`]; syntax errors, type errors, bad durations, unknown
/// names and unknown keys are reported with their key path and line (a syntax error,
/// which ends the reading, with its line and column). Every such problem in the text is
/// reported, in line order. Does not validate ranges or look up secrets: see
/// [`Config::validate`].
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let read = read::read(text)?;
    let mut problems = read.problems;
    match read.config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => {
            problems.sort_by_key(|p| p.line);
            Err(ConfigError { problems })
        }
    }
}

/// A syntax error, located by line and column since there is no key path to name.
fn syntax_problem(text: &str, err: &toml::de::Error) -> Problem {
    // toml puts "what" and "what was expected" on separate lines; one line reads better
    // in a list of problems.
    let mut what = String::new();
    for line in err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if !what.is_empty() {
            what.push_str(": ");
        }
        what.push_str(line);
    }
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
        self.validate_for(env, Lookups::All)
    }

    /// [`Config::validate_with`], looking up only what `lookups` names.
    pub fn validate_for(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        lookups: Lookups<'_>,
    ) -> Vec<Problem> {
        let mut out = Vec::new();
        self.api.check(env, lookups == Lookups::All, &mut out);

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
        let receiver = match lookups {
            Lookups::All | Lookups::Receivers(None) => None,
            Lookups::Receivers(Some(name)) => Some(name),
        };
        self.alerting.check(env, receiver, &mut out);
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

/// An I/O error in words, without the `(os error 2)` noise for the common cases.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
        _ => e.to_string(),
    }
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
fn severity(out: &mut Vec<Problem>, path: &str, value: &Named<Severity>) {
    if let Named::Unknown(text) = value {
        out.push(Problem::new(
            path,
            format!(
                "must be one of {}, got {text:?}",
                Named::<Severity>::choices(" or ")
            ),
        ));
    }
}

/// `ca_file = ""` (the documented default) means no extra root, like leaving it out.
fn empty_path_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let path = Option::<PathBuf>::deserialize(d)?;
    Ok(path.filter(|p| !p.as_os_str().is_empty()))
}

//! Secrets: [`Secret`] (never printed) and reading one from the file, the environment or a
//! file on disk without ever quoting it in a message.

use std::fmt;
use std::fs;
use std::path::Path;

use super::{io_reason, Problem};

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

/// Where a secret is read from.
pub(super) enum SecretSource<'a> {
    /// Written in the file itself.
    Inline(&'a str),
    /// An environment variable of this name.
    Env(&'a str),
    /// A file at this path.
    File(&'a Path),
}

impl SecretSource<'_> {
    /// Names the source, never its value: `environment variable X`, `/run/secrets/y`.
    pub(super) fn describe(&self) -> String {
        match self {
            SecretSource::Inline(_) => "the value".to_string(),
            SecretSource::Env(name) => format!("environment variable {name}"),
            SecretSource::File(file) => file.display().to_string(),
        }
    }
}

/// Reads a secret, trailing whitespace (a file's final newline) trimmed. `path` is the key
/// that named the source, for the problem. No message ever contains the value.
pub(super) fn read_secret(
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

//! The web configuration file: TLS, client certificates, basic auth, response headers and
//! a request rate limit for our own endpoints, in the format of the Prometheus exporter
//! toolkit (`--web.config.file` of node_exporter and friends), so operators reuse the files
//! and habits they already have.
//!
//! It is named by `--web-config FILE` or by `server.web_config` in the TOML config (the flag
//! wins), and is YAML:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$...   # bcrypt
//! ```
//!
//! Loading reads and checks everything up front (certificates parse, the key matches the
//! certificate, bcrypt hashes are well formed), so a problem stops the daemon at start, and
//! `check` finds it, instead of the first handshake failing. As in the exporter toolkit,
//! relative file names are relative to the directory of the web config file itself.
//!
//! What the toolkit accepts but we cannot honour is refused by name rather than ignored:
//! TLS 1.0 and 1.1, `client_allowed_sans`, and cipher suites or curves that rustls does not
//! implement. Every problem carries its key path, like the TOML config's.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::config::{io_reason, Config, Problem, Secret};

mod auth;
mod http;
#[cfg(test)]
mod tests;
mod tls;

pub use http::RateLimit;
pub use tls::{ClientAuth, TlsSettings, TlsVersion};

/// A loaded and checked web configuration.
#[derive(Debug)]
pub struct WebConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// `http_server_config.headers`: added to (and overriding ours on) every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `basic_auth_users`: user name → bcrypt hash. Empty: no basic auth.
    pub users: BTreeMap<String, Secret>,
    /// `rate_limit`, when it is on.
    pub rate_limit: Option<RateLimit>,
}

impl WebConfig {
    /// One line for logs and `check`: what the file turns on.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match &self.tls {
            Some(tls) => parts.push(format!(
                "TLS {}..{}, client certificates: {}",
                tls.min_version, tls.max_version, tls.client_auth
            )),
            None => parts.push("plain HTTP".to_string()),
        }
        if !self.users.is_empty() {
            parts.push(format!("{} basic-auth user(s)", self.users.len()));
        }
        if let Some(limit) = &self.rate_limit {
            parts.push(format!(
                "rate limit 1 per {} (burst {})",
                humantime::format_duration(limit.interval),
                limit.burst
            ));
        }
        if !self.headers.is_empty() {
            parts.push(format!("{} extra header(s)", self.headers.len()));
        }
        parts.join(", ")
    }
}

/// Every problem found in a web configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WebConfigError {
    /// The file.
    pub path: PathBuf,
    /// The problems, each with its key path inside the file.
    pub problems: Vec<Problem>,
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} problem(s):",
            self.path.display(),
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Applies `--web-config` (which wins over `server.web_config`) to `config`, then loads
/// and checks the web config it names. `Ok(None)` when neither names one.
pub fn resolve(
    config: &mut Config,
    flag: Option<&Path>,
) -> Result<Option<WebConfig>, WebConfigError> {
    if let Some(path) = flag {
        config.server.web_config = Some(path.to_path_buf());
    }
    load_for(config)
}

/// Loads the web config `config.server.web_config` names, if any.
pub fn load_for(config: &Config) -> Result<Option<WebConfig>, WebConfigError> {
    match &config.server.web_config {
        Some(path) => load(path).map(Some),
        None => Ok(None),
    }
}

/// Reads, parses and checks the web configuration file at `path`.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let text = fs::read_to_string(path).map_err(|e| WebConfigError {
        path: path.to_path_buf(),
        problems: vec![Problem::new(
            "",
            format!("cannot read web config file: {}", io_reason(&e)),
        )],
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    parse(&text, base)
        .map(|mut c| {
            c.path = path.to_path_buf();
            c
        })
        .map_err(|problems| WebConfigError {
            path: path.to_path_buf(),
            problems,
        })
}

/// Parses YAML text and checks it; relative file names are taken relative to `base`.
/// Returns every problem found (syntax and unknown keys stop at the first).
pub fn parse(text: &str, base: &Path) -> Result<WebConfig, Vec<Problem>> {
    let raw = parse_raw(text).map_err(|p| vec![p])?;
    let mut problems = Vec::new();
    let tls = match &raw.tls_server_config {
        Some(tls) => tls.build(base, &mut problems),
        None => None,
    };
    let headers = raw.http_server_config.headers(&mut problems);
    let users = auth::users(raw.basic_auth_users.unwrap_or_default(), &mut problems);
    let rate_limit = raw.rate_limit.and_then(|r| r.build(&mut problems));
    if problems.is_empty() {
        Ok(WebConfig {
            path: PathBuf::new(),
            tls,
            headers,
            users,
            rate_limit,
        })
    } else {
        Err(problems)
    }
}

fn parse_raw(text: &str) -> Result<RawWebConfig, Problem> {
    // An empty file (or one holding only comments) means "all defaults", as in the toolkit.
    let de = serde_norway::Deserializer::from_str(text);
    let raw: Option<RawWebConfig> = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            return Problem::new("", format!("YAML: {message}"));
        }
        // serde_norway starts its message with the path of the enclosing map, which we
        // already give in full.
        let mut prefix = path.as_str();
        let message = loop {
            if let Some(rest) = message.strip_prefix(&format!("{prefix}: ")) {
                break rest.to_string();
            }
            match prefix.rfind('.') {
                Some(i) => prefix = &prefix[..i],
                None => break message,
            }
        };
        Problem::new(path, message)
    })?;
    Ok(raw.unwrap_or_default())
}

/// The file as written. Every key of the exporter toolkit is known here, so that one we
/// cannot honour is refused by name rather than reported as unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWebConfig {
    /// `tls_server_config`.
    tls_server_config: Option<tls::RawTls>,
    /// `http_server_config`.
    http_server_config: http::RawHttp,
    /// Values taken as any YAML so that a mistyped one (a bare number) is refused without
    /// serde quoting it: it may be a password.
    basic_auth_users: Option<BTreeMap<String, serde_norway::Value>>,
    /// `rate_limit`.
    rate_limit: Option<http::RawRateLimit>,
}

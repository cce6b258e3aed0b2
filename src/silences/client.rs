//! The `silence` command's client (README, Silences): the same Alertmanager v2 API that
//! `amtool` uses, against a running daemon, with the auth a secured daemon asks for
//! (basic auth, a CA, a client certificate).
//!
//! Errors name the URL without its userinfo, and never a password.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::json;

use crate::config::Secret;
use crate::matchers::{ApiMatcher, MatchOp, Matcher};

/// The daemon's default address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9857";

/// How to reach the daemon.
#[derive(Debug, Default, Clone)]
pub struct ClientOptions {
    /// The daemon's base URL (`http://127.0.0.1:9857`).
    pub url: String,
    /// Basic-auth user.
    pub user: Option<String>,
    /// Basic-auth password.
    pub password: Option<Secret>,
    /// A CA file (PEM) to verify the daemon's certificate with, besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) to present, with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM).
    pub key_file: Option<PathBuf>,
}

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The options cannot be used (a file that cannot be read, a bad URL).
    #[error("{0}")]
    Options(String),
    /// The daemon could not be reached.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL, without userinfo.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The daemon answered with an error: its status and body.
    #[error("{url} answered {status}: {body}")]
    Refused {
        /// The URL asked, without userinfo.
        url: String,
        /// The HTTP status.
        status: reqwest::StatusCode,
        /// The body, trimmed.
        body: String,
    },
    /// The answer is not what the API gives.
    #[error("{url} gave an answer that is not the Alertmanager API's: {reason}")]
    Unexpected {
        /// The URL asked, without userinfo.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A silence as listed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    /// Its id.
    pub id: String,
    /// `pending`, `active` or `expired`.
    pub state: String,
    /// Its matchers, as written.
    pub matchers: String,
    /// When it ends, RFC 3339.
    pub ends_at: String,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// A client of one daemon.
pub struct Client {
    http: reqwest::Client,
    /// The base URL, as given.
    base: reqwest::Url,
    /// The base URL without userinfo, for messages.
    shown: String,
    /// Basic auth, when given.
    auth: Option<(String, Secret)>,
}

impl Client {
    /// A client for `options`.
    pub fn new(options: &ClientOptions) -> Result<Client, ClientError> {
        let mut base = reqwest::Url::parse(options.url.trim_end_matches('/'))
            .map_err(|e| ClientError::Options(format!("--url: {e}")))?;
        let mut auth = options.user.clone().map(|u| {
            (
                u,
                options.password.clone().unwrap_or_else(|| Secret::new("")),
            )
        });
        if !base.username().is_empty() && auth.is_none() {
            auth = Some((
                base.username().to_string(),
                Secret::new(base.password().unwrap_or_default()),
            ));
        }
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let shown = base.as_str().trim_end_matches('/').to_string();
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| ClientError::Options(format!("{}: {e}", p.display())))
        };
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(ca) = &options.ca_file {
            let cert = reqwest::Certificate::from_pem(&read(ca)?)
                .map_err(|e| ClientError::Options(format!("{}: {e}", ca.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        match (&options.cert_file, &options.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert)?;
                pem.push(b'\n');
                pem.extend(read(key)?);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    ClientError::Options(format!("{} and {}: {e}", cert.display(), key.display()))
                })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(ClientError::Options(
                    "--cert-file and --key-file go together".to_string(),
                ))
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Options(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            shown,
            auth,
        })
    }

    /// Sends `method path` (with `body`), returns the body of a 2xx.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base.as_str().trim_end_matches('/'));
        let shown = format!("{}{}", self.shown, path.split('?').next().unwrap_or(path));
        let mut request = self.http.request(method, &url);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password.expose()));
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.shown.clone(),
            reason: causes(&e.without_url()),
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(ClientError::Refused {
                url: shown,
                status,
                body: text.trim().to_string(),
            });
        }
        Ok(text)
    }

    /// Creates a silence from now for `duration`; returns its id.
    pub async fn add(
        &self,
        matchers: &[Matcher],
        duration: Duration,
        author: &str,
        comment: &str,
    ) -> Result<String, ClientError> {
        let now = SystemTime::now();
        let body = json!({
            "matchers": matchers.iter().map(|m| json!({
                "name": m.name(),
                "value": m.value(),
                "isRegex": m.op().is_regex(),
                "isEqual": m.op().is_equal(),
            })).collect::<Vec<_>>(),
            "startsAt": humantime::format_rfc3339_millis(now).to_string(),
            "endsAt": humantime::format_rfc3339_millis(now + duration).to_string(),
            "createdBy": author,
            "comment": comment,
        });
        let text = self
            .call(reqwest::Method::POST, "/api/v2/silences", Some(body))
            .await?;
        let answer: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| self.unexpected("/api/v2/silences", e))?;
        answer["silenceID"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.unexpected("/api/v2/silences", "no silenceID"))
    }

    /// The silences whose matchers satisfy every `filter`.
    pub async fn query(&self, filter: &[Matcher]) -> Result<Vec<Listed>, ClientError> {
        let mut path = "/api/v2/silences".to_string();
        for (i, m) in filter.iter().enumerate() {
            let encoded: String = url_encode(&m.to_string());
            path.push(if i == 0 { '?' } else { '&' });
            path.push_str("filter=");
            path.push_str(&encoded);
        }
        let text = self.call(reqwest::Method::GET, &path, None).await?;
        let raw: Vec<RawSilence> =
            serde_json::from_str(&text).map_err(|e| self.unexpected("/api/v2/silences", e))?;
        Ok(raw.into_iter().map(RawSilence::listed).collect())
    }

    /// Expires silence `id`.
    pub async fn expire(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/v2/silence/{}", url_encode(id));
        self.call(reqwest::Method::DELETE, &path, None).await?;
        Ok(())
    }

    fn unexpected(&self, path: &str, reason: impl std::fmt::Display) -> ClientError {
        ClientError::Unexpected {
            url: format!("{}{path}", self.shown),
            reason: reason.to_string(),
        }
    }
}

/// Percent-encodes everything but unreserved characters.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An error and its causes, on one line.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A `gettableSilence` as the client reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSilence {
    id: String,
    status: RawStatus,
    matchers: Vec<ApiMatcher>,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

#[derive(Debug, Deserialize)]
struct RawStatus {
    state: String,
}

impl RawSilence {
    fn listed(self) -> Listed {
        let matchers: Vec<String> = self
            .matchers
            .iter()
            .map(|m| {
                let op = MatchOp::from_flags(m.is_regex, m.is_equal);
                Matcher::new(&m.name, op, &m.value).map_or_else(
                    |_| format!("{}{}{:?}", m.name, op.as_str(), m.value),
                    |m| m.to_string(),
                )
            })
            .collect();
        Listed {
            id: self.id,
            state: self.status.state,
            matchers: matchers.join(" "),
            ends_at: self.ends_at,
            created_by: self.created_by,
            comment: self.comment,
        }
    }
}

/// The table `silence query` prints: id, matchers, ends, author, comment.
pub fn table(silences: &[Listed]) -> String {
    let header = ["ID", "MATCHERS", "ENDS", "AUTHOR", "COMMENT"];
    let rows: Vec<[String; 5]> = silences
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.matchers.clone(),
                s.ends_at.clone(),
                s.created_by.clone(),
                s.comment.replace('\n', " "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_shown_without_userinfo_and_gives_basic_auth() {
        let c = Client::new(&ClientOptions {
            url: "http://me:secret@127.0.0.1:9857/".to_string(),
            ..ClientOptions::default()
        })
        .unwrap();
        assert_eq!(c.shown, "http://127.0.0.1:9857");
        assert_eq!(c.auth.as_ref().unwrap().0, "me");
        assert_eq!(c.auth.as_ref().unwrap().1.expose(), "secret");
    }

    #[test]
    fn the_table_lines_up_its_columns() {
        let s = Listed {
            id: "abc".to_string(),
            state: "active".to_string(),
            matchers: "a=\"b\"".to_string(),
            ends_at: "2026-01-01T00:00:00.000Z".to_string(),
            created_by: "alice".to_string(),
            comment: "why".to_string(),
        };
        let t = table(&[s]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("MATCHERS"), lines[1].find("a=\"b\""));
        assert!(lines[1].ends_with("why"));
    }

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(url_encode(r#"a=~"b.*""#), "a%3D~%22b.%2A%22");
    }
}

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
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DistinguishedName, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use serde::Deserialize;

use crate::config::{Config, Problem, Secret};

/// The ALPN protocol we speak: HTTP/1.1 only (scrapers do not need more).
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Headers the file may set, as in the exporter toolkit (which keeps the list short on
/// purpose), with the values allowed where the header is an enumeration.
const CONFIGURABLE_HEADERS: &[(&str, &[&str])] = &[
    ("strict-transport-security", &[]),
    ("x-content-type-options", &["nosniff"]),
    ("x-frame-options", &["deny", "sameorigin"]),
    ("x-xss-protection", &[]),
    ("content-security-policy", &[]),
];

/// A loaded and checked web configuration.
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

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls)
            .field("headers", &self.headers)
            .field("users", &self.users)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
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

/// How the server treats TLS connections.
#[derive(Clone)]
pub struct TlsSettings {
    /// The rustls configuration handshakes use: certificate, versions, client verifier,
    /// ALPN `http/1.1`.
    pub server_config: Arc<rustls::ServerConfig>,
    /// `client_auth_type`.
    pub client_auth: ClientAuth,
    /// `min_version`.
    pub min_version: TlsVersion,
    /// `max_version`.
    pub max_version: TlsVersion,
}

impl fmt::Debug for TlsSettings {
    // The rustls configuration holds the private key: leave it out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("client_auth", &self.client_auth)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .finish_non_exhaustive()
    }
}

/// `client_auth_type`: Go's `tls.ClientAuthType` policies, by the names the toolkit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for.
    NoClientCert,
    /// A certificate is asked for but neither required nor verified.
    RequestClientCert,
    /// A certificate is required but not verified (it only proves the client holds a key).
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must chain to `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A certificate chaining to `client_ca_file` is required: the only policy that
    /// authenticates clients.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    const NAMES: &'static str = "NoClientCert, RequestClientCert, RequireAnyClientCert, \
                                 VerifyClientCertIfGiven or RequireAndVerifyClientCert";

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "" | "NoClientCert" => Self::NoClientCert,
            "RequestClientCert" => Self::RequestClientCert,
            // The toolkit keeps `RequireClientCert` as an old spelling.
            "RequireAnyClientCert" | "RequireClientCert" => Self::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => Self::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => Self::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    /// Whether the policy checks certificates against `client_ca_file`.
    fn verifies(self) -> bool {
        matches!(
            self,
            Self::VerifyClientCertIfGiven | Self::RequireAndVerifyClientCert
        )
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoClientCert => "none",
            Self::RequestClientCert => "requested, not verified",
            Self::RequireAnyClientCert => "required, not verified",
            Self::VerifyClientCertIfGiven => "verified when given",
            Self::RequireAndVerifyClientCert => "required and verified",
        })
    }
}

/// A TLS protocol version we can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    fn parse(path: &str, name: &str) -> Result<Self, Problem> {
        match name {
            "TLS12" => Ok(Self::Tls12),
            "TLS13" => Ok(Self::Tls13),
            "TLS10" | "TLS11" => Err(Problem::new(
                path,
                format!(
                    "{name} is not supported (TLS 1.0 and 1.1 are obsolete); use TLS12 or TLS13"
                ),
            )),
            other => Err(Problem::new(
                path,
                format!("must be TLS12 or TLS13, got {other:?}"),
            )),
        }
    }

    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            Self::Tls12 => &rustls::version::TLS12,
            Self::Tls13 => &rustls::version::TLS13,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tls12 => "1.2",
            Self::Tls13 => "1.3",
        })
    }
}

/// `rate_limit`: a token bucket refilled with one request every `interval`, holding at
/// most `burst`; requests beyond it get 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Time to earn one request.
    pub interval: Duration,
    /// Requests that may be made at once after a quiet spell.
    pub burst: u32,
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
    let users = users(raw.basic_auth_users.unwrap_or_default(), &mut problems);
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
    let de = serde_yaml::Deserializer::from_str(text);
    let raw: Option<RawWebConfig> = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            return Problem::new("", format!("YAML: {message}"));
        }
        // serde_yaml starts its message with the path of the enclosing map, which we
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
    tls_server_config: Option<RawTls>,
    http_server_config: RawHttp,
    /// Values taken as any YAML so that a mistyped one (a bare number) is refused without
    /// serde quoting it: it may be a password.
    basic_auth_users: Option<BTreeMap<String, serde_yaml::Value>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    /// Accepted for compatibility; we always speak HTTP/1.1.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRateLimit {
    interval: Option<serde_yaml::Value>,
    burst: Option<u32>,
}

/// PEM text, either inline (`cert`) or from a file (`cert_file`), never both.
enum PemSource {
    Inline(String),
    File(PathBuf),
}

/// An empty string means "not set", as in the toolkit.
fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn non_empty_path(p: &Option<PathBuf>) -> Option<&Path> {
    p.as_deref().filter(|p| !p.as_os_str().is_empty())
}

impl RawTls {
    /// Whether the section turns TLS on: any certificate, key, CA or policy set.
    fn enabled(&self) -> bool {
        non_empty(&self.cert).is_some()
            || non_empty(&self.key).is_some()
            || non_empty(&self.client_ca).is_some()
            || non_empty_path(&self.cert_file).is_some()
            || non_empty_path(&self.key_file).is_some()
            || non_empty_path(&self.client_ca_file).is_some()
            || non_empty(&self.client_auth_type).is_some()
    }

    /// Checks the section and builds the rustls configuration; `None` with problems in
    /// `out` when something is wrong, or without any when nothing turns TLS on.
    fn build(&self, base: &Path, out: &mut Vec<Problem>) -> Option<TlsSettings> {
        let before = out.len();
        let policy = self.policy(out);
        if !self.enabled() {
            self.refuse_settings_without_tls(out);
            return None;
        }
        let material = self.material(base, policy.as_ref().map(|p| p.client_auth), out);
        if out.len() > before {
            return None;
        }
        self.assemble(policy?, material?, out)
    }

    /// Versions, client policy and the crypto provider: everything but the files.
    fn policy(&self, out: &mut Vec<Problem>) -> Option<Policy> {
        if self
            .client_allowed_sans
            .as_ref()
            .is_some_and(|s| !s.is_empty())
        {
            out.push(Problem::new(
                "tls_server_config.client_allowed_sans",
                "is not supported; authorise clients by their CA (client_ca_file with \
                 RequireAndVerifyClientCert) or with basic_auth_users",
            ));
        }
        let mut version =
            |key: &str, value: &Option<String>, default: TlsVersion| match non_empty(value) {
                Some(v) => TlsVersion::parse(&format!("tls_server_config.{key}"), v)
                    .map_err(|p| out.push(p))
                    .ok(),
                None => Some(default),
            };
        let min = version("min_version", &self.min_version, TlsVersion::Tls12);
        let max = version("max_version", &self.max_version, TlsVersion::Tls13);
        if let (Some(min), Some(max)) = (min, max) {
            if min > max {
                out.push(Problem::new(
                    "tls_server_config.min_version",
                    format!("TLS {min} is above max_version (TLS {max})"),
                ));
            }
        }
        let name = non_empty(&self.client_auth_type).unwrap_or("");
        let client_auth = ClientAuth::parse(name);
        if client_auth.is_none() {
            out.push(Problem::new(
                "tls_server_config.client_auth_type",
                format!("must be one of {}, got {name:?}", ClientAuth::NAMES),
            ));
        }
        let provider = self.provider(out);
        Some(Policy {
            min: min?,
            max: max?,
            client_auth: client_auth?,
            provider: Arc::new(provider?),
        })
    }

    /// Nothing turns TLS on, yet settings that only mean something with TLS are there: a
    /// sign the operator expected TLS.
    fn refuse_settings_without_tls(&self, out: &mut Vec<Problem>) {
        let stray = [
            ("min_version", self.min_version.is_some()),
            ("max_version", self.max_version.is_some()),
            ("cipher_suites", self.cipher_suites.is_some()),
            ("curve_preferences", self.curve_preferences.is_some()),
            (
                "prefer_server_cipher_suites",
                self.prefer_server_cipher_suites.is_some(),
            ),
        ];
        for (key, _) in stray.iter().filter(|(_, set)| *set) {
            out.push(Problem::new(
                format!("tls_server_config.{key}"),
                "has no effect without cert_file and key_file (TLS is off)",
            ));
        }
    }

    /// Reads the certificate chain, the key and the client CA, and checks the CA against
    /// the policy (when the policy itself is valid).
    fn material(
        &self,
        base: &Path,
        client_auth: Option<ClientAuth>,
        out: &mut Vec<Problem>,
    ) -> Option<Material> {
        let cert = pem_source("cert", &self.cert, "cert_file", &self.cert_file, base, out);
        let key = pem_source("key", &self.key, "key_file", &self.key_file, base, out);
        let ca = pem_source(
            "client_ca",
            &self.client_ca,
            "client_ca_file",
            &self.client_ca_file,
            base,
            out,
        );
        if cert.is_none() && non_empty(&self.cert).is_none() {
            out.push(Problem::new(
                "tls_server_config.cert_file",
                "is required to serve TLS (or give the certificate inline as cert)",
            ));
        }
        if key.is_none() && non_empty(&self.key).is_none() {
            out.push(Problem::new(
                "tls_server_config.key_file",
                "is required to serve TLS (or give the key inline as key)",
            ));
        }
        match client_auth {
            Some(ClientAuth::NoClientCert) => {
                if let Some((path, _)) = &ca {
                    out.push(Problem::new(
                        path.clone(),
                        "is set but client_auth_type is NoClientCert; set client_auth_type to \
                         RequireAndVerifyClientCert to check client certificates",
                    ));
                }
            }
            Some(policy) if policy.verifies() && ca.is_none() => out.push(Problem::new(
                "tls_server_config.client_ca_file",
                format!(
                    "is required with client_auth_type {policy:?}: client certificates are \
                     verified against it"
                ),
            )),
            _ => {}
        }
        let chain = cert.and_then(|(path, src)| read_certs(&path, &src, out));
        let private_key = key.and_then(|(path, src)| read_key(&path, &src, out));
        let roots = match ca {
            Some((path, src)) => Some(read_roots(&path, &src, out)?),
            None => None,
        };
        Some(Material {
            chain: chain?,
            private_key: private_key?,
            roots,
        })
    }

    /// The rustls server configuration from checked parts.
    fn assemble(
        &self,
        policy: Policy,
        material: Material,
        out: &mut Vec<Problem>,
    ) -> Option<TlsSettings> {
        let Policy {
            min,
            max,
            client_auth,
            provider,
        } = policy;
        let versions: Vec<&'static SupportedProtocolVersion> =
            [TlsVersion::Tls12, TlsVersion::Tls13]
                .into_iter()
                .filter(|v| (min..=max).contains(v))
                .map(TlsVersion::rustls)
                .collect();
        let builder = match rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
        {
            Ok(b) => b,
            Err(e) => {
                out.push(Problem::new(
                    "tls_server_config.cipher_suites",
                    format!("leaves nothing to negotiate with TLS {min}..{max}: {e}"),
                ));
                return None;
            }
        };
        let verifier: Option<Arc<dyn ClientCertVerifier>> = match client_auth {
            ClientAuth::NoClientCert => None,
            ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
                Some(Arc::new(AnyClientCert {
                    mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                    provider: provider.clone(),
                }))
            }
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
                // `material` made sure the roots are there.
                let (path, roots) = material.roots?;
                let mut b = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
                if client_auth == ClientAuth::VerifyClientCertIfGiven {
                    b = b.allow_unauthenticated();
                }
                match b.build() {
                    Ok(v) => Some(v),
                    Err(e) => {
                        out.push(Problem::new(path, format!("cannot be used: {e}")));
                        return None;
                    }
                }
            }
        };
        let builder = match verifier {
            Some(v) => builder.with_client_cert_verifier(v),
            None => builder.with_no_client_auth(),
        };
        let mut server_config = match builder.with_single_cert(material.chain, material.private_key)
        {
            Ok(c) => c,
            Err(e) => {
                let key = if non_empty(&self.key).is_some() {
                    "key"
                } else {
                    "key_file"
                };
                out.push(Problem::new(
                    format!("tls_server_config.{key}"),
                    format!("does not go with the certificate: {e}"),
                ));
                return None;
            }
        };
        server_config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        // Go's default, and what `prefer_server_cipher_suites` (default true) asks for.
        server_config.ignore_client_order = self.prefer_server_cipher_suites.unwrap_or(true);
        Some(TlsSettings {
            server_config: Arc::new(server_config),
            client_auth,
            min_version: min,
            max_version: max,
        })
    }

    /// The ring provider, narrowed to `cipher_suites` and ordered by `curve_preferences`.
    fn provider(&self, out: &mut Vec<Problem>) -> Option<CryptoProvider> {
        let mut provider = rustls::crypto::ring::default_provider();
        let mut ok = true;
        if let Some(names) = self.cipher_suites.as_ref().filter(|n| !n.is_empty()) {
            let mut chosen = Vec::new();
            for (i, name) in names.iter().enumerate() {
                // TLS 1.3 suites are not configurable in Go either: accepted, always on.
                if TLS13_SUITE_NAMES.contains(&name.as_str()) {
                    continue;
                }
                match provider
                    .cipher_suites
                    .iter()
                    .find(|s| format!("{:?}", s.suite()) == *name)
                {
                    Some(s) => chosen.push(*s),
                    None => {
                        ok = false;
                        out.push(Problem::new(
                            format!("tls_server_config.cipher_suites[{i}]"),
                            format!(
                                "{name:?} is not supported; supported TLS 1.2 suites: {}",
                                tls12_suite_names(&provider).join(", ")
                            ),
                        ));
                    }
                }
            }
            let tls13: Vec<_> = provider
                .cipher_suites
                .iter()
                .filter(|s| s.tls13().is_some())
                .copied()
                .collect();
            provider.cipher_suites = tls13.into_iter().chain(chosen).collect();
        }
        if let Some(names) = self.curve_preferences.as_ref().filter(|n| !n.is_empty()) {
            let mut chosen = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let wanted = match name.as_str() {
                    "X25519" => Some("X25519"),
                    "CurveP256" => Some("secp256r1"),
                    "CurveP384" => Some("secp384r1"),
                    _ => None,
                };
                match wanted.and_then(|w| {
                    provider
                        .kx_groups
                        .iter()
                        .find(|g| format!("{:?}", g.name()) == w)
                }) {
                    Some(g) => chosen.push(*g),
                    None => {
                        ok = false;
                        out.push(Problem::new(
                            format!("tls_server_config.curve_preferences[{i}]"),
                            format!(
                                "{name:?} is not supported; use X25519, CurveP256 or CurveP384"
                            ),
                        ));
                    }
                }
            }
            provider.kx_groups = chosen;
        }
        ok.then_some(provider)
    }
}

/// The checked settings of `tls_server_config`, apart from its files.
struct Policy {
    /// `min_version`.
    min: TlsVersion,
    /// `max_version`.
    max: TlsVersion,
    /// `client_auth_type`.
    client_auth: ClientAuth,
    /// ring, narrowed to `cipher_suites` and `curve_preferences`.
    provider: Arc<CryptoProvider>,
}

/// What the files of `tls_server_config` hold.
struct Material {
    /// The server's certificate chain.
    chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    private_key: PrivateKeyDer<'static>,
    /// The client CA, with the key path it came from.
    roots: Option<(String, Arc<RootCertStore>)>,
}

/// One PEM input given inline (`cert`) or by file (`cert_file`, relative to `base`), never
/// both; with the key path it came from. `None` (with a problem when both are set) when
/// neither is.
fn pem_source(
    inline_key: &str,
    inline: &Option<String>,
    file_key: &str,
    file: &Option<PathBuf>,
    base: &Path,
    out: &mut Vec<Problem>,
) -> Option<(String, PemSource)> {
    match (non_empty(inline), non_empty_path(file)) {
        (Some(_), Some(_)) => {
            out.push(Problem::new(
                format!("tls_server_config.{file_key}"),
                format!("set either {inline_key} or {file_key}, not both"),
            ));
            None
        }
        (Some(text), None) => Some((
            format!("tls_server_config.{inline_key}"),
            PemSource::Inline(text.to_string()),
        )),
        (None, Some(file)) => Some((
            format!("tls_server_config.{file_key}"),
            PemSource::File(base.join(file)),
        )),
        (None, None) => None,
    }
}

/// The client CA certificates, as roots to verify client certificates against.
fn read_roots(
    path: &str,
    src: &PemSource,
    out: &mut Vec<Problem>,
) -> Option<(String, Arc<RootCertStore>)> {
    let certs = read_certs(path, src, out)?;
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(certs);
    if ignored > 0 || roots.is_empty() {
        out.push(Problem::new(
            path,
            format!(
                "{} holds a certificate that is not a usable CA",
                src.describe()
            ),
        ));
        return None;
    }
    Some((path.to_string(), Arc::new(roots)))
}

/// Go's names of the TLS 1.3 suites.
const TLS13_SUITE_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

fn tls12_suite_names(provider: &CryptoProvider) -> Vec<String> {
    provider
        .cipher_suites
        .iter()
        .filter(|s| s.tls13().is_none())
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

impl PemSource {
    fn describe(&self) -> String {
        match self {
            PemSource::Inline(_) => "the inline value".to_string(),
            PemSource::File(p) => p.display().to_string(),
        }
    }

    fn bytes(&self, path: &str, out: &mut Vec<Problem>) -> Option<Vec<u8>> {
        match self {
            PemSource::Inline(text) => Some(text.as_bytes().to_vec()),
            PemSource::File(file) => match fs::read(file) {
                Ok(b) => Some(b),
                Err(e) => {
                    out.push(Problem::new(
                        path,
                        format!("cannot read {}: {}", file.display(), io_reason(&e)),
                    ));
                    None
                }
            },
        }
    }
}

fn read_certs(
    path: &str,
    src: &PemSource,
    out: &mut Vec<Problem>,
) -> Option<Vec<CertificateDer<'static>>> {
    let pem = src.bytes(path, out)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Some(certs),
        Ok(_) => {
            out.push(Problem::new(
                path,
                format!(
                    "{} holds no PEM certificate (no \"-----BEGIN CERTIFICATE-----\" line)",
                    src.describe()
                ),
            ));
            None
        }
        Err(e) => {
            out.push(Problem::new(
                path,
                format!("{} is not valid PEM: {e}", src.describe()),
            ));
            None
        }
    }
}

fn read_key(path: &str, src: &PemSource, out: &mut Vec<Problem>) -> Option<PrivateKeyDer<'static>> {
    let pem = src.bytes(path, out)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Some(key),
        // The error may quote what it read: say only where.
        Err(_) => {
            out.push(Problem::new(
                path,
                format!(
                    "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                    src.describe()
                ),
            ));
            None
        }
    }
}

/// Accepts any client certificate whose holder proves it has the key: Go's
/// `RequestClientCert` and `RequireAnyClientCert`. Not an authentication by itself.
#[derive(Debug)]
struct AnyClientCert {
    /// Whether a certificate is required.
    mandatory: bool,
    /// For handshake signature checks.
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl RawHttp {
    fn headers(&self, out: &mut Vec<Problem>) -> Vec<(HeaderName, HeaderValue)> {
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

fn users(
    raw: BTreeMap<String, serde_yaml::Value>,
    out: &mut Vec<Problem>,
) -> BTreeMap<String, Secret> {
    let mut users = BTreeMap::new();
    for (name, hash) in raw {
        let path = format!("basic_auth_users.{name}");
        if name.contains(':') {
            out.push(Problem::new(
                path,
                "a user name cannot contain ':' (basic auth could never send it)",
            ));
            continue;
        }
        let Some(hash) = hash.as_str().filter(|h| is_bcrypt(h)) else {
            // Never quote the value: it is a secret.
            out.push(Problem::new(
                path,
                "is not a bcrypt hash (like \"$2y$10$...\", 60 characters; make one with \
                 `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
            ));
            continue;
        };
        users.insert(name, Secret::new(hash));
    }
    users
}

/// `$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost from 4 to 31, then 53 characters of bcrypt's
/// base64 (22 of salt, 31 of hash).
fn is_bcrypt(hash: &str) -> bool {
    let Some(parts) = hash.strip_prefix('$') else {
        return false;
    };
    let mut parts = parts.split('$');
    let (Some(version), Some(cost), Some(rest), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(version, "2a" | "2b" | "2x" | "2y")
        && cost.len() == 2
        && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
        && rest.len() == 53
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

impl RawRateLimit {
    fn build(self, out: &mut Vec<Problem>) -> Option<RateLimit> {
        let interval = match &self.interval {
            None => Duration::ZERO,
            Some(serde_yaml::Value::Number(n)) if n.as_u64() == Some(0) => Duration::ZERO,
            Some(serde_yaml::Value::String(s)) => match humantime::parse_duration(s.trim()) {
                Ok(d) => d,
                Err(e) => {
                    out.push(Problem::new(
                        "rate_limit.interval",
                        format!("{e}; write durations like \"1s\" or \"100ms\""),
                    ));
                    return None;
                }
            },
            Some(_) => {
                out.push(Problem::new(
                    "rate_limit.interval",
                    "must be a duration like \"1s\" or \"100ms\" (0 turns the limit off)",
                ));
                return None;
            }
        };
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

/// An I/O error in words, without the `(os error 2)` noise for the common cases.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::InvalidData => "it is not UTF-8 text".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(text, Path::new("/nonexistent")) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        for text in ["", "# only a comment\n", "{}"] {
            let c = parse(text, Path::new(".")).expect("valid");
            assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
        }
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let p = problems("tls_server_config:\n  cert_fil: x.pem\n");
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("tls_server_config.cert_fil: unknown field `cert_fil`"),
            "{p:?}"
        );
        let p = problems("basic_auth:\n  a: b\n");
        assert!(p[0].starts_with("basic_auth: unknown field"), "{p:?}");
    }

    #[test]
    fn bcrypt_hashes_are_checked_without_being_quoted() {
        let p = problems("basic_auth_users:\n  alice: hunter2\n  bob: 31415926\n");
        assert_eq!(p.len(), 2);
        assert!(p[0].starts_with("basic_auth_users.alice: is not a bcrypt hash"));
        assert!(p[1].starts_with("basic_auth_users.bob: is not a bcrypt hash"));
        assert!(!p.concat().contains("hunter2") && !p.concat().contains("31415926"));
        assert!(is_bcrypt(
            "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"
        ));
        assert!(!is_bcrypt(
            "$2y$03$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"
        ));
        assert!(!is_bcrypt("$2y$10$short"));
    }

    #[test]
    fn missing_files_name_the_key_and_the_file() {
        let p = problems("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
        assert_eq!(
            p,
            [
                "tls_server_config.cert_file: cannot read /nonexistent/server.crt: no such file",
                "tls_server_config.key_file: cannot read /nonexistent/server.key: no such file",
            ]
        );
    }

    #[test]
    fn policies_versions_and_headers_are_validated() {
        let p = problems(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n  \
             min_version: TLS10\n  client_allowed_sans: [x]\n  curve_preferences: [CurveP521]\n\
             http_server_config:\n  headers:\n    X-Frame-Options: allow\n    Server: me\n",
        );
        let joined = p.join("\n");
        for needle in [
            "tls_server_config.client_allowed_sans: is not supported",
            "tls_server_config.min_version: TLS10 is not supported",
            "tls_server_config.client_auth_type: must be one of",
            "tls_server_config.curve_preferences[0]: \"CurveP521\" is not supported",
            "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin",
            "http_server_config.headers.Server: cannot be configured",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
    }

    #[test]
    fn verifying_policies_need_a_ca_and_a_ca_needs_a_policy() {
        let p = problems(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
        )
        .join("\n");
        assert!(p.contains("tls_server_config.client_ca_file: is required with client_auth_type RequireAndVerifyClientCert"), "{p}");
        let p = problems("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca: \"x\"\n")
            .join("\n");
        assert!(
            p.contains("tls_server_config.client_ca: is set but client_auth_type is NoClientCert"),
            "{p}"
        );
    }

    #[test]
    fn tls_settings_without_a_certificate_are_refused() {
        let p = problems("tls_server_config:\n  min_version: TLS13\n");
        assert_eq!(
            p,
            ["tls_server_config.min_version: has no effect without cert_file and key_file (TLS is off)"]
        );
        let p = problems("tls_server_config:\n  key_file: k.pem\n").join("\n");
        assert!(
            p.contains("tls_server_config.cert_file: is required to serve TLS"),
            "{p}"
        );
    }

    #[test]
    fn rate_limit_needs_a_burst() {
        let c = parse(
            "rate_limit:\n  interval: 100ms\n  burst: 5\n",
            Path::new("."),
        )
        .expect("valid");
        assert_eq!(
            c.rate_limit,
            Some(RateLimit {
                interval: Duration::from_millis(100),
                burst: 5
            })
        );
        assert!(parse("rate_limit:\n  interval: 0\n", Path::new("."))
            .expect("valid")
            .rate_limit
            .is_none());
        assert_eq!(
            problems("rate_limit:\n  interval: 1s\n"),
            ["rate_limit.burst: must be at least 1 when rate_limit.interval is set (0 would refuse every request)"]
        );
    }

    #[test]
    fn relative_files_are_relative_to_the_web_config() {
        let p = problems(
            "tls_server_config:\n  cert_file: certs/a.pem\n  key: \"\"\n  key_file: /abs/k.pem\n",
        );
        assert!(p[0].contains("/nonexistent/certs/a.pem"), "{p:?}");
        assert!(p[1].contains("cannot read /abs/k.pem"), "{p:?}");
    }
}

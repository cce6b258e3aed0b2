//! `tls_server_config`: certificates, keys, client certificate policies, versions, cipher
//! suites and curves, checked and turned into a rustls server configuration.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::DigitallySignedStruct as Dss;
use rustls::{DistinguishedName, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use serde::Deserialize;

use crate::config::{io_reason, Problem};

/// The ALPN protocol we speak: HTTP/1.1 only (scrapers do not need more).
const ALPN_HTTP11: &[u8] = b"http/1.1";

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

    /// The policy of a toolkit name (empty: none asked for).
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
    /// The version of a toolkit name (`TLS12`); anything else is a problem at `path`.
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

    /// The rustls version.
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTls {
    /// `cert`: Inline PEM certificate chain.
    cert: Option<String>,
    /// `key`: Inline PEM private key.
    key: Option<String>,
    /// `client_ca`: Inline PEM client CA.
    client_ca: Option<String>,
    /// `cert_file`: Certificate chain file.
    cert_file: Option<PathBuf>,
    /// `key_file`: Private key file.
    key_file: Option<PathBuf>,
    /// `client_auth_type`: Client certificate policy ([`ClientAuth`] names).
    client_auth_type: Option<String>,
    /// `client_ca_file`: The CA client certificates must chain to.
    client_ca_file: Option<PathBuf>,
    /// `client_allowed_sans`: Refused: we authorise clients by CA or basic auth.
    client_allowed_sans: Option<Vec<String>>,
    /// `min_version`: `TLS12` or `TLS13`.
    min_version: Option<String>,
    /// `max_version`: `TLS12` or `TLS13`.
    max_version: Option<String>,
    /// `cipher_suites`: TLS 1.2 suites by Go's names.
    cipher_suites: Option<Vec<String>>,
    /// `prefer_server_cipher_suites`: Our order of suites over the client's (default true).
    prefer_server_cipher_suites: Option<bool>,
    /// `curve_preferences`: Key exchange groups by Go's names.
    curve_preferences: Option<Vec<String>>,
}

/// PEM text, either inline (`cert`) or from a file (`cert_file`), never both.
enum PemSource {
    /// The PEM text itself.
    Inline(String),
    /// A file holding it.
    File(PathBuf),
}

/// An empty string means "not set", as in the toolkit.
fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// An empty path means "not set", as an empty string does.
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
    pub(super) fn build(&self, base: &Path, out: &mut Vec<Problem>) -> Option<TlsSettings> {
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
        let suites = self
            .cipher_suites
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|names| {
                // TLS 1.3 suites are not configurable in Go either: accepted, always on.
                let tls12 = names
                    .iter()
                    .enumerate()
                    .filter(|(_, name)| !TLS13_SUITE_NAMES.contains(&name.as_str()));
                let find = |name: &str| {
                    let mut suites = provider.cipher_suites.iter();
                    suites.find(|s| format!("{:?}", s.suite()) == name).copied()
                };
                let refusal = |name: &str| {
                    let supported = tls12_suite_names(&provider).join(", ");
                    format!("{name:?} is not supported; supported TLS 1.2 suites: {supported}")
                };
                choose("cipher_suites", tls12, find, refusal, out)
            });
        let groups = self
            .curve_preferences
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|names| {
                let find = |name: &str| {
                    let wanted = match name {
                        "X25519" => "X25519",
                        "CurveP256" => "secp256r1",
                        "CurveP384" => "secp384r1",
                        _ => return None,
                    };
                    let mut groups = provider.kx_groups.iter();
                    groups
                        .find(|g| format!("{:?}", g.name()) == wanted)
                        .copied()
                };
                let refusal = |name: &str| {
                    format!("{name:?} is not supported; use X25519, CurveP256 or CurveP384")
                };
                choose(
                    "curve_preferences",
                    names.iter().enumerate(),
                    find,
                    refusal,
                    out,
                )
            });
        if let Some(chosen) = suites {
            let tls13: Vec<_> = provider
                .cipher_suites
                .iter()
                .filter(|s| s.tls13().is_some())
                .copied()
                .collect();
            provider.cipher_suites = tls13.into_iter().chain(chosen?).collect();
        }
        if let Some(chosen) = groups {
            provider.kx_groups = chosen?;
        }
        Some(provider)
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

/// The items `find` gives for `names` (each with its index in the list under `key`), in
/// order; `None` when one is not found, with a problem worded by `refusal` for each.
fn choose<'a, T>(
    key: &str,
    names: impl Iterator<Item = (usize, &'a String)>,
    find: impl Fn(&str) -> Option<T>,
    refusal: impl Fn(&str) -> String,
    out: &mut Vec<Problem>,
) -> Option<Vec<T>> {
    let mut chosen = Vec::new();
    let mut ok = true;
    for (i, name) in names {
        match find(name) {
            Some(item) => chosen.push(item),
            None => {
                ok = false;
                out.push(Problem::new(
                    format!("tls_server_config.{key}[{i}]"),
                    refusal(name),
                ));
            }
        }
    }
    ok.then_some(chosen)
}

/// Go's names of the TLS 1.3 suites.
const TLS13_SUITE_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The TLS 1.2 suites `provider` offers, by Go's names, for messages.
fn tls12_suite_names(provider: &CryptoProvider) -> Vec<String> {
    provider
        .cipher_suites
        .iter()
        .filter(|s| s.tls13().is_none())
        .map(|s| format!("{:?}", s.suite()))
        .collect()
}

impl PemSource {
    /// Where the PEM came from, for messages (never the inline text itself).
    fn describe(&self) -> String {
        match self {
            PemSource::Inline(_) => "the inline value".to_string(),
            PemSource::File(p) => p.display().to_string(),
        }
    }

    /// The PEM bytes; a file that cannot be read is a problem at `path`.
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

/// The certificates of `src`; none, or bad PEM, is a problem at `path`.
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

/// The private key of `src`; none is a problem at `path`, worded without quoting the file.
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

    fn verify_tls12_signature(&self, msg: &[u8], cert: &CertificateDer<'_>, dss: &Dss) -> Signed {
        verify_tls12_signature(msg, cert, dss, &self.algorithms())
    }

    fn verify_tls13_signature(&self, msg: &[u8], cert: &CertificateDer<'_>, dss: &Dss) -> Signed {
        verify_tls13_signature(msg, cert, dss, &self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

impl AnyClientCert {
    /// What handshake signatures are checked with.
    fn algorithms(&self) -> WebPkiSupportedAlgorithms {
        self.provider.signature_verification_algorithms
    }
}

/// What a handshake signature check answers.
type Signed = Result<HandshakeSignatureValid, rustls::Error>;

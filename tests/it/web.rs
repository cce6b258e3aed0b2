//! Our endpoints on a network, as an operator secures them with a web config file: TLS,
//! client certificates, basic auth, response headers, and what hostile or broken clients
//! get (slowloris, too many connections, other methods, bodies). Certificates are made here
//! with rcgen, bcrypt hashes with the bcrypt crate; every test binds 127.0.0.1:0 and talks
//! over real TCP. The last test has a real Prometheus (Debian's package) scrape us over TLS
//! with basic auth: skipped with a printed reason when it is not installed, except under
//! `CI=true`, where that fails.

use crate::common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::BIN;
use inventory_monitor::metrics::MonitorMetrics;
use inventory_monitor::server::{self, AppState, ServerOptions, WWW_AUTHENTICATE};
use inventory_monitor::shard::Shard;
use inventory_monitor::web_config::{self, WebConfig};
use inventory_monitor_testkit::child::{Launch, Stream};
use inventory_monitor_testkit::place::free_port;
use inventory_monitor_testkit::tool::require_tool;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

// ---------------------------------------------------------------------------------------
// Certificates, web configs, servers and clients

/// A CA, a server certificate for 127.0.0.1 and localhost, a client certificate from the
/// CA, and one from another CA, as files in a temporary directory (`silences.rs` uses it too).
pub(crate) struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    pub(crate) ca_file: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    /// PEM certificate and key, for `reqwest::Identity::from_pem`.
    pub(crate) client: String,
    /// The same from a CA the server does not trust.
    pub(crate) rogue_client: String,
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), Issuer::new(params, key))
}

/// A certificate and its key, both PEM, issued by `issuer`.
fn issue(
    issuer: &Issuer<'static, KeyPair>,
    name: &str,
    sans: &[&str],
    purpose: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::new(
        sans.iter()
            .filter(|s| s.parse::<IpAddr>().is_err())
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )
    .expect("params");
    for ip in sans.iter().filter_map(|s| s.parse::<IpAddr>().ok()) {
        params.subject_alt_names.push(SanType::IpAddress(ip));
    }
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

pub(crate) fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca_pem, ca) = new_ca("inventory-monitor test CA");
    let (_, other_ca) = new_ca("some other CA");
    let (server_pem, server_key_pem) = issue(
        &ca,
        "inventory-monitor",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_pem, client_key) = issue(&ca, "scraper", &[], ExtendedKeyUsagePurpose::ClientAuth);
    let (rogue_pem, rogue_key) = issue(
        &other_ca,
        "scraper",
        &[],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write PEM");
        path
    };
    Pki {
        ca_file: write("ca.crt", &ca_pem),
        server_cert: write("server.crt", &server_pem),
        server_key: write("server.key", &server_key_pem),
        client: format!("{client_pem}{client_key}"),
        rogue_client: format!("{rogue_pem}{rogue_key}"),
        ca_pem,
        dir,
    }
}

impl Pki {
    /// `tls_server_config` with our server certificate, plus `extra` lines (indented).
    pub(crate) fn tls(&self, extra: &[&str]) -> String {
        let mut yaml = format!(
            "tls_server_config:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
            self.server_cert.display(),
            self.server_key.display()
        );
        for line in extra {
            yaml.push_str(&format!("  {line}\n"));
        }
        yaml
    }

    fn write_web_config(&self, yaml: &str) -> PathBuf {
        let path = self.dir.path().join("web-config.yml");
        std::fs::write(&path, yaml).expect("write web config");
        path
    }

    pub(crate) fn web_config(&self, yaml: &str) -> WebConfig {
        web_config::load(&self.write_web_config(yaml)).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// `basic_auth_users` with USER and PASSWORD, hashed here (cost 4: tests need not be slow).
fn users_yaml() -> String {
    let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
    format!("basic_auth_users:\n  {USER}: \"{hash}\"\n")
}

/// A server on 127.0.0.1:0, stopped when dropped.
struct Served {
    addr: SocketAddr,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Served {
    fn https(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve(options: ServerOptions) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let state = Arc::new(AppState::new(Arc::new(MonitorMetrics::new(Shard {
        index: 0,
        count: 1,
    }))));
    let stop = CancellationToken::new();
    let s = stop.clone();
    let task = tokio::spawn(server::serve_with(listener, state, options, async move {
        s.cancelled().await
    }));
    Served {
        addr,
        stop,
        task: Some(task),
    }
}

fn with_web(web: WebConfig) -> ServerOptions {
    ServerOptions::with_web(Some(web))
}

/// A client trusting only our CA, presenting `identity` when given.
pub(crate) fn client(pki: &Pki, identity: Option<&str>) -> reqwest::Client {
    client_builder(pki, identity).build().expect("client")
}

fn client_builder(pki: &Pki, identity: Option<&str>) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA certificate"),
        )
        .timeout(Duration::from_secs(10));
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder
}

/// Sends raw bytes, then reads until the server closes or `limit` passes; returns what was
/// read and whether the server closed.
async fn raw_exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> (Vec<u8>, bool) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request).await.expect("send");
    let mut got = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (got, closed)
}

/// Reads one whole `Connection: keep-alive` response to GET /healthz (body `ok\n`).
async fn read_healthz_response(tcp: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !got.ends_with(b"\r\n\r\nok\n") {
            let n = tcp.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a response within 10s");
    String::from_utf8_lossy(&got).into_owned()
}

const HEALTHZ_KEEP_ALIVE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

// ---------------------------------------------------------------------------------------
// TLS and client certificates

#[tokio::test]
async fn tls_is_served_to_clients_trusting_our_ca_and_plain_http_gets_no_answer() {
    let pki = pki();
    let served = serve(with_web(pki.web_config(&pki.tls(&[])))).await;

    let response = client(&pki, None)
        .get(served.https("/healthz"))
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "ok\n");

    // Plain HTTP on the TLS port is not an HTTP conversation at all.
    let plain = reqwest::Client::new()
        .get(served.http("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    let (got, closed) = raw_exchange(
        served.addr,
        b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(closed, "the TLS port kept a plain HTTP client waiting");
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // And a client that does not trust our CA refuses us.
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .build()
        .expect("client")
        .get(served.https("/healthz"))
        .send()
        .await;
    assert!(untrusting.is_err());
}

#[tokio::test]
async fn require_and_verify_client_cert_admits_only_certificates_from_the_client_ca() {
    let pki = pki();
    let yaml = pki.tls(&[
        "client_auth_type: RequireAndVerifyClientCert",
        &format!("client_ca_file: \"{}\"", pki.ca_file.display()),
    ]);
    let served = serve(with_web(pki.web_config(&yaml))).await;
    let url = served.https("/healthz");

    let none = client(&pki, None).get(&url).send().await;
    assert!(
        none.is_err(),
        "served without a client certificate: {none:?}"
    );

    let rogue = client(&pki, Some(&pki.rogue_client)).get(&url).send().await;
    assert!(
        rogue.is_err(),
        "served a certificate from another CA: {rogue:?}"
    );

    let ours = client(&pki, Some(&pki.client))
        .get(&url)
        .send()
        .await
        .expect("request with our client certificate");
    assert_eq!(ours.status(), StatusCode::OK);
}

#[tokio::test]
async fn verify_client_cert_if_given_refuses_a_bad_certificate_but_not_its_absence() {
    let pki = pki();
    let yaml = pki.tls(&[
        "client_auth_type: VerifyClientCertIfGiven",
        &format!("client_ca_file: \"{}\"", pki.ca_file.display()),
    ]);
    let served = serve(with_web(pki.web_config(&yaml))).await;
    let url = served.https("/healthz");
    let none = client(&pki, None)
        .get(&url)
        .send()
        .await
        .expect("no certificate");
    assert_eq!(none.status(), StatusCode::OK);
    let ours = client(&pki, Some(&pki.client))
        .get(&url)
        .send()
        .await
        .expect("ours");
    assert_eq!(ours.status(), StatusCode::OK);
    assert!(client(&pki, Some(&pki.rogue_client))
        .get(&url)
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn require_any_client_cert_wants_a_certificate_from_anyone_and_inline_pem_works() {
    let pki = pki();
    // The certificate and key inline rather than by file.
    let indent = |pem: String| pem.trim_end().replace('\n', "\n    ");
    let read = |p: &Path| std::fs::read_to_string(p).expect("read PEM");
    let yaml = format!(
        "tls_server_config:\n  cert: |\n    {}\n  key: |\n    {}\n  client_auth_type: RequireAnyClientCert\n",
        indent(read(&pki.server_cert)),
        indent(read(&pki.server_key)),
    );
    let served = serve(with_web(pki.web_config(&yaml))).await;
    let url = served.https("/healthz");
    let none = client(&pki, None).get(&url).send().await;
    assert!(
        none.is_err(),
        "served without a client certificate: {none:?}"
    );
    // Any certificate will do (the handshake still proves the client holds its key).
    for identity in [&pki.client, &pki.rogue_client] {
        let response = client(&pki, Some(identity))
            .get(&url)
            .send()
            .await
            .expect("request with a client certificate");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn min_version_tls13_refuses_a_client_that_only_speaks_tls12() {
    let pki = pki();
    let served = serve(with_web(pki.web_config(&pki.tls(&["min_version: TLS13"])))).await;
    let url = served.https("/healthz");

    let tls12_only = client_builder(&pki, None)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client")
        .get(&url)
        .send()
        .await;
    assert!(
        tls12_only.is_err(),
        "a TLS 1.2 client was served: {tls12_only:?}"
    );

    let modern = client(&pki, None).get(&url).send().await.expect("TLS 1.3");
    assert_eq!(modern.status(), StatusCode::OK);
}

#[tokio::test]
async fn max_version_tls12_still_serves_tls12_clients() {
    let pki = pki();
    let served = serve(with_web(pki.web_config(&pki.tls(&["max_version: TLS12"])))).await;
    let tls12_only = client_builder(&pki, None)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("client")
        .get(served.https("/healthz"))
        .send()
        .await
        .expect("TLS 1.2");
    assert_eq!(tls12_only.status(), StatusCode::OK);
    let tls13_only = client_builder(&pki, None)
        .min_tls_version(reqwest::tls::Version::TLS_1_3)
        .build()
        .expect("client")
        .get(served.https("/healthz"))
        .send()
        .await;
    assert!(tls13_only.is_err(), "TLS 1.3 negotiated above max_version");
}

// ---------------------------------------------------------------------------------------
// Basic auth

#[tokio::test]
async fn basic_auth_admits_the_right_password_only() {
    let pki = pki();
    let yaml = format!("{}{}", pki.tls(&[]), users_yaml());
    let served = serve(with_web(pki.web_config(&yaml))).await;
    let http = client(&pki, None);
    let url = served.https("/metrics");

    let anonymous = http.get(&url).send().await.expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        WWW_AUTHENTICATE,
        "a 401 tells the client how to authenticate"
    );
    assert_eq!(WWW_AUTHENTICATE, r#"Basic realm="inventory-monitor""#);

    for (user, password) in [
        (USER, "wrong password"),
        (USER, ""),
        ("someone-else", PASSWORD),
        ("PROMETHEUS", PASSWORD),
    ] {
        let response = http
            .get(&url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{user}:{password} was let in"
        );
    }
    let bearer = http
        .get(&url)
        .bearer_auth(PASSWORD)
        .send()
        .await
        .expect("request");
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);

    // The right credentials, several times: the first is checked with bcrypt, the rest
    // come from the cache, and all must pass.
    for _ in 0..3 {
        let response = http
            .get(&url)
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.text().await.expect("body");
        assert!(body.contains("inventory_monitor_build_info"), "{body}");
    }
    // A wrong password after a right one is still wrong (the cache is per credential).
    let after = http
        .get(&url)
        .basic_auth(USER, Some("correct horse battery stapler"))
        .send()
        .await
        .expect("request");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_path_is_behind_basic_auth() {
    let pki = pki();
    let served = serve(with_web(pki.web_config(&users_yaml()))).await;
    let http = reqwest::Client::new();
    for path in [
        "/",
        "/metrics",
        "/healthz",
        "/readyz",
        "/api/v1/status",
        "/nothing-here",
    ] {
        let response = http.get(served.http(path)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let ok = http
        .get(served.http("/healthz"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------
// Headers, methods, bodies

#[tokio::test]
async fn responses_carry_security_headers_and_the_configured_ones() {
    let pki = pki();
    let yaml = format!(
        "{}http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n    X-Frame-Options: sameorigin\n{}",
        pki.tls(&[]),
        users_yaml()
    );
    let served = serve(with_web(pki.web_config(&yaml))).await;
    let http = client(&pki, None);

    let index = http
        .get(served.https("/"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .expect("request");
    assert_eq!(index.status(), StatusCode::OK);
    let h = index.headers();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    // The web config's value wins over ours.
    assert_eq!(h["x-frame-options"], "sameorigin");
    assert_eq!(h["strict-transport-security"], "max-age=31536000");

    for (path, auth) in [("/metrics", true), ("/metrics", false), ("/missing", true)] {
        let mut request = http.get(served.https(path));
        if auth {
            request = request.basic_auth(USER, Some(PASSWORD));
        }
        let response = request.send().await.expect("request");
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path} auth={auth}");
        assert_eq!(
            h["strict-transport-security"], "max-age=31536000",
            "{path} auth={auth}"
        );
    }
}

#[tokio::test]
async fn only_get_and_head_without_a_body_are_served_and_no_files() {
    let served = serve(ServerOptions::default()).await;
    let http = reqwest::Client::new();

    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::OPTIONS,
        reqwest::Method::PATCH,
    ] {
        let response = http
            .request(method.clone(), served.http("/metrics"))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, HEAD");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    // A write route names its write method too.
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/api/v2/silences", "GET, HEAD, POST"),
        (reqwest::Method::GET, "/-/reload", "POST"),
        (
            reqwest::Method::PATCH,
            "/api/v2/silence/x",
            "GET, HEAD, DELETE",
        ),
    ] {
        let response = http
            .request(method.clone(), served.http(path))
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
    let head = http
        .head(served.http("/healthz"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status(), StatusCode::OK);

    let with_body = http
        .get(served.http("/metrics"))
        .body("x".repeat(1000))
        .send()
        .await
        .expect("request");
    assert_eq!(with_body.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A large upload is refused without being read.
    let upload = http
        .post(served.http("/api/v1/status"))
        .body(vec![0u8; 4 << 20])
        .send()
        .await;
    if let Ok(r) = upload {
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    for path in [
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/Cargo.toml",
        "/src/main.rs",
        "/static/",
        "/metrics/../Cargo.toml",
    ] {
        let (got, _) = raw_exchange(
            served.addr,
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        )
        .await;
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.starts_with("HTTP/1.1 404") || text.starts_with("HTTP/1.1 400"),
            "{path}: {text}"
        );
        assert!(
            !text.contains("root:") && !text.contains("[package]"),
            "{path}: {text}"
        );
    }
}

#[tokio::test]
async fn rate_limit_answers_429_beyond_the_burst() {
    let pki = pki();
    let served = serve(with_web(
        pki.web_config("rate_limit:\n  interval: 1h\n  burst: 3\n"),
    ))
    .await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = http
            .get(served.http("/healthz"))
            .send()
            .await
            .expect("request");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

// ---------------------------------------------------------------------------------------
// Hostile clients

#[tokio::test]
async fn a_slowloris_client_is_cut_off_after_the_header_timeout() {
    let timeout = Duration::from_secs(2);
    let served = serve(ServerOptions {
        header_read_timeout: timeout,
        ..ServerOptions::default()
    })
    .await;

    // A normal client on the same server is served.
    let ok = reqwest::get(served.http("/healthz"))
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);

    let request = b"GET /metrics HTTP/1.1\r\nHost: test\r\nUser-Agent: slow\r\n\r\n";
    let started = Instant::now();
    let tcp = TcpStream::connect(served.addr).await.expect("connect");
    let (mut reader, mut writer) = tcp.into_split();
    let mut sent = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut buf = [0u8; 1024];
    let cut_off = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    // Whatever the server says, it must not be an answer to the request.
                    Ok(n) => assert!(
                        !buf[..n].starts_with(b"HTTP/1.1 200"),
                        "the slow request was answered"
                    ),
                },
                _ = ticker.tick() => {
                    if sent == request.len() {
                        continue;
                    }
                    if writer.write_all(&request[sent..=sent]).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(cut_off.is_ok(), "still connected after 30s");
    assert!(sent < request.len(), "the whole request went through");
    assert!(
        elapsed >= timeout - Duration::from_millis(100),
        "cut off after {elapsed:?}, before the {timeout:?} header timeout"
    );
    assert!(
        elapsed < timeout + Duration::from_secs(4),
        "cut off only after {elapsed:?} (header timeout {timeout:?})"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_the_tls_handshake_is_cut_off() {
    let pki = pki();
    let timeout = Duration::from_secs(1);
    let served = serve(ServerOptions {
        header_read_timeout: timeout,
        ..with_web(pki.web_config(&pki.tls(&[])))
    })
    .await;
    let started = Instant::now();
    let mut tcp = TcpStream::connect(served.addr).await.expect("connect");
    // Half a ClientHello record header, then nothing.
    tcp.write_all(&[0x16, 0x03]).await.expect("send");
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "still connected after 30s");
    assert!(
        elapsed >= timeout - Duration::from_millis(100)
            && elapsed < timeout + Duration::from_secs(4),
        "cut off after {elapsed:?} (handshake timeout {timeout:?})"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let served = serve(ServerOptions {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(60),
        ..ServerOptions::default()
    })
    .await;

    // Two keep-alive connections, each served once and then left open: both slots taken.
    let mut first = TcpStream::connect(served.addr).await.expect("connect");
    first.write_all(HEALTHZ_KEEP_ALIVE).await.expect("send");
    read_healthz_response(&mut first).await;
    let mut second = TcpStream::connect(served.addr).await.expect("connect");
    second.write_all(HEALTHZ_KEEP_ALIVE).await.expect("send");
    read_healthz_response(&mut second).await;

    // A third is not served while they are open.
    let mut third = TcpStream::connect(served.addr).await.expect("connect");
    third.write_all(HEALTHZ_KEEP_ALIVE).await.expect("send");
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(early.is_err(), "a third connection was served: {early:?}");

    // Closing one lets it in.
    drop(first);
    let answer = read_healthz_response(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The second is still there and still served.
    second.write_all(HEALTHZ_KEEP_ALIVE).await.expect("send");
    read_healthz_response(&mut second).await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_closes_idle_connections_at_once() {
    let mut served = serve(ServerOptions {
        shutdown_grace: Duration::from_secs(20),
        header_read_timeout: Duration::from_secs(60),
        ..ServerOptions::default()
    })
    .await;
    let mut idle = TcpStream::connect(served.addr).await.expect("connect");
    idle.write_all(HEALTHZ_KEEP_ALIVE).await.expect("send");
    read_healthz_response(&mut idle).await;

    let started = Instant::now();
    served.stop.cancel();
    let task = served.task.take().expect("server task");
    let ended = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the server ends well before its grace period when nothing is under way")
        .expect("server task");
    assert!(ended.is_ok());
    assert!(started.elapsed() < Duration::from_secs(10));

    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("the idle connection is closed");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(
        TcpStream::connect(served.addr).await.is_err(),
        "still accepting"
    );
}

// ---------------------------------------------------------------------------------------
// The web config file

#[test]
fn web_config_problems_name_their_key() {
    let pki = pki();
    let cases: [(String, &str); 6] = [
        (
            pki.tls(&["cert_fil: x.pem"]),
            "tls_server_config.cert_fil: unknown field `cert_fil`",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n".to_string(),
            "tls_server_config.cert_file: cannot read",
        ),
        (
            format!(
                "tls_server_config:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
                pki.server_cert.display(),
                pki.ca_file.display()
            ),
            "tls_server_config.key_file: ",
        ),
        (
            pki.tls(&[
                "client_auth_type: RequireAndVerifyClientCert",
                "client_ca_file: nope.crt",
            ]),
            "tls_server_config.client_ca_file: cannot read",
        ),
        (
            "http_server_config:\n  headers:\n    Set-Cookie: a=b\n".to_string(),
            "http_server_config.headers.Set-Cookie: cannot be configured",
        ),
        (
            "basic_auth_users:\n  alice: plaintext-password\n".to_string(),
            "basic_auth_users.alice: is not a bcrypt hash",
        ),
    ];
    for (yaml, expected) in cases {
        let path = pki.write_web_config(&yaml);
        let err = web_config::load(&path).expect_err(expected);
        let text = err.to_string();
        assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
        assert!(text.starts_with(&format!("{}: ", path.display())), "{text}");
        assert!(!text.contains("plaintext-password"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
    // A key that does not belong to the certificate.
    let other_key = pki.dir.path().join("other.key");
    std::fs::write(
        &other_key,
        KeyPair::generate().expect("key").serialize_pem(),
    )
    .expect("write");
    let yaml = format!(
        "tls_server_config:\n  cert_file: \"{}\"\n  key_file: \"{}\"\n",
        pki.server_cert.display(),
        other_key.display()
    );
    let err = web_config::load(&pki.write_web_config(&yaml)).expect_err("mismatched key");
    assert!(
        err.to_string()
            .contains("tls_server_config.key_file: does not go with the certificate"),
        "{err}"
    );
}

#[test]
fn the_shipped_example_web_config_is_valid_yaml_of_known_keys() {
    // Its files do not exist here; every other problem would be a mistake in the example.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/web-config.yml");
    match web_config::load(&example) {
        Ok(_) => {}
        Err(e) => {
            for p in &e.problems {
                assert!(
                    p.message.starts_with("cannot read "),
                    "unexpected problem in the example: {p}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The binary

fn write_toml(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("inventory-monitor.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:9/api/v1\"\ntoken_env = \"IM_WEB_TEST_TOKEN\"\n\
             [poll]\ninterval = \"1h\"\n[server]\nlisten = \"127.0.0.1:0\"\n{extra}\n\
             [state]\ndir = \"{}\"\n",
            dir.join("state").display()
        ),
    )
    .expect("write config");
    path
}

async fn run_bin(args: &[&str]) -> (i32, String, String) {
    common::run_bin(args, &[("IM_WEB_TEST_TOKEN", "t")]).await
}

#[tokio::test]
async fn check_validates_the_web_config_from_the_flag_or_the_config_key() {
    let pki = pki();
    let good = pki.dir.path().join("good.yml");
    std::fs::write(&good, format!("{}{}", pki.tls(&[]), users_yaml())).expect("write");
    let bad = pki.dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "tls_server_config:\n  cert_file: x\n  key_file: y\n  colour: red\n",
    )
    .expect("write");
    let dir = pki.dir.path();

    let plain = write_toml(dir, "");
    let (code, out, err) = run_bin(&[
        "check",
        "--config",
        path(&plain),
        "--web-config",
        path(&good),
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "good.yml: OK (TLS 1.2..1.3, client certificates: none, 1 basic-auth user(s))"
        ),
        "{out}"
    );

    let (code, out, err) = run_bin(&[
        "check",
        "--config",
        path(&plain),
        "--web-config",
        path(&bad),
    ])
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("bad.yml: 1 problem(s):"), "{err}");
    assert!(
        err.contains("tls_server_config.colour: unknown field `colour`"),
        "{err}"
    );

    // From `server.web_config`, and the flag wins over it.
    let keyed = dir.join("keyed");
    std::fs::create_dir_all(&keyed).expect("dir");
    let with_key = write_toml(&keyed, &format!("web_config = \"{}\"", bad.display()));
    let (code, _, err) = run_bin(&["check", "--config", path(&with_key)]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tls_server_config.colour"), "{err}");
    let (code, out, err) = run_bin(&[
        "check",
        "--config",
        path(&with_key),
        "--web-config",
        path(&good),
    ])
    .await;
    assert_eq!(code, 0, "{out}{err}");

    // `run` refuses to start with it.
    let (code, _, err) =
        run_bin(&["run", "--config", path(&plain), "--web-config", path(&bad)]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tls_server_config.colour"), "{err}");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[tokio::test]
async fn the_daemon_serves_https_with_basic_auth_from_the_web_config_flag() {
    let pki = pki();
    let web = pki.dir.path().join("web.yml");
    std::fs::write(&web, format!("{}{}", pki.tls(&[]), users_yaml())).expect("write");
    let config = write_toml(pki.dir.path(), "");
    // The bare form: `inventory-monitor --config FILE --web-config FILE`.
    let mut child = Launch::new(BIN)
        .args([
            "--log-format",
            "json",
            "--config",
            path(&config),
            "--web-config",
            path(&web),
        ])
        .env("IM_WEB_TEST_TOKEN", "t")
        .env("RUST_LOG", "info")
        .stdout_null()
        .spawn()
        .expect("start the daemon");
    // The server logs the address it really listens on.
    let serving = |line: &str| -> Option<SocketAddr> {
        let v = serde_json::from_str::<serde_json::Value>(line).ok()?;
        let fields = &v["fields"];
        if !fields["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("serving HTTPS"))
        {
            return None;
        }
        Some(
            fields["addr"]
                .as_str()
                .expect("addr")
                .parse()
                .expect("address"),
        )
    };
    let line = child
        .wait_line(Stream::Stderr, Duration::from_secs(60), |l| {
            serving(l).is_some()
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "the daemon did not serve HTTPS within 60s:\n{}",
                child.stderr_text()
            )
        });
    let addr = serving(&line).expect("the line names the address");
    assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));

    let http = client(&pki, None);
    let url = format!("https://{addr}/healthz");
    assert_eq!(
        http.get(&url).send().await.expect("request").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        http.get(&url)
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("request")
            .status(),
        StatusCode::OK
    );
    child.kill().await;
}

// ---------------------------------------------------------------------------------------
// A real Prometheus

#[tokio::test]
async fn a_real_prometheus_scrapes_us_over_tls_with_basic_auth() {
    let Some(prometheus) = require_tool("prometheus") else {
        return;
    };
    let pki = pki();
    let yaml = format!("{}{}", pki.tls(&[]), users_yaml());
    let served = serve(with_web(pki.web_config(&yaml))).await;

    // Prometheus's own port: picked free, then handed over.
    let web_port = free_port();
    let dir = pki.dir.path();
    let config = dir.join("prometheus.yml");
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: \"{ca}\"\n    \
             basic_auth:\n      username: {USER}\n      password: \"{password}\"\n    \
             static_configs:\n      - targets: [\"{target}\"]\n",
            ca = pki.ca_file.display(),
            target = served.addr,
        )
    };
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
            job("inventory-monitor", PASSWORD),
            job("wrong-password", "not the password"),
        ),
    )
    .expect("write prometheus.yml");
    let mut child = Launch::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
        .arg("--log.level=warn")
        .stdout_null()
        .spawn()
        .expect("start prometheus");

    let targets_url = format!("http://127.0.0.1:{web_port}/api/v1/targets");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    let (ours, wrong) = loop {
        if let Some(status) = child.exited() {
            child.wait(Duration::from_secs(5)).await;
            panic!("prometheus exited ({status}):\n{}", child.stderr_text());
        }
        if let Ok(response) = http.get(&targets_url).send().await {
            if let Ok(v) = response
                .text()
                .await
                .map_err(|_| ())
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|_| ()))
            {
                last = v.to_string();
                let health = |job: &str| {
                    v["data"]["activeTargets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|t| t["labels"]["job"] == job)
                        .map(|t| {
                            (
                                t["health"].as_str().unwrap_or("").to_string(),
                                t["lastError"].as_str().unwrap_or("").to_string(),
                            )
                        })
                };
                if let (Some(ours), Some(wrong)) =
                    (health("inventory-monitor"), health("wrong-password"))
                {
                    if ours.0 != "unknown" && wrong.0 != "unknown" {
                        break (ours, wrong);
                    }
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape both targets within 90s; last answer: {last}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(ours.0, "up", "our target is not up: {}", ours.1);
    assert_eq!(wrong.0, "down", "a wrong password was let in");
    assert!(wrong.1.contains("401"), "{}", wrong.1);
    child.kill().await;
}

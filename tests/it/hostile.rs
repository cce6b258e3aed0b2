//! The monitor against a hostile, broken or misconfigured world: an upstream behind TLS
//! with a private CA, bodies too large, fleets too large, absurd numbers, names too long,
//! redirects that try to carry the token away; and the secrets (API token, webhook URLs
//! and signing secrets, profile credentials) that must not reach logs, metrics, pages or
//! error messages, checked on the binary itself at `RUST_LOG=trace`.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::*;
use inventory_monitor::clock::ManualClock;
use inventory_monitor::config::{ApiConfig, ByteSize, Secret};
use inventory_monitor::metrics::{MonitorMetrics, ProfileMetrics};
use inventory_monitor::shard::Shard;
use inventory_monitor::simulator::{SimOptions, Simulator, TlsIdentity};
use inventory_monitor::snapshot::{ApiFailure, ListOutcome};
use inventory_monitor::upstream::{DetailResult, UpstreamClient};
use inventory_monitor_testkit::child::{Launch, Signal, Stream};
use inventory_monitor_testkit::exposition::{self, find};
use inventory_monitor_testkit::place::free_port;
use inventory_monitor_testkit::sink::{Received, Reply, Sink};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The API token of every test here: distinctive, so that any leak is found by grepping.
const TOKEN: &str = "tok-hostile-3f9d2a7c51";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A private CA and a server certificate it issued, as PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    /// The CA certificate: what `api.ca_file` points at.
    ca: PathBuf,
    /// The server's certificate (for 127.0.0.1) and key.
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn identity(&self) -> TlsIdentity {
        TlsIdentity::from_files(&self.cert, &self.key).expect("server identity")
    }
}

/// A CA, then a server certificate for `sans` (names or IP addresses) signed by it.
fn pki(sans: &[&str]) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hostile-test private CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    for san in sans {
        params.subject_alt_names.push(match san.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*san).try_into().expect("DNS name")),
        });
    }
    params
        .distinguished_name
        .push(DnType::CommonName, "simulated upstream");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("certificate");

    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write PEM");
        path
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", cert.pem()),
        key: write("server.key", key.serialize_pem()),
        dir,
    }
}

/// A simulator served over HTTPS on 127.0.0.1:0; stops when dropped.
struct TlsSim {
    sim: Simulator,
    base_url: String,
    stop: CancellationToken,
}

impl Drop for TlsSim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start_tls_sim(opts: SimOptions, identity: TlsIdentity) -> TlsSim {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sim = Simulator::new(opts);
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(
        sim.clone()
            .serve_tls(listener, identity, async move { s.cancelled().await }),
    );
    TlsSim {
        sim,
        base_url: format!("https://{addr}/api/v1"),
        stop,
    }
}

fn sim_options(profiles: usize) -> SimOptions {
    SimOptions {
        profiles,
        seed: 7,
        token: TOKEN.to_string(),
        ..SimOptions::default()
    }
}

/// Everything the tracing subscriber of a test writes.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Captures this thread's logs (the tests run on a current-thread runtime, so the
    /// tasks they spawn log here too) until the guard is dropped.
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }

    /// Lines containing `needle`.
    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The summary line a sweep logs when limits were hit.
const LIMITS_LINE: &str = "the upstream hit protective limits";

/// An upstream client with the daemon's counters, limit hits included.
fn upstream_client(api: &ApiConfig) -> (UpstreamClient, MonitorMetrics) {
    let monitor = MonitorMetrics::new(Shard::default());
    let client = UpstreamClient::with_counters(api, Secret::new(TOKEN), &monitor).expect("client");
    (client, monitor)
}

fn limit_hits(monitor: &MonitorMetrics, limit: &str) -> u64 {
    monitor
        .upstream_limit_hits
        .with_label_values(&[limit])
        .get()
}

fn api(base_url: &str) -> ApiConfig {
    ApiConfig {
        base_url: base_url.to_string(),
        timeout: Duration::from_secs(5),
        retries: 1,
        concurrency: 4,
        ..ApiConfig::default()
    }
}

/// A fake upstream on 127.0.0.1:0 answering every request with `script`; it records what
/// it was asked.
async fn scripted(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Sink {
    let sink = Sink::start().await;
    sink.respond_with(script);
    sink
}

fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply::status(status)
        .header("content-type", "application/json")
        .body(body)
}

/// A redirect to `location`.
fn redirect(status: u16, location: impl std::fmt::Display) -> Reply {
    Reply::status(status).header("location", location)
}

/// An address nothing listens on.
fn closed_port() -> u16 {
    free_port()
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_private_ca_upstream_is_refused_without_api_ca_file_and_read_with_it() {
    let pki = pki(&["127.0.0.1"]);
    let sim = start_tls_sim(sim_options(40), pki.identity()).await;

    // Without the CA: the handshake fails, the failure says why, and it is counted as a
    // TLS error, once (a certificate problem is not retried).
    let mut config = test_config(&sim.base_url);
    config.api.retries = 2;
    let mut refused = start_daemon(config.clone(), TOKEN).await;
    let outcome = refused.daemon.sweep_once().await;
    let ListOutcome::Failed { kind, message } = &outcome.snapshot.list else {
        panic!("expected a failed walk, got {:?}", outcome.snapshot.list);
    };
    assert_eq!(*kind, ApiFailure::Unreachable);
    assert!(
        message.starts_with("TLS certificate verification failed: UnknownIssuer"),
        "{message}"
    );
    assert!(message.contains("api.ca_file"), "{message}");
    assert!(!message.contains("cannot connect"), "{message}");
    let (_, m) = scrape(refused.addr).await;
    let requests = |code: &str| {
        find(
            &m,
            "inventory_monitor_upstream_requests_total",
            &[("endpoint", "list"), ("code", code)],
        )
    };
    assert_eq!(requests("tls_error"), Some(1.0));
    assert_eq!(requests("connect_error"), None);
    assert_eq!(sim.sim.requests().list, 0, "no request got through");

    // With the CA: every profile is read.
    config.api.ca_file = Some(pki.ca.clone());
    let mut accepted = start_daemon(config, TOKEN).await;
    let outcome = accepted.daemon.sweep_once().await;
    assert_eq!(outcome.snapshot.list, ListOutcome::Complete);
    assert_eq!(outcome.snapshot.profiles.len(), 40);
    assert!(outcome.snapshot.profiles.iter().all(|e| e.up));
    let (_, m) = scrape(accepted.addr).await;
    assert_eq!(list_requests(&m, "200"), Some(1.0));
}

#[tokio::test]
async fn a_certificate_for_another_name_is_a_tls_error_that_says_so() {
    // Signed by the trusted CA, but for a host name, not the address we connect to.
    let pki = pki(&["upstream.example"]);
    let sim = start_tls_sim(sim_options(5), pki.identity()).await;
    let mut config = api(&sim.base_url);
    config.ca_file = Some(pki.ca.clone());
    let (client, monitor) = upstream_client(&config);

    let walk = client.walk().await;

    let ListOutcome::Failed { message, .. } = &walk.outcome else {
        panic!("expected a failed walk, got {:?}", walk.outcome);
    };
    assert!(
        message.starts_with("TLS certificate verification failed: NotValidForName"),
        "{message}"
    );
    assert_eq!(
        monitor
            .upstream_requests
            .with_label_values(&["list", "tls_error"])
            .get(),
        1
    );
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_error_too() {
    let sim = start_sim(sim_options(3)).await;
    let base = sim.base_url.replace("http://", "https://");
    let (client, monitor) = upstream_client(&api(&base));

    let walk = client.walk().await;

    let ListOutcome::Failed { message, .. } = &walk.outcome else {
        panic!("expected a failed walk, got {:?}", walk.outcome);
    };
    assert!(message.starts_with("TLS handshake failed"), "{message}");
    assert_eq!(
        monitor
            .upstream_requests
            .with_label_values(&["list", "tls_error"])
            .get(),
        1
    );
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test]
async fn simulate_serves_https_with_tls_cert_and_once_needs_the_ca_to_read_it() {
    let pki = pki(&["127.0.0.1"]);
    let simulate = Launch::new(BIN)
        .args(["simulate", "--listen", "127.0.0.1:0", "--profiles", "20"])
        .args(["--token", TOKEN])
        .arg("--tls-cert")
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .env("RUST_LOG", "info")
        .stdout_null()
        .spawn()
        .expect("start simulate");
    let line = simulate
        .wait_line(Stream::Stderr, Duration::from_secs(30), |l| {
            l.contains("simulated upstream listening")
        })
        .await
        .expect("no \"simulated upstream listening\" on stderr within 30 s");
    let base_url = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("base_url="))
        .expect("base_url in the log line")
        .to_string();
    assert!(base_url.starts_with("https://127.0.0.1:"), "{line}");

    let dir = pki.dir.path();
    let plain = write_config(
        dir,
        "plain.toml",
        &format!("[api]\nbase_url = \"{base_url}\"\ntoken_env = \"IM_TOKEN\"\nretries = 0\n"),
    );
    let (code, _, stderr) = run_bin(
        &["once", "--config", plain.to_str().expect("path")],
        &[("IM_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("TLS certificate verification failed: UnknownIssuer"),
        "{stderr}"
    );

    let with_ca = write_config(
        dir,
        "with_ca.toml",
        &format!(
            "[api]\nbase_url = \"{base_url}\"\ntoken_env = \"IM_TOKEN\"\nca_file = \"{}\"\n",
            pki.ca.display()
        ),
    );
    let (code, stdout, stderr) = run_bin(
        &["once", "--config", with_ca.to_str().expect("path")],
        &[("IM_TOKEN", TOKEN)],
    )
    .await;
    assert!(code == 0 || code == 1, "exit {code}\n{stderr}");
    assert!(
        stdout.contains("20 profile(s), 20 detail(s) read"),
        "{stdout}"
    );
    drop(simulate);
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bodies_over_max_body_size_are_refused_counted_and_summarised_once() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let huge_name = "x".repeat(4096);
    let upstream = scripted(move |r| {
        let path = r.route();
        if path.ends_with("/inventory_connection_profile/") {
            reply(
                200,
                json!({"count": 3, "next": null, "results": [{"id": 1}, {"id": 2}, {"id": 3}]})
                    .to_string(),
            )
        } else if path.ends_with("/1/") {
            // Declared too long: refused before a byte is read.
            reply(200, json!({"id": 1, "name": huge_name}).to_string())
        } else if path.ends_with("/2/") {
            // Chunked, with no length: refused while it arrives.
            reply(200, vec![b' '; 64 * 256]).chunked(256)
        } else {
            reply(200, json!({"id": 3, "name": "small"}).to_string())
        }
    })
    .await;
    let addr = upstream.addr();
    let mut config = api(&format!("http://{addr}/api/v1"));
    config.max_body_size = ByteSize(1024);
    let (client, monitor) = upstream_client(&config);
    let clock = ManualClock::new(SystemTime::now());

    let snapshot = inventory_monitor::sweep::sweep(&client, Shard::default(), None, &clock).await;

    let up: Vec<(u64, bool)> = snapshot.profiles.iter().map(|e| (e.id, e.up)).collect();
    assert_eq!(up, [(1, false), (2, false), (3, true)]);
    for entry in &snapshot.profiles[..2] {
        let error = entry.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("body larger than api.max_body_size (1 KiB)"),
            "{error}"
        );
    }
    assert_eq!(limit_hits(&monitor, "max_body_size"), 2);
    assert_eq!(
        monitor
            .upstream_invalid_bodies
            .with_label_values(&["detail"])
            .get(),
        2
    );
    let summary = logs.lines_with(LIMITS_LINE);
    assert_eq!(summary.len(), 1, "{}", logs.text());
    assert!(
        summary[0].contains("max_body_size: 2 (detail 2)"),
        "{summary:?}"
    );
    // Not one line per profile: the limits summary and the count of unreadable details.
    assert!(logs.lines_with("WARN").len() <= 2, "{}", logs.text());

    // A list page over the cap fails the walk as an unreadable answer.
    let upstream =
        scripted(|_| reply(200, format!("{{\"results\": [{}]}}", " ".repeat(2048)))).await;
    let addr = upstream.addr();
    let (client, monitor) = upstream_client(&{
        let mut c = api(&format!("http://{addr}/api/v1"));
        c.max_body_size = ByteSize(1024);
        c
    });
    let walk = client.walk().await;
    let ListOutcome::Failed { kind, message } = &walk.outcome else {
        panic!("expected a failed walk, got {:?}", walk.outcome);
    };
    assert_eq!(*kind, ApiFailure::BadResponse);
    assert!(message.contains("api.max_body_size"), "{message}");
    assert_eq!(limit_hits(&monitor, "max_body_size"), 1);
}

#[tokio::test]
async fn a_fleet_over_max_profiles_is_read_up_to_the_cap_and_no_further() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let sim = start_sim(sim_options(250)).await;
    let mut config = api(&sim.base_url);
    config.page_size = 20;
    config.max_profiles = 100;
    let (client, monitor) = upstream_client(&config);
    let clock = ManualClock::new(SystemTime::now());

    let snapshot = inventory_monitor::sweep::sweep(&client, Shard::default(), None, &clock).await;

    let ListOutcome::Incomplete { reason } = &snapshot.list else {
        panic!("expected an incomplete walk, got {:?}", snapshot.list);
    };
    assert!(
        reason.starts_with(
            "the API lists 250 profiles, more than api.max_profiles (100); only the first 100 were read"
        ),
        "{reason}"
    );
    assert_eq!(snapshot.profiles.len(), 100);
    let first_hundred: Vec<u64> = sim.sim.profile_ids().into_iter().take(100).collect();
    let read: Vec<u64> = snapshot.profiles.iter().map(|e| e.id).collect();
    assert_eq!(read, first_hundred);
    // Five pages of 20: the pages beyond the cap were never asked for.
    assert_eq!(sim.sim.requests().list, 5);
    assert_eq!(sim.sim.requests().detail, 100);
    assert_eq!(limit_hits(&monitor, "max_profiles"), 1);
    let summary = logs.lines_with(LIMITS_LINE);
    assert_eq!(summary.len(), 1, "{}", logs.text());
    assert!(summary[0].contains("max_profiles: 1"), "{summary:?}");

    // The next sweep carries nothing over past the cap either.
    let again =
        inventory_monitor::sweep::sweep(&client, Shard::default(), Some(&snapshot), &clock).await;
    assert_eq!(again.profiles.len(), 100);
    assert_eq!(limit_hits(&monitor, "max_profiles"), 2);
    assert_eq!(
        logs.lines_with(LIMITS_LINE).len(),
        1,
        "told when the limit starts being hit, not every sweep it is"
    );
}

#[tokio::test]
async fn a_list_without_a_count_is_followed_up_to_the_cap_and_no_further() {
    // An endless list: every page links to the next, none says how many there are.
    let upstream = scripted(|r| {
        let offset: u64 = r
            .query()
            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("offset=")))
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let host = r.header("host").unwrap_or_default();
        let ids: Vec<_> = (offset + 1..=offset + 10)
            .map(|id| json!({"id": id}))
            .collect();
        let next = format!(
            "http://{host}/api/v1/inventory_connection_profile/?limit=10&offset={}",
            offset + 10
        );
        reply(
            200,
            json!({"count": null, "next": next, "results": ids}).to_string(),
        )
    })
    .await;
    let addr = upstream.addr();
    let mut config = api(&format!("http://{addr}/api/v1"));
    config.page_size = 10;
    config.max_profiles = 30;
    let (client, monitor) = upstream_client(&config);

    let walk = client.walk().await;

    assert_eq!(walk.items.len(), 30);
    assert_eq!(upstream.count(), 3, "no page past the cap");
    let ListOutcome::Incomplete { reason } = &walk.outcome else {
        panic!("expected an incomplete walk, got {:?}", walk.outcome);
    };
    assert!(
        reason.contains("more than api.max_profiles (30)"),
        "{reason}"
    );
    assert_eq!(limit_hits(&monitor, "max_profiles"), 1);
}

#[tokio::test]
async fn absurd_numbers_are_unknown_counted_and_named_once_per_sweep() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let sim = empty_sim().await;
    let now = SystemTime::now();
    let in_two_days = inventory_monitor::clock::rfc3339(now + Duration::from_secs(2 * 86_400));
    let in_an_hour = inventory_monitor::clock::rfc3339(now + Duration::from_secs(3600));
    sim.sim.upsert_profile(patched(
        healthy_detail(1, "Negative counts", "Org"),
        json!({"sync_record_count": -12, "health_status": {"error_count_24h": -3}}),
    ));
    sim.sim.upsert_profile(patched(
        healthy_detail(2, "From the future", "Org"),
        json!({"last_sync": in_two_days}),
    ));
    sim.sim.upsert_profile(patched(
        healthy_detail(3, "From the past", "Org"),
        json!({"last_sync": "1970-01-01T00:00:00Z"}),
    ));
    sim.sim.upsert_profile(patched(
        healthy_detail(4, "Sane", "Org"),
        json!({"last_sync": in_an_hour, "sync_record_count": 0}),
    ));
    let config = api(&sim.base_url);
    let (client, monitor) = {
        // The simulator accepts its default token for upserted profiles too.
        let monitor = MonitorMetrics::new(Shard::default());
        let client = UpstreamClient::new(
            &config,
            Secret::new(sim.sim.token()),
            monitor.upstream_requests.clone(),
            monitor.upstream_invalid_bodies.clone(),
        )
        .expect("client")
        .with_limit_hits(monitor.upstream_limit_hits.clone());
        (client, monitor)
    };
    let clock = ManualClock::new(now);

    let snapshot = inventory_monitor::sweep::sweep(&client, Shard::default(), None, &clock).await;

    let profile = |id: u64| {
        snapshot
            .profiles
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.profile.clone())
            .unwrap_or_else(|| panic!("profile {id} not read"))
    };
    assert!(
        snapshot.profiles.iter().all(|e| e.up),
        "absurd values do not fail a profile"
    );
    assert_eq!(
        (profile(1).sync_record_count, profile(1).error_count_24h),
        (None, None)
    );
    assert_eq!(profile(2).last_sync, None);
    assert_eq!(profile(3).last_sync, None);
    assert!(
        profile(4).last_sync.is_some(),
        "an hour ahead is clock skew, not absurd"
    );
    assert_eq!(profile(4).sync_record_count, Some(0));
    assert_eq!(limit_hits(&monitor, "absurd_value"), 4);

    let summary = logs.lines_with(LIMITS_LINE);
    assert_eq!(summary.len(), 1, "{}", logs.text());
    for named in [
        "absurd_value: 4",
        "sync_record_count negative ×1, first in profile 1",
        "health_status.error_count_24h negative ×1, first in profile 1",
        "last_sync more than a day in the future ×1, first in profile 2",
        "last_sync before the year 2000 ×1, first in profile 3",
    ] {
        assert!(
            summary[0].contains(named),
            "{named} missing from {summary:?}"
        );
    }

    // Unknown means absent from the metrics, not a number.
    let rendered = ProfileMetrics::new().render(&snapshot, Vec::new());
    let text = std::str::from_utf8(rendered.plain()).expect("UTF-8");
    let families = exposition::parse(text).expect("valid exposition");
    let series = |name: &str, id: &str| find(&families, name, &[("profile_id", id)]);
    assert_eq!(series("inventory_profile_sync_records", "1"), None);
    assert_eq!(series("inventory_profile_errors_24h", "1"), None);
    assert_eq!(
        series("inventory_profile_last_sync_timestamp_seconds", "2"),
        None
    );
    assert_eq!(
        series("inventory_profile_last_sync_timestamp_seconds", "3"),
        None
    );
    assert_eq!(series("inventory_profile_sync_records", "4"), Some(0.0));
}

#[tokio::test]
async fn label_values_longer_than_max_label_length_are_cut_and_counted() {
    let logs = Logs::default();
    let _capture = logs.capture();
    let sim = empty_sim().await;
    let long_name = "N".repeat(300);
    let long_org = "Ö".repeat(5000);
    sim.sim
        .upsert_profile(healthy_detail(1, &long_name, &long_org));
    sim.sim.upsert_profile(healthy_detail(2, "short", "Org"));
    let monitor = MonitorMetrics::new(Shard::default());
    let client = UpstreamClient::new(
        &api(&sim.base_url),
        Secret::new(sim.sim.token()),
        monitor.upstream_requests.clone(),
        monitor.upstream_invalid_bodies.clone(),
    )
    .expect("client");
    let clock = ManualClock::new(SystemTime::now());
    let snapshot = inventory_monitor::sweep::sweep(&client, Shard::default(), None, &clock).await;

    let mut renderer = ProfileMetrics::for_api(
        &ApiConfig {
            max_label_length: 64,
            ..ApiConfig::default()
        },
        &monitor,
    );
    let rendered = renderer.render(&snapshot, Vec::new());
    let text = std::str::from_utf8(rendered.plain()).expect("UTF-8");
    let families = exposition::parse(text).expect("valid exposition");
    let up = exposition::matching(&families, "inventory_profile_up", &[("profile_id", "1")]);
    let name = up[0].label("profile_name").expect("name");
    let org = up[0].label("organization").expect("organization");
    assert_eq!(name, format!("{}…", "N".repeat(63)));
    assert_eq!(org, format!("{}…", "Ö".repeat(63)));
    assert_eq!(name.chars().count(), 64);
    let short = exposition::matching(&families, "inventory_profile_up", &[("profile_id", "2")]);
    assert_eq!(short[0].label("profile_name"), Some("short"));
    // Two values cut in this rendering; nothing of the long organization survives beyond
    // the cut anywhere in the body.
    assert_eq!(rendered.truncated_labels(), 2);
    assert_eq!(limit_hits(&monitor, "max_label_length"), 2);
    assert!(!text.contains(&"Ö".repeat(64)));
    assert_eq!(
        logs.lines_with("longer than api.max_label_length").len(),
        1,
        "{}",
        logs.text()
    );
    // The default is 256 characters.
    let default = ProfileMetrics::new().render(&snapshot, Vec::new());
    let families = exposition::parse(std::str::from_utf8(default.plain()).expect("UTF-8"))
        .expect("valid exposition");
    let up = exposition::matching(&families, "inventory_profile_up", &[("profile_id", "1")]);
    assert_eq!(
        up[0].label("profile_name").map(|n| n.chars().count()),
        Some(256)
    );
}

// ---------------------------------------------------------------------------------------
// Redirects and the token
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_same_origin_redirect_is_followed_with_the_token() {
    let upstream = scripted(|r| {
        if r.route().starts_with("/api/v1/") {
            redirect(301, "/api/v2/inventory_connection_profile/1/")
        } else {
            reply(200, json!({"id": 1, "name": "moved"}).to_string())
        }
    })
    .await;
    let addr = upstream.addr();
    let (client, _) = upstream_client(&api(&format!("http://{addr}/api/v1")));

    let result = client.fetch_detail(1).await;

    assert!(
        matches!(&result, DetailResult::Ok(p) if p.name == "moved"),
        "{result:?}"
    );
    let seen = upstream.received();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].path, "/api/v2/inventory_connection_profile/1/");
    assert_eq!(
        seen[1].header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
}

#[tokio::test]
async fn redirects_to_another_port_or_scheme_or_in_a_loop_are_not_followed() {
    let elsewhere_sink =
        scripted(|_| reply(200, json!({"id": 1, "name": "stolen"}).to_string())).await;
    let elsewhere = elsewhere_sink.addr();
    let targets = [
        // Same host, another port: another origin.
        format!(
            "http://127.0.0.1:{}/api/v1/inventory_connection_profile/1/",
            elsewhere.port()
        ),
        format!(
            "http://localhost:{}/api/v1/inventory_connection_profile/1/",
            elsewhere.port()
        ),
        // Credentials smuggled in the location.
        format!(
            "http://user:pw@127.0.0.1:{}/api/v1/inventory_connection_profile/1/",
            elsewhere.port()
        ),
    ];
    for target in targets {
        let location = target.clone();
        let upstream = scripted(move |_| redirect(302, &location)).await;
        let addr = upstream.addr();
        let (client, _) = upstream_client(&api(&format!("http://{addr}/api/v1")));
        let result = client.fetch_detail(1).await;
        assert!(
            matches!(&result, DetailResult::Failed(reason) if reason.contains("302")),
            "{target}: {result:?}"
        );
    }
    assert!(
        elsewhere_sink.received().is_empty(),
        "the token's origin was left"
    );

    // The same origin, but with credentials in the location: not followed either.
    let upstream = scripted(|r| {
        if r.route().ends_with("/1/") {
            let host = r.header("host").unwrap_or_default();
            redirect(302, format!("http://user:pw@{host}/api/v1/other/"))
        } else {
            reply(200, json!({"id": 1}).to_string())
        }
    })
    .await;
    let addr = upstream.addr();
    let (client, _) = upstream_client(&api(&format!("http://{addr}/api/v1")));
    let result = client.fetch_detail(1).await;
    assert!(matches!(&result, DetailResult::Failed(_)), "{result:?}");
    assert_eq!(upstream.count(), 1);

    // A redirect loop on the same origin stops after a few hops.
    let upstream = scripted(|r| {
        let next = if r.route().ends_with("/a/") { "b" } else { "a" };
        redirect(307, format!("/api/v1/loop/{next}/"))
    })
    .await;
    let addr = upstream.addr();
    let (client, _) = upstream_client(&api(&format!("http://{addr}/api/v1")));
    let result = tokio::time::timeout(Duration::from_secs(10), client.fetch_detail(1))
        .await
        .expect("the redirect loop ends");
    assert!(matches!(result, DetailResult::Failed(_)), "{result:?}");
    assert!(upstream.count() <= 7);
}

// ---------------------------------------------------------------------------------------
// Secrets: the binary at RUST_LOG=trace
// ---------------------------------------------------------------------------------------

/// The distinctive part of the webhook URLs: for chat webhooks the URL is the credential.
const HOOK_SECRET: &str = "hook-path-8c2e6b1d94";
/// The webhook signing secret.
const SIGNING_SECRET: &str = "sign-secret-51ab7e03";
/// What the simulator puts in every profile's `configuration` and `endpoint_url`.
const PROFILE_SECRET: &str = "sim-secret-";

/// Every secret of these tests, to grep for.
fn secrets() -> [&'static str; 4] {
    [TOKEN, HOOK_SECRET, SIGNING_SECRET, PROFILE_SECRET]
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked into {what}:\n{}",
            excerpt(text, secret)
        );
    }
}

/// A few lines around the first occurrence of `needle`, for a readable failure.
fn excerpt(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[start..end].chars().take(2000).collect()
}

/// Runs the daemon (`run`) at `RUST_LOG=trace` with two webhook receivers, one answering
/// 404 and one down, until both have failed a delivery; answers its stdout and stderr,
/// `/metrics` and `/api/v1/status`.
async fn run_daemon_at_trace(log_format: &str) -> (String, String, String, String) {
    let sim = start_sim(SimOptions {
        profiles: 60,
        seed: 11,
        token: TOKEN.to_string(),
        ..SimOptions::default()
    })
    .await;
    // A webhook receiver that answers 404 to everything and keeps what it was sent.
    let sink_404 = Sink::start().await;
    sink_404.always(Reply::status(404));
    let sink = sink_404.addr();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = closed_port();
    let listen_port = closed_port();
    let config = write_config(
        dir.path(),
        "run.toml",
        &format!(
            "[api]\nbase_url = \"{}\"\ntoken_env = \"IM_TOKEN\"\ntimeout = \"2s\"\nretries = 0\n\
             [poll]\ninterval = \"1s\"\n\
             [server]\nlisten = \"127.0.0.1:{listen_port}\"\n\
             [state]\ndir = \"{}\"\n\
             [alerting]\ngroup_wait = \"0s\"\n\
             [[alerting.receivers]]\nname = \"answers-404\"\nkind = \"webhook\"\nurl_env = \"HOOK_404\"\nsecret_env = \"HOOK_SIGNING\"\n\
             [[alerting.receivers]]\nname = \"is-down\"\nkind = \"webhook\"\nurl_env = \"HOOK_DOWN\"\n",
            sim.base_url,
            dir.path().join("state").display()
        ),
    );
    let mut child = Launch::new(BIN)
        .args(["--log-format", log_format, "run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "trace")
        .env("IM_TOKEN", TOKEN)
        .env(
            "HOOK_404",
            format!("http://{sink}/services/{HOOK_SECRET}/alerts"),
        )
        .env(
            "HOOK_DOWN",
            format!("http://127.0.0.1:{port}/services/{HOOK_SECRET}/down"),
        )
        .env("HOOK_SIGNING", SIGNING_SECRET)
        .spawn()
        .expect("start the daemon");

    let addr: SocketAddr = format!("127.0.0.1:{listen_port}").parse().expect("addr");
    let metrics_url = format!("http://{addr}/metrics");
    // The 404 is final (counted as failed); the receiver that is down is retried (logged).
    let both_failed = wait_for(Duration::from_secs(45), || async {
        let retried = child
            .stderr_text()
            .lines()
            .any(|l| l.contains("is-down") && l.contains("will retry"));
        let Ok(response) = reqwest::get(&metrics_url).await else {
            return false;
        };
        let text = response.text().await.unwrap_or_default();
        let Ok(families) = exposition::parse(&text) else {
            return false;
        };
        retried
            && find(
                &families,
                "inventory_monitor_notifications_total",
                &[("receiver", "answers-404"), ("outcome", "failed")],
            )
            .is_some_and(|n| n >= 1.0)
    })
    .await;
    assert!(
        both_failed,
        "both receivers should have failed a delivery\n{}",
        child
            .stderr_text()
            .lines()
            .filter(|l| l.contains("notification"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let metrics = reqwest::get(&metrics_url)
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    let status = reqwest::get(format!("http://{addr}/api/v1/status"))
        .await
        .expect("status")
        .text()
        .await
        .expect("body");

    let _ = child.signal(Signal::Term);
    let _ = child.wait(Duration::from_secs(10)).await;
    let (stdout, stderr) = (child.stdout_text(), child.stderr_text());

    // What the receivers were sent carries no secret either (they may be third parties).
    let sent = sink_404
        .received()
        .iter()
        .map(Received::text)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!sent.is_empty(), "the 404 receiver was called");
    for secret in [TOKEN, SIGNING_SECRET, PROFILE_SECRET] {
        assert!(!sent.contains(secret), "{secret} sent to a receiver");
    }
    (stdout, stderr, metrics, status)
}

#[tokio::test]
async fn no_secret_reaches_trace_logs_metrics_or_the_status_page() {
    for format in ["json", "pretty"] {
        let (stdout, stderr, metrics, status) = run_daemon_at_trace(format).await;
        // Trace logging was on, the failures happened and were logged: the greps below
        // looked at real text.
        assert!(stderr.len() > 10_000, "{format}: trace logs are on");
        assert!(
            stderr.contains("TRACE") || stderr.contains("\"TRACE\""),
            "{format}"
        );
        assert!(stderr.contains("404"), "{format}: the 404 was logged");
        assert!(
            stderr.contains("is-down"),
            "{format}: the failed receiver was logged"
        );
        assert!(metrics.contains("inventory_profile_up"), "{format}");
        assert!(status.contains("\"profiles\""), "{format}");
        assert_no_secret(&format!("stderr ({format})"), &stderr);
        assert_no_secret(&format!("stdout ({format})"), &stdout);
        assert_no_secret("/metrics", &metrics);
        assert_no_secret("/api/v1/status", &status);
    }
}

#[tokio::test]
async fn no_secret_reaches_error_messages_bad_token_unreachable_or_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = pki(&["127.0.0.1"]);
    // The upstream accepts another token: ours is refused with 401.
    let other = start_sim(SimOptions {
        profiles: 5,
        token: "some-other-token".to_string(),
        ..SimOptions::default()
    })
    .await;
    let tls = start_tls_sim(sim_options(5), pki.identity()).await;
    let cases = [
        ("bad token", other.base_url.clone(), "401"),
        (
            "unreachable",
            format!("http://127.0.0.1:{}/api/v1", closed_port()),
            "unreachable",
        ),
        (
            "TLS error",
            tls.base_url.clone(),
            "TLS certificate verification failed",
        ),
    ];
    for (what, base_url, expected) in cases {
        let config = write_config(
            dir.path(),
            "once.toml",
            &format!("[api]\nbase_url = \"{base_url}\"\ntoken_env = \"IM_TOKEN\"\nretries = 0\n"),
        );
        let config = config.to_str().expect("path");
        for args in [
            vec!["once", "--config", config],
            vec![
                "--log-format",
                "json",
                "once",
                "--config",
                config,
                "--output",
                "json",
            ],
        ] {
            let (code, stdout, stderr) =
                run_bin(&args, &[("IM_TOKEN", TOKEN), ("RUST_LOG", "trace")]).await;
            assert_eq!(code, 2, "{what}: {stderr}");
            assert!(
                stderr.contains(expected) || stdout.contains(expected),
                "{what}: {expected:?} not said\n{stderr}"
            );
            assert_no_secret(&format!("{what} stderr"), &stderr);
            assert_no_secret(&format!("{what} stdout"), &stdout);
        }
    }
    // `check` with a token holding a newline names the problem, not the token.
    let config = write_config(
        dir.path(),
        "check.toml",
        "[api]\nbase_url = \"https://api.example/v1\"\ntoken_env = \"IM_TOKEN\"\n",
    );
    let bad = format!("{TOKEN}\nsecond line");
    let (code, stdout, stderr) = run_bin(
        &["check", "--config", config.to_str().expect("path")],
        &[("IM_TOKEN", &bad)],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("api.token_env"), "{stderr}");
    assert_no_secret("check stderr", &stderr);
    assert_no_secret("check stdout", &stdout);
}

//! The binary as users run it: `check`, `once`, `run`, `demo`, as child processes.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;
use inventory_monitor_testkit::child::{Child, Launch, Signal, Stream};
use inventory_monitor_testkit::place::free_port;
use serde_json::Value;

const TOKEN: &str = "tok-7f3a9c51e2d84b06";

fn write_config(dir: &Path, base_url: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"{base_url}\"\ntoken_env = \"IM_TEST_TOKEN\"\ntimeout = \"2s\"\nretries = 1\n\
             [server]\nlisten = \"127.0.0.1:0\"\n[state]\ndir = \"{}\"\n{extra}",
            dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

/// A simulated fleet of `profiles` (from `seed`) taking [`TOKEN`], and a directory for the
/// config and state.
async fn seeded_sim(profiles: usize, seed: u64) -> (Sim, tempfile::TempDir) {
    let sim = start_sim(inventory_monitor::simulator::SimOptions {
        profiles,
        seed,
        token: TOKEN.to_string(),
        ..Default::default()
    })
    .await;
    (sim, tempfile::tempdir().unwrap())
}

async fn output(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    run_bin(args, env).await
}

#[tokio::test]
async fn check_accepts_the_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/inventory-monitor.toml");
    let (code, stdout, stderr) = output(
        &["check", "--config", example],
        &[
            ("INVENTORY_API_TOKEN", "x"),
            ("SLACK_WEBHOOK_URL", "https://hooks.example/T/B/x"),
        ],
    )
    .await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("OK"));
}

#[tokio::test]
async fn check_lists_every_problem_with_its_key_path_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[api]\nbase_url = \"https://x.example/api/v1\"\npage_size = 500\nconcurrency = 0\n[shard]\nindex = 2\ncount = 2\n",
    )
    .unwrap();
    let (code, _, stderr) = output(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(code, 2);
    for expected in [
        "api.page_size (line 3): must be between 1 and 100, got 500",
        "api.concurrency (line 4): must be between 1 and 1024, got 0",
        "shard.index (line 6): must be less than shard.count (2), got 2",
        "INVENTORY_API_TOKEN",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    std::fs::write(
        &path,
        "[api]\nbase_url = \"https://x.example\"\npage_sizee = 5\n",
    )
    .unwrap();
    let (code, _, stderr) = output(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("api.page_sizee"), "{stderr}");
}

/// A file with five mistakes of the kinds that used to take a run each.
const FIVE_MISTAKES: &str = "[api]\nbase_url = \"http://127.0.0.1:9/api/v1\"\ntimout = \"5s\"\n\
     [poll]\nintervall = \"30s\"\n\
     [alerting]\ngroup_wait = \"ten seconds\"\n\
     [[alerting.receivers]]\nname = \"ops\"\nkind = \"slak\"\nurl = \"https://hooks.example/x\"\n\
     [[alerting.receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://h.example/\"\nretries = 3\n";

/// How each of [`FIVE_MISTAKES`] is reported begins, in order.
const FIVE_REPORTED: [&str; 5] = [
    "api.timout (line 3): unknown field `timout`, expected one of `base_url`, ",
    "poll.intervall (line 5): unknown field `intervall`, expected `interval`",
    "alerting.group_wait (line 7): \"ten seconds\" is not a duration",
    "alerting.receivers[0].kind (line 10): unknown variant `slak`, expected one of `slack`, ",
    "alerting.receivers[1].retries (line 16): unknown field `retries`, expected one of `name`, ",
];

/// Asserts that `stderr` is the list of the five problems of [`FIVE_MISTAKES`] and nothing
/// else, as `check` prints it.
fn assert_five_listed(stderr: &str) {
    let listed: Vec<&str> = stderr.lines().collect();
    assert!(listed[0].ends_with("five.toml: 5 problem(s):"), "{stderr}");
    assert_eq!(listed.len(), 1 + FIVE_REPORTED.len(), "{stderr}");
    for (line, start) in listed[1..].iter().zip(FIVE_REPORTED) {
        let start = format!("  {start}");
        assert!(
            line.starts_with(&start),
            "{line:?} does not start with {start:?}"
        );
    }
}

#[tokio::test]
async fn check_names_five_mistakes_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("five.toml");
    std::fs::write(&path, FIVE_MISTAKES).unwrap();
    let path = path.to_str().unwrap();
    let token = [("INVENTORY_API_TOKEN", "x")];

    let (code, stdout, stderr) = output(&["check", "--config", path], &token).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_five_listed(&stderr);

    // The daemon refuses it at start with the same list.
    let (code, stdout, stderr) = output(&["run", "--config", path], &token).await;
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_five_listed(&stderr);
}

/// A configuration with an upstream nobody answers on and a listen port of the system's
/// choosing, in a temporary directory (kept while the answer lives).
fn minimal_config() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("minimal.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:9/api/v1\"\n[server]\nlisten = \"127.0.0.1:0\"\n[state]\ndir = \"{}\"\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    (dir, path)
}

/// `run --config path`, once it has logged that it started.
async fn start_logged(path: &std::path::Path) -> Child {
    let child = Launch::new(env!("CARGO_BIN_EXE_inventory-monitor"))
        .args(["run", "--config"])
        .arg(path)
        .env("INVENTORY_API_TOKEN", "x")
        .spawn()
        .expect("the daemon starts");
    let started = child
        .wait_stderr_line(Duration::from_secs(30), |l| {
            l.contains("inventory-monitor started")
        })
        .await;
    assert!(started.is_some(), "{}", child.stderr_text());
    child
}

#[tokio::test]
async fn a_sighup_reload_logs_all_five_mistakes() {
    let (_dir, path) = minimal_config();
    let child = start_logged(&path).await;

    std::fs::write(&path, FIVE_MISTAKES).unwrap();
    child.signal(Signal::Hup).expect("SIGHUP");
    let refused = child
        .wait_stderr_line(Duration::from_secs(30), |l| l.contains("has 5 problem(s)"))
        .await;
    assert!(refused.is_some(), "{}", child.stderr_text());
    let log = child.stderr_text();
    for start in FIVE_REPORTED {
        assert!(log.contains(start), "{start:?} not logged:\n{log}");
    }
}

/// The signals are the daemon's from the moment it logs "started": a SIGTERM sent then is
/// a graceful stop (exit 0, logged), not the default end of the process by the signal.
#[tokio::test]
async fn a_sigterm_as_soon_as_started_is_logged_stops_the_daemon_gracefully() {
    let (_dir, path) = minimal_config();
    let mut child = start_logged(&path).await;
    assert_eq!(
        sigterm_and_wait(&mut child).await,
        0,
        "{}",
        child.stderr_text()
    );
    let logged = child
        .wait_stderr_line(Duration::from_secs(5), |l| l.contains("SIGTERM received"))
        .await;
    assert!(logged.is_some(), "{}", child.stderr_text());
}

#[tokio::test]
async fn once_reports_every_profile_and_exits_1_when_an_alert_condition_holds() {
    let (sim, dir) = seeded_sim(120, 2).await;
    let config = write_config(dir.path(), &sim.base_url, "");
    let config = config.to_str().unwrap();

    let (code, stdout, stderr) =
        output(&["once", "--config", config], &[("IM_TEST_TOKEN", TOKEN)]).await;
    assert_eq!(code, 1, "the seeded fleet has degraded profiles\n{stderr}");
    assert!(stdout.starts_with("ID"), "{stdout}");
    // One row per profile, plus the header, a blank line and the summary.
    assert_eq!(stdout.lines().count(), 120 + 3, "{stdout}");
    assert!(stdout.contains("120 profile(s), 120 detail(s) read"));
    assert!(stdout.contains("ProfileConnectivityDegraded"));

    let (code, stdout, _) = output(
        &["once", "--config", config, "--output", "json"],
        &[("IM_TEST_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["profiles"].as_array().unwrap().len(), 120);
    assert!(!report["alerts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn once_exits_0_when_every_judged_profile_is_healthy() {
    let sim = empty_sim().await;
    for id in 1..=5 {
        sim.sim
            .upsert_profile(healthy_detail(id, &format!("Healthy {id}"), "Org"));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url, "");
    let (code, stdout, stderr) = output(
        &["once", "--config", config.to_str().unwrap()],
        &[("IM_TEST_TOKEN", "demo-token")],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("5 profile(s), 5 detail(s) read, 0 with alert conditions"));
}

#[tokio::test]
async fn once_exits_2_when_the_upstream_is_unreachable_or_the_config_is_bad() {
    // A port that was free a moment ago: nothing listens there.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &format!("http://127.0.0.1:{port}/api/v1"), "");
    let (code, _, stderr) = output(
        &["once", "--config", config.to_str().unwrap()],
        &[("IM_TEST_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unreachable"), "{stderr}");

    let (code, _, stderr) = output(&["once", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(code, 2, "missing token env var is a config error");
    assert!(stderr.contains("IM_TEST_TOKEN"), "{stderr}");
}

/// A JSON value in which no object repeats a key. `serde_json` keeps the last of two equal
/// keys without a word, and so do most log pipelines: a repeated key loses a value.
pub(crate) struct NoRepeatedKey;

impl<'de> serde::Deserialize<'de> for NoRepeatedKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoRepeatedKeyVisitor)
    }
}

struct NoRepeatedKeyVisitor;

impl<'de> serde::de::Visitor<'de> for NoRepeatedKeyVisitor {
    type Value = NoRepeatedKey;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("key {key:?} twice")));
            }
            map.next_value::<NoRepeatedKey>()?;
        }
        Ok(NoRepeatedKey)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoRepeatedKey>()?.is_some() {}
        Ok(NoRepeatedKey)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoRepeatedKey)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoRepeatedKey)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoRepeatedKey)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoRepeatedKey)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoRepeatedKey)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoRepeatedKey)
    }
}

#[test]
fn a_repeated_key_is_told_apart_at_any_depth() {
    let read = |s: &str| serde_json::from_str::<NoRepeatedKey>(s).is_ok();
    assert!(read(r#"{"a":1,"fields":{"message":"x","b":[{"c":null}]}}"#));
    assert!(!read(r#"{"fields":{"message":"x","message":"y"}}"#));
    assert!(!read(r#"[{"a":{"b":1,"b":2}}]"#));
}

#[tokio::test]
async fn every_json_log_line_has_each_key_once_in_a_healthy_and_a_failing_run() {
    let (sim, dir) = seeded_sim(40, 3).await;
    let healthy = write_config(dir.path(), &sim.base_url, "");
    let down_dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = free_port();
    let failing = write_config(
        down_dir.path(),
        &format!("http://127.0.0.1:{port}/api/v1"),
        "",
    );
    for (config, expect) in [(healthy, "sweep complete"), (failing, "sweep failed")] {
        let config = config.to_str().unwrap();
        let (_, _, stderr) = output(
            &["--log-format", "json", "once", "--config", config],
            &[
                ("IM_TEST_TOKEN", TOKEN),
                ("RUST_LOG", "inventory_monitor=debug,info"),
            ],
        )
        .await;
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            lines.iter().any(|l| l.contains(expect)),
            "no {expect:?} line:\n{stderr}"
        );
        for line in lines {
            // Beside the log, stderr carries only the command's own closing error report.
            if line.starts_with("error: ") {
                continue;
            }
            if let Err(e) = serde_json::from_str::<NoRepeatedKey>(line) {
                panic!("{e} in a log line of {config}:\n{line}");
            }
        }
    }
}

#[tokio::test]
async fn secrets_never_reach_logs_reports_or_error_messages_even_at_trace_level() {
    let (sim, dir) = seeded_sim(80, 4).await;
    let config = write_config(dir.path(), &sim.base_url, "");
    let config = config.to_str().unwrap();
    for args in [
        vec!["once", "--config", config],
        vec!["once", "--config", config, "--output", "json"],
        vec!["--log-format", "json", "once", "--config", config],
    ] {
        let (_, stdout, stderr) =
            output(&args, &[("IM_TEST_TOKEN", TOKEN), ("RUST_LOG", "trace")]).await;
        assert!(stderr.len() > 1000, "trace logging is on: {stderr}");
        for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            assert!(!text.contains(TOKEN), "token in {what}");
            assert!(
                !text.contains("sim-secret-"),
                "profile credentials in {what}"
            );
        }
    }
    // A wrong token's error message does not echo it either.
    let (code, stdout, stderr) = output(
        &["once", "--config", config],
        &[("IM_TEST_TOKEN", "wrong-tok-5521"), ("RUST_LOG", "trace")],
    )
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("wrong-tok-5521") && !stdout.contains("wrong-tok-5521"));
}

/// Sends SIGTERM; answers the exit code once it exited (within 5 s).
async fn sigterm_and_wait(child: &mut Child) -> i32 {
    child.terminate(Duration::from_secs(5)).await
}

#[tokio::test]
async fn demo_refuses_a_zero_or_unreadable_interval_with_exit_2_and_no_panic() {
    for (interval, expected) in [
        ("0s", "must be at least 1s"),
        ("0ms", "must be at least 1s"),
        ("soon", "is not a duration"),
        ("5", "the unit is missing"),
    ] {
        let (code, stdout, stderr) = output(
            &["demo", "--listen", "127.0.0.1:0", "--interval", interval],
            &[],
        )
        .await;
        assert_eq!(code, 2, "--interval {interval}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("--interval") && stderr.contains(expected),
            "--interval {interval}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "--interval {interval}: {stderr}"
        );
        assert!(stdout.is_empty(), "--interval {interval} started: {stdout}");
    }
}

#[tokio::test]
async fn demo_serves_metrics_of_the_simulated_fleet_and_stops_on_sigterm() {
    let mut child = Launch::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1s",
            "--profiles",
            "50",
        ])
        .stderr_null()
        .spawn()
        .unwrap();
    let line = child
        .wait_line(Stream::Stdout, Duration::from_secs(30), |l| {
            l.contains("/metrics")
        })
        .await
        .expect("no /metrics line on stdout within 30 s");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .parse()
        .unwrap();
    let ready = wait_ready(&format!("http://{addr}/readyz"), Duration::from_secs(30)).await;
    assert!(ready, "demo never became ready");
    let (_, m) = scrape(addr).await;
    assert_eq!(
        label_values(&m, "inventory_profile_up", "profile_id").len(),
        50
    );
    assert!(!inventory_monitor_testkit::exposition::samples_named(
        &m,
        "inventory_profile_alert_firing"
    )
    .is_empty());
    assert_eq!(sigterm_and_wait(&mut child).await, 0);
}

#[tokio::test]
async fn run_serves_metrics_and_exits_0_on_sigterm() {
    let sim = empty_sim().await;
    sim.sim.upsert_profile(healthy_detail(1, "Only One", "Org"));
    let dir = tempfile::tempdir().unwrap();
    // A fixed port is not allowed in tests: find a free one, then hand it to the daemon.
    let port = free_port();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{}\"\ntoken_env = \"IM_TEST_TOKEN\"\n[poll]\ninterval = \"1s\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n",
            sim.base_url,
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut child = Launch::new(BIN)
        .args(["--config", config.to_str().unwrap()])
        .env("IM_TEST_TOKEN", "demo-token")
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ready = wait_ready(&format!("http://{addr}/readyz"), Duration::from_secs(30)).await;
    assert!(ready, "daemon never became ready");
    let (_, m) = scrape(addr).await;
    assert_eq!(
        inventory_monitor_testkit::exposition::find(
            &m,
            "inventory_profile_up",
            &[("profile_id", "1")]
        ),
        Some(1.0)
    );
    assert_eq!(sigterm_and_wait(&mut child).await, 0);
}

/// One hostile command line: its arguments, and what the error message must contain (the
/// argument's name, or the value it could not use).
struct Hostile {
    args: Vec<std::ffi::OsString>,
    names: String,
}

fn hostile(args: &[&str], names: &str) -> Hostile {
    Hostile {
        args: args.iter().map(std::ffi::OsString::from).collect(),
        names: names.to_string(),
    }
}

#[tokio::test]
async fn every_subcommand_refuses_hostile_arguments_with_exit_2_and_no_panic() {
    use std::os::unix::ffi::OsStringExt;
    let dir = tempfile::tempdir().unwrap();
    let a_directory = dir.path().to_str().unwrap();
    let sim = |extra: &[&str]| {
        let mut args = vec!["simulate", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let mut cases = vec![
        // demo: durations zero, negative, huge; numbers out of range or garbage.
        hostile(&["demo", "--drift", "0s"], "--drift"),
        hostile(&["demo", "--drift=-1s"], "--drift"),
        hostile(&["demo", "--drift", "1000000000y"], "--drift"),
        hostile(
            &["demo", "--interval", "99999999999999999999s"],
            "--interval",
        ),
        hostile(&["demo", "--interval", "2d"], "--interval"),
        hostile(&["demo", "--interval", "500ms"], "--interval"),
        hostile(&["demo", "--profiles", "0"], "--profiles"),
        hostile(&["demo", "--profiles=-5"], "--profiles"),
        hostile(&["demo", "--profiles", "1e9"], "--profiles"),
        hostile(&["demo", "--profiles", "10000000"], "--profiles"),
        hostile(&["demo", "--seed", "NaN"], "--seed"),
        hostile(&["demo", "--seed=-1"], "--seed"),
        hostile(&["demo", "--listen"], "--listen"),
        hostile(&["demo", "--listen", "not an address"], "not an address"),
        hostile(&["demo", "--bogus"], "--bogus"),
        // simulate
        hostile(&["simulate"], "--listen"),
        hostile(
            &["simulate", "--listen", "not an address"],
            "not an address",
        ),
        hostile(
            &[
                "simulate",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "/nonexistent/c.pem",
            ],
            "--tls-key",
        ),
        hostile(
            &[
                "simulate",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "/nonexistent/c.pem",
                "--tls-key",
                "/nonexistent/k.pem",
            ],
            "--tls-cert",
        ),
        // run, check, once, notify-test, and no subcommand
        hostile(&[], "nothing to do"),
        hostile(&["frobnicate"], "frobnicate"),
        hostile(&["run"], "--config"),
        hostile(
            &["run", "--config", "x.toml", "--auto-reload-interval", "0s"],
            "--auto-reload-interval",
        ),
        hostile(
            &["run", "--config", "/nonexistent/im.toml"],
            "/nonexistent/im.toml",
        ),
        hostile(
            &["--config", "/nonexistent/im.toml"],
            "/nonexistent/im.toml",
        ),
        hostile(&["--web-config", "/nonexistent/web.yml"], "--config"),
        hostile(&["check", "--config", a_directory], a_directory),
        hostile(
            &["once", "--config", "/nonexistent/im.toml"],
            "/nonexistent/im.toml",
        ),
        hostile(
            &["once", "--config", "x.toml", "--output", "xml"],
            "--output",
        ),
        hostile(
            &["notify-test", "--config", "/nonexistent/im.toml"],
            "/nonexistent/im.toml",
        ),
        hostile(
            &["--log-format", "yaml", "check", "--config", "x"],
            "--log-format",
        ),
    ];
    for (flag, value) in [
        ("--latency", "-5ms"),
        ("--latency", "2h"),
        ("--slow-latency", "1000000000y"),
        ("--retry-after", "99999999999999999999s"),
        ("--retry-after", "2d"),
        ("--drift", "0s"),
        ("--error-rate", "NaN"),
        ("--rate-429", "inf"),
        ("--malformed-rate", "1.5"),
        ("--slow-rate", "-0.1"),
        ("--legacy-fraction", ""),
        ("--profiles", "2000000"),
        ("--profiles", "many"),
        ("--seed", "1.5"),
        ("--token", ""),
        ("--forbidden-token", "a b"),
    ] {
        // `--flag=value`: a value that starts with a dash is the value, not a flag.
        let args = sim(&[&format!("{flag}={value}")]);
        cases.push(Hostile {
            args: args.into_iter().map(Into::into).collect(),
            names: flag.to_string(),
        });
    }
    // Not UTF-8: a string argument, and a path that does not exist.
    cases.push(Hostile {
        args: vec![
            "demo".into(),
            "--listen".into(),
            std::ffi::OsString::from_vec(b"127.0.0.1:\xff".to_vec()),
        ],
        names: "UTF-8".to_string(),
    });
    cases.push(Hostile {
        args: vec![
            "check".into(),
            "--config".into(),
            std::ffi::OsString::from_vec(b"/nonexistent/\xff.toml".to_vec()),
        ],
        names: "/nonexistent/".to_string(),
    });

    for case in &cases {
        let (code, stdout, stderr) = Launch::new(BIN)
            .args(&case.args)
            .output(Duration::from_secs(30))
            .await;
        let shown = format!("{:?}", case.args);
        assert_ne!(code, 101, "{shown} panicked: {stderr}");
        assert!(!stderr.contains("panicked"), "{shown}: {stderr}");
        assert!(!stderr.contains("internal error"), "{shown}: {stderr}");
        assert_eq!(
            code, 2,
            "{shown}: exit {code}\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert!(
            stderr.contains(&case.names),
            "{shown}: the message does not name {:?}:\n{stderr}",
            case.names
        );
    }
}

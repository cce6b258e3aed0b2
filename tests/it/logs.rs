//! What the binary logs (README, Behaviour in detail): a steady condition is told when it
//! starts and when it stops, not every sweep; reloads and shutdowns say what really
//! happens; errors name what was tried.

use crate::common;
use crate::common::CapturedLogs;

use std::path::Path;
use std::time::Duration;

use common::*;
use inventory_monitor::simulator::Faults;
use inventory_monitor_testkit::child::{Child, Launch, Signal};
use inventory_monitor_testkit::place::free_port;
use serde_json::json;

const TOKEN: &str = "demo-token";
const DEADLINE: Duration = Duration::from_secs(30);

/// A config polling `base_url` every second, serving on `port`, with `rest` appended.
fn write_config(dir: &Path, base_url: &str, port: u16, rest: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"{base_url}\"\ntoken_env = \"IM_TEST_TOKEN\"\ntimeout = \"2s\"\nretries = 0\n\
             [poll]\ninterval = \"1s\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n{rest}",
            dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

fn spawn_run(config: &Path, env: &[(&str, &str)]) -> Child {
    env.iter()
        .fold(
            Launch::new(BIN)
                .args(["run", "--config", config.to_str().unwrap()])
                .env("IM_TEST_TOKEN", TOKEN),
            |l, (k, v)| l.env(k, v),
        )
        .spawn()
        .unwrap()
}

/// Lines of the child's log containing `needle`.
fn lines_with(child: &Child, needle: &str) -> Vec<String> {
    child
        .stderr_text()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Waits until the child's log has at least `n` lines containing `needle`.
async fn wait_lines(child: &Child, needle: &str, n: usize) {
    let reached = wait_until(DEADLINE, || lines_with(child, needle).len() >= n).await;
    assert!(
        reached,
        "fewer than {n} {needle:?} lines:\n{}",
        child.stderr_text()
    );
}

const CUT: &str = "are longer than api.max_label_length and are cut";
const NOT_CUT: &str = "label values from the upstream are no longer cut";

#[tokio::test]
async fn a_label_cut_is_warned_when_it_starts_and_told_when_it_stops_not_every_sweep() {
    let sim = empty_sim().await;
    let long = "L".repeat(300);
    sim.sim.upsert_profile(healthy_detail(1, &long, "Org"));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url, free_port(), "");
    let mut child = spawn_run(&config, &[]);

    // Four sweeps cut the name: one warning.
    wait_lines(&child, "sweep complete", 4).await;
    let warned = lines_with(&child, CUT);
    assert_eq!(warned.len(), 1, "{}", child.stderr_text());
    assert!(
        warned[0].contains("WARN") && warned[0].contains("label_values=1"),
        "{warned:?}"
    );
    assert!(lines_with(&child, NOT_CUT).is_empty());

    // The name is short again: told once, at INFO.
    sim.sim.upsert_profile(healthy_detail(1, "Short", "Org"));
    wait_lines(&child, NOT_CUT, 1).await;
    let sweeps = lines_with(&child, "sweep complete").len();
    wait_lines(&child, "sweep complete", sweeps + 2).await;
    let stopped = lines_with(&child, NOT_CUT);
    assert_eq!(stopped.len(), 1, "{}", child.stderr_text());
    assert!(stopped[0].contains("INFO"), "{stopped:?}");
    assert_eq!(lines_with(&child, CUT).len(), 1);

    // Long again: warned again, once.
    sim.sim.upsert_profile(healthy_detail(1, &long, "Org"));
    wait_lines(&child, CUT, 2).await;
    let sweeps = lines_with(&child, "sweep complete").len();
    wait_lines(&child, "sweep complete", sweeps + 2).await;
    assert_eq!(lines_with(&child, CUT).len(), 2, "{}", child.stderr_text());
    assert_eq!(child.terminate(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn a_failing_upstream_is_an_error_once_and_its_recovery_is_told() {
    let sim = empty_sim().await;
    sim.sim.upsert_profile(healthy_detail(1, "One", "Org"));
    sim.sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url, free_port(), "");
    let mut child = spawn_run(&config, &[]);
    wait_lines(&child, "sweep failed", 3).await;
    let failed = lines_with(&child, "sweep failed");
    assert_eq!(
        failed.iter().filter(|l| l.contains("ERROR")).count(),
        1,
        "one error, then info lines while nothing changes:\n{}",
        child.stderr_text()
    );
    assert!(failed[1..].iter().all(|l| l.contains("INFO")), "{failed:?}");
    // The URL tried is named.
    assert!(
        failed[0].contains(&format!(
            "HTTP 500 Internal Server Error at {}/inventory_connection_profile/?limit=100&offset=0",
            sim.base_url
        )),
        "{}",
        failed[0]
    );

    sim.sim.set_faults(Faults::default());
    wait_lines(&child, "the profile list is read completely again", 1).await;
    let sweeps = lines_with(&child, "sweep complete").len();
    wait_lines(&child, "sweep complete", sweeps + 1).await;
    assert_eq!(
        lines_with(&child, "the profile list is read completely again").len(),
        1,
        "{}",
        child.stderr_text()
    );
    assert_eq!(child.terminate(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn a_sighup_reload_keeps_the_queue_without_claiming_a_restart() {
    let sim = empty_sim().await;
    sim.sim.upsert_profile(patched(
        healthy_detail(1, "Broken Link", "Org"),
        json!({"health_status": {"connectivity": "unhealthy"}}),
    ));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Nothing listens there: the notification stays queued, retried.
    let hook = format!("http://127.0.0.1:{}/hook", free_port());
    let config = write_config(
        dir.path(),
        &sim.base_url,
        port,
        "[alerting]\ngroup_wait = \"0s\"\n\
         [[alerting.receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"HOOK\"\n",
    );
    let mut child = spawn_run(&config, &[("HOOK", &hook)]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_ready(&format!("http://{addr}/readyz"), DEADLINE).await);
    let queued = wait_for(DEADLINE, || async {
        let (_, m) = scrape(addr).await;
        inventory_monitor_testkit::exposition::find(&m, "inventory_monitor_notification_queue", &[])
            .is_some_and(|v| v >= 1.0)
    })
    .await;
    assert!(queued, "nothing queued:\n{}", child.stderr_text());

    child.signal(Signal::Hup).unwrap();
    wait_lines(&child, "configuration reloaded", 1).await;
    let log = child.stderr_text();
    assert!(
        log.contains("notifier reconfigured: 1 queued notification(s) kept"),
        "{log}"
    );
    for claim in ["saved for the next start", "state restored"] {
        assert!(
            !log.contains(claim),
            "a reload is no restart: {claim:?}\n{log}"
        );
    }

    // A real shutdown does keep them for the next start, and says so.
    assert_eq!(child.terminate(Duration::from_secs(10)).await, 0);
    assert_eq!(
        lines_with(&child, "undelivered notifications saved for the next start").len(),
        1,
        "{}",
        child.stderr_text()
    );
}

#[tokio::test]
async fn once_with_a_base_url_missing_its_api_path_names_the_url_and_hints_at_it() {
    let sim = empty_sim().await;
    sim.sim.upsert_profile(healthy_detail(1, "One", "Org"));
    let dir = tempfile::tempdir().unwrap();
    let root = format!("http://{}", sim.addr);
    let config = write_config(dir.path(), &root, free_port(), "");
    let (code, _, stderr) = run_bin(
        &["once", "--config", config.to_str().unwrap()],
        &[("IM_TEST_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "HTTP 404 Not Found at {root}/inventory_connection_profile/?limit=100&offset=0 \
             — is api.base_url missing its /api/v1 path?"
        )),
        "{stderr}"
    );

    // A refused token is said once, with the URL tried, and never echoed.
    let config = write_config(dir.path(), &sim.base_url, free_port(), "");
    let (code, _, stderr) = run_bin(
        &["once", "--config", config.to_str().unwrap()],
        &[("IM_TEST_TOKEN", "not-the-token-4417")],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    assert_eq!(
        error,
        format!(
            "error: the API rejected the token (401 Unauthorized): \
             refused at {}/inventory_connection_profile/?limit=100&offset=0",
            sim.base_url
        )
    );
    assert!(!stderr.contains("not-the-token-4417"));

    // Credentials in the base URL are refused, and never echoed.
    let with_userinfo = format!("http://admin:pw-93ac1@{}/api/v1", sim.addr);
    let config = write_config(dir.path(), &with_userinfo, free_port(), "");
    let (code, stdout, stderr) = run_bin(
        &["once", "--config", config.to_str().unwrap()],
        &[("IM_TEST_TOKEN", TOKEN), ("RUST_LOG", "trace")],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        !stderr.contains("pw-93ac1") && !stdout.contains("pw-93ac1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn once_says_nothing_of_label_cutting_since_it_renders_no_metrics() {
    let sim = empty_sim().await;
    sim.sim
        .upsert_profile(healthy_detail(1, &"L".repeat(300), "Org"));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url, free_port(), "");
    let (code, stdout, stderr) = run_bin(
        &["once", "--config", config.to_str().unwrap()],
        &[("IM_TEST_TOKEN", TOKEN), ("RUST_LOG", "debug")],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("sweep complete"), "{stderr}");
    assert!(!stderr.contains("label values"), "{stderr}");
}

#[tokio::test]
async fn a_state_dir_that_cannot_be_created_names_its_os_error_once() {
    let sim = empty_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let config = write_config(dir.path(), &sim.base_url, free_port(), "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("dir = \"{}\"", dir.path().join("state").display()),
        &format!("dir = \"{}\"", file.join("state").display()),
    );
    std::fs::write(&config, text).unwrap();
    let (code, _, stderr) = run_bin(
        &["run", "--config", config.to_str().unwrap()],
        &[("IM_TEST_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("state.dir: cannot create"), "{stderr}");
    assert_eq!(
        stderr.matches("Not a directory").count(),
        1,
        "the OS error once:\n{stderr}"
    );
}

#[tokio::test]
async fn a_temporary_state_dir_as_the_demos_promises_no_next_start_at_shutdown() {
    use inventory_monitor::config::{ReceiverConfig, ReceiverKind, Secret};
    use inventory_monitor::daemon::Daemon;

    let sim = empty_sim().await;
    sim.sim.upsert_profile(patched(
        healthy_detail(1, "Broken Link", "Org"),
        json!({"health_status": {"connectivity": "unhealthy"}}),
    ));
    for ephemeral in [true, false] {
        let logs = CapturedLogs::default();
        let _capture = logs.capture(tracing::Level::INFO);
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(&sim.base_url);
        config.state.dir = dir.path().join("state");
        config.alerting.group_wait = Duration::ZERO;
        // Nothing listens there: the notification stays queued.
        config.alerting.receivers = vec![ReceiverConfig {
            url: Some(format!("http://127.0.0.1:{}/hook", free_port())),
            ..ReceiverConfig::new("hook", ReceiverKind::Webhook)
        }];
        let mut daemon = Daemon::with_notifier(
            config,
            Secret::new(TOKEN),
            std::sync::Arc::new(inventory_monitor::clock::SystemClock),
        )
        .unwrap();
        daemon.sweep_once().await;
        let notifier = daemon.notifier().unwrap();
        assert_eq!(notifier.queue_len(), 1);
        if ephemeral {
            // What the demo does with its temporary state directory.
            notifier.set_ephemeral_state();
        }
        daemon.shutdown().await;
        let log = logs.text();
        assert_eq!(
            log.contains("undelivered notifications saved for the next start"),
            !ephemeral,
            "{log}"
        );
        assert_eq!(
            log.contains("undelivered notifications are dropped: the state directory is temporary"),
            ephemeral,
            "{log}"
        );
        assert!(!ephemeral || !log.contains("next start"), "{log}");
    }
}

/// The `key=` fields of a pretty log line, in order: words that start a field (after a
/// space) and are an identifier before their `=`. A URL's `?limit=` is no field.
fn pretty_keys(line: &str) -> Vec<&str> {
    line.split(' ')
        .filter_map(|word| word.split_once('=').map(|(key, _)| key))
        .filter(|key| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        })
        .collect()
}

#[test]
fn pretty_keys_are_the_fields_of_a_line() {
    assert_eq!(
        pretty_keys(
            "INFO x: sweep failed reason=HTTP 500 at http://h/?limit=1&offset=0 seconds=0.1"
        ),
        ["reason", "seconds"]
    );
}

/// Every line the daemon logs in `format` over a healthy sweep, a SIGHUP reload, a failing
/// upstream and a shutdown with a notification queued.
async fn a_run_logged_in(format: &str) -> String {
    let sim = empty_sim().await;
    sim.sim.upsert_profile(patched(
        healthy_detail(1, "Broken Link", "Org"),
        json!({"health_status": {"connectivity": "unhealthy"}}),
    ));
    sim.sim
        .upsert_profile(healthy_detail(2, &"L".repeat(300), "Org"));
    let dir = tempfile::tempdir().unwrap();
    let hook = format!("http://127.0.0.1:{}/hook", free_port());
    let config = write_config(
        dir.path(),
        &sim.base_url,
        free_port(),
        "[alerting]\ngroup_wait = \"0s\"\n\
         [[alerting.receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"HOOK\"\n",
    );
    let mut child = Launch::new(BIN)
        .args(["--log-format", format, "run", "--config"])
        .arg(&config)
        .env("IM_TEST_TOKEN", TOKEN)
        .env("HOOK", &hook)
        .env("RUST_LOG", "inventory_monitor=debug,info")
        .spawn()
        .unwrap();
    wait_lines(&child, "sweep complete", 1).await;
    child.signal(Signal::Hup).unwrap();
    wait_lines(&child, "configuration reloaded", 1).await;
    sim.sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    wait_lines(&child, "sweep failed", 2).await;
    assert_eq!(child.terminate(Duration::from_secs(10)).await, 0);
    child.stderr_text()
}

#[tokio::test]
async fn every_log_line_of_run_has_each_key_once_in_json_and_pretty() {
    let log = a_run_logged_in("json").await;
    for expected in [
        "sweep complete",
        "are cut",
        "SIGHUP received",
        "notifier reconfigured",
        "sweep failed",
        "SIGTERM received",
        "saved for the next start",
    ] {
        assert!(log.contains(expected), "no {expected:?} line:\n{log}");
    }
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        if let Err(e) = serde_json::from_str::<crate::cli::NoRepeatedKey>(line) {
            panic!("{e} in a JSON log line:\n{line}");
        }
    }

    let log = a_run_logged_in("pretty").await;
    assert!(log.contains("sweep failed"), "{log}");
    for line in log.lines() {
        let keys = pretty_keys(line);
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(keys.len(), unique.len(), "a key twice in:\n{line}");
    }
}

#[tokio::test]
async fn a_receiver_that_is_down_is_warned_once_and_its_return_told() {
    use crate::child::{Mode, Sink};

    let sim = empty_sim().await;
    sim.sim.upsert_profile(patched(
        healthy_detail(1, "Broken Link", "Org"),
        json!({"health_status": {"connectivity": "unhealthy"}}),
    ));
    let mut sink = Sink::start().await;
    sink.set_mode(Mode::Fail).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sim.base_url,
        free_port(),
        "[alerting]\ngroup_wait = \"0s\"\n\
         [[alerting.receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl_env = \"HOOK\"\n",
    );
    let mut child = spawn_run(
        &config,
        &[
            ("HOOK", &sink.url()),
            ("RUST_LOG", "inventory_monitor=debug,info"),
        ],
    );
    wait_lines(&child, "will retry", 3).await;
    let retries = lines_with(&child, "will retry");
    assert_eq!(
        retries.iter().filter(|l| l.contains("WARN")).count(),
        1,
        "{}",
        child.stderr_text()
    );

    sink.set_mode(Mode::Ok).await;
    wait_lines(&child, "the receiver takes notifications again", 1).await;
    let back = lines_with(&child, "the receiver takes notifications again");
    assert!(back[0].contains("INFO"), "{back:?}");
    assert!(!sink.delivered().is_empty());
    assert_eq!(child.terminate(Duration::from_secs(10)).await, 0);
}

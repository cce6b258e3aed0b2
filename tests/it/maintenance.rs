//! Maintenance windows (README, Maintenance windows): `check` names every mistake in an
//! `[[alerting.maintenance]]` block by key path and line, and the binary mutes what a window
//! covers: the alert is still judged and exported, shown suppressed, and not delivered.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use common::*;
use inventory_monitor::config;
use inventory_monitor_testkit::child::Launch;
use inventory_monitor_testkit::exposition::find;
use inventory_monitor_testkit::place::free_port;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_inventory-monitor");

/// The problems `check` reports for `text` (with an API token in the environment).
fn problems(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, text).expect("write");
    let env = |name: &str| (name == config::DEFAULT_TOKEN_ENV).then(|| "t".to_string());
    match config::load_with(&file, &env) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

const EVERY_MISTAKE: &str = r#"[api]
base_url = "http://127.0.0.1:1"

[[alerting.maintenance]]
name = "weekend"
matchers = ['organization="Legacy"', 'profile_name=~"(unclosed"']
weekdays = ["funday", "saturday:sunday"]
times = [{ start = "2:00", end = "04:00" }, { start = "05:00", end = "04:00" }]
days_of_month = [0, "-1:5", "10:3"]
months = ["smarch", "december:january", 13]
years = ["twenty", "2028:2027"]
location = "Mars/Olympus"

[[alerting.maintenance]]
name = "weekend"
matchers = []
starts_at = "tomorrow"
ends_at = "2027-01-01T00:00:00Z"

[[alerting.maintenance]]
name = "both"
matchers = ['severity="warning"']
starts_at = "2027-01-02T00:00:00Z"
ends_at = "2027-01-03T00:00:00Z"
weekdays = ["sunday"]

[[alerting.maintenance]]
name = "backwards"
matchers = ['severity="warning"']
starts_at = "2027-01-02T00:00:00Z"
ends_at = "2027-01-01T00:00:00Z"

[[alerting.maintenance]]
name = ""
matchers = ['severity="warning"']
location = "Local"
weekdays = []
times = [{ start = "24:00", end = "24:00" }]

[[alerting.maintenance]]
name = "half"
matchers = ['severity="warning"']
ends_at = "2027-01-01T00:00:00Z"

[[alerting.maintenance]]
name = "typed"
matchers = ['severity="warning"']
times = [{ end = "04:00" }]
days_of_month = [1.5]
months = [true]
"#;

#[test]
fn check_names_every_mistake_in_a_window_by_key_path_and_line() {
    let found = problems(EVERY_MISTAKE);
    let expected = [
        "alerting.maintenance[0].matchers[1] (line 6): matcher `profile_name=~\"(unclosed\"`: ",
        "alerting.maintenance[0].weekdays[0] (line 7): \"funday\" is not a weekday (monday..sunday or a range like monday:friday)",
        "alerting.maintenance[0].weekdays[1] (line 7): \"saturday:sunday\": a range of weekdays runs within one week, sunday to saturday; list the days on both sides of the week's turn apart, like \"saturday\", \"sunday\"",
        "alerting.maintenance[0].times[0].start (line 8): \"2:00\" is not a time of day; write it like \"02:00\" (00:00 to 24:00)",
        "alerting.maintenance[0].times[1].end (line 8): \"04:00\" must be after start \"05:00\"",
        "alerting.maintenance[0].days_of_month[0] (line 9): \"0\" is not a day of the month (1 to 31, or -1 to -31 counting from the last day, or a range like 1:5 or -3:-1)",
        "alerting.maintenance[0].days_of_month[1] (line 9): \"-1:5\": a range that starts counting from the end of the month must end so too (like -3:-1)",
        "alerting.maintenance[0].days_of_month[2] (line 9): \"10:3\": the end day is always before the start day",
        "alerting.maintenance[0].months[0] (line 10): \"smarch\" is not a month (january..december or 1..12, or a range like june:august)",
        "alerting.maintenance[0].months[1] (line 10): \"december:january\": the end month is before the start month (a range runs within one year)",
        "alerting.maintenance[0].months[2] (line 10): \"13\" is not a month",
        "alerting.maintenance[0].years[0] (line 11): \"twenty\" is not a year (like 2027, or a range like 2026:2027)",
        "alerting.maintenance[0].years[1] (line 11): \"2028:2027\": the end year is before the start year",
        "alerting.maintenance[0].location (line 12): \"Mars/Olympus\" is not an IANA time zone; write it like \"Europe/Berlin\" or \"UTC\"",
        "alerting.maintenance[1].name (line 15): duplicate maintenance window name \"weekend\"",
        "alerting.maintenance[1].matchers (line 16): must list at least one matcher",
        "alerting.maintenance[1].starts_at (line 17): \"tomorrow\" is not an RFC 3339 time; write it like \"2027-01-09T22:00:00Z\" or \"2027-01-09T23:00:00+01:00\"",
        "alerting.maintenance[2] (line 20): a window is either one-off (starts_at, ends_at) or recurring (times, weekdays, days_of_month, months, years, location), not both: split it into two windows",
        "alerting.maintenance[3].ends_at (line 31): must be after starts_at (2027-01-02T00:00:00Z), got 2027-01-01T00:00:00Z",
        "alerting.maintenance[4].name (line 34): must not be empty",
        "alerting.maintenance[4].location (line 36): \"Local\" is not accepted",
        "alerting.maintenance[4].weekdays (line 37): must list at least one weekday range; leave the key out to match every weekday",
        "alerting.maintenance[4].times[0].start (line 38): 24:00 is the end of a day; a range starts by 23:59",
        "alerting.maintenance[5].starts_at (line 40): is required in a one-off window (with starts_at and ends_at)",
        "alerting.maintenance[6].times[0].start (line 48): is required, like \"02:00\" (00:00 to 24:00)",
        "alerting.maintenance[6].days_of_month[0] (line 49): invalid type: floating point `1.5`, expected a whole number like 15 or text like \"1:5\" or \"june\"",
        "alerting.maintenance[6].months[0] (line 50): invalid type: boolean `true`, expected a whole number like 15 or text like \"1:5\" or \"june\"",
    ];
    for (want, got) in expected.iter().zip(&found) {
        assert!(
            got.starts_with(want),
            "expected\n  {want}\ngot\n  {got}\nall:\n{found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[tokio::test]
async fn check_refuses_a_bad_window_and_accepts_a_good_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.toml");
    let path = file.to_str().expect("utf-8 path");
    let base = "[api]\nbase_url = \"http://127.0.0.1:1\"\ntoken_env = \"IM_TEST_TOKEN\"\n";
    let good =
        "[[alerting.maintenance]]\nname = \"sunday\"\nmatchers = ['organization=\"Legacy\"']\n\
                location = \"Europe/Berlin\"\nweekdays = [\"sunday\"]\n\
                times = [{ start = \"02:00\", end = \"04:00\" }]\n";
    std::fs::write(&file, format!("{base}{good}")).expect("write");
    let env = [("IM_TEST_TOKEN", "t")];
    let (code, out, err) = run_bin(&["check", "--config", path], &env).await;
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(
        &file,
        format!("{base}{}", good.replace("sunday\"]", "sundae\"]")),
    )
    .expect("write");
    let (code, out, err) = run_bin(&["check", "--config", path], &env).await;
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}")
            .contains("alerting.maintenance[0].weekdays[0] (line 8): \"sundae\" is not a weekday"),
        "{out}{err}"
    );
}

/// RFC 3339 of `now + seconds`.
fn rfc3339(seconds: i64) -> String {
    let now = jiff::Timestamp::try_from(SystemTime::now()).expect("now");
    (now + jiff::SignedDuration::from_secs(seconds)).to_string()
}

/// The alerts of profile `id` in `/api/v1/status`.
async fn status_alert(addr: SocketAddr, id: u64) -> Option<Value> {
    let status = get_json(addr, "/api/v1/status").await;
    status["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["profile_id"] == json!(id))
        .cloned()
}

#[tokio::test]
async fn a_window_in_force_mutes_its_alerts_which_are_still_exported_and_shown_suppressed() {
    // Two profiles go down; a one-off window covering now mutes the legacy one only.
    let sim = empty_sim().await;
    for (id, name) in [(1, "legacy-db"), (2, "main-db")] {
        sim.sim.upsert_profile(patched(
            healthy_detail(id, name, "Org"),
            json!({"health_status": {"connectivity": "unhealthy"}}),
        ));
    }
    let sink = RecordingSink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let file = dir.path().join("config.toml");
    let text = format!(
        "[api]\nbase_url = \"{}\"\ntoken_env = \"IM_TEST_TOKEN\"\n[poll]\ninterval = \"1s\"\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n\
         [alerting]\ngroup_wait = \"1s\"\n\
         [[alerting.receivers]]\nname = \"ops\"\nkind = \"webhook\"\nurl_env = \"IM_TEST_HOOK\"\n\
         [[alerting.maintenance]]\nname = \"migration\"\n\
         matchers = ['profile_name=~\"legacy-.*\"']\n\
         starts_at = \"{}\"\nends_at = \"{}\"\n",
        sim.base_url,
        dir.path().join("state").display(),
        rfc3339(-3600),
        rfc3339(3600),
    );
    std::fs::write(&file, text).expect("write");
    let child = Launch::new(BIN)
        .args(["run", "--config"])
        .arg(&file)
        .env("IM_TEST_TOKEN", "demo-token")
        .env("IM_TEST_HOOK", sink.url())
        .spawn()
        .expect("spawn the daemon");
    assert!(
        wait_ready(&format!("http://{addr}/readyz"), Duration::from_secs(20)).await,
        "never ready\n{}",
        child.stderr_text()
    );

    // The unmuted alert is delivered: by then the muted one had its chance to be.
    let delivered = wait_until(Duration::from_secs(20), || {
        sink.alerts()
            .contains(&"firing ProfileConnectivityDegraded/2".to_string())
    })
    .await;
    assert!(
        delivered,
        "profile 2 never delivered\n{}",
        child.stderr_text()
    );

    let (_, m) = scrape(addr).await;
    let firing = |id: &str| {
        find(
            &m,
            "inventory_profile_alert_firing",
            &[
                ("profile_id", id),
                ("alertname", "ProfileConnectivityDegraded"),
            ],
        )
    };
    assert_eq!(firing("1"), Some(1.0), "the muted alert is still exported");
    assert_eq!(firing("2"), Some(1.0));

    let muted = status_alert(addr, 1)
        .await
        .expect("profile 1's alert in the status");
    assert_eq!(
        muted["suppressed_by"],
        json!([{"kind": "maintenance", "name": "migration"}]),
        "{muted}"
    );
    let loud = status_alert(addr, 2)
        .await
        .expect("profile 2's alert in the status");
    assert!(
        loud["suppressed_by"].as_array().is_none_or(Vec::is_empty),
        "{loud}"
    );
    assert!(
        !sink.alerts().iter().any(|a| a.ends_with("/1")),
        "the muted alert was delivered: {:?}",
        sink.alerts()
    );
}

/// The text of `## Maintenance windows` in the README.
fn readme_section() -> String {
    let readme = std::fs::read_to_string(inventory_monitor_testkit::repo_path("README.md"))
        .expect("README.md");
    let start = readme
        .find("\n## Maintenance windows\n")
        .expect("the README has a Maintenance windows section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The windows of `blocks` (TOML) with an `[api]` table before them, loaded and validated.
fn load_windows(blocks: &str) -> inventory_monitor::config::Config {
    let text = format!("[api]\nbase_url = \"http://127.0.0.1:1\"\n{blocks}");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, &text).expect("write");
    let env = |name: &str| (name == config::DEFAULT_TOKEN_ENV).then(|| "t".to_string());
    config::load_with(&file, &env).unwrap_or_else(|e| panic!("refused:\n{e}\n{text}"))
}

#[test]
fn the_readme_and_example_file_windows_load_as_written() {
    let section = readme_section();
    let mut toml = String::new();
    let mut open = false;
    for line in section.lines() {
        match (open, line) {
            (false, "```toml") => open = true,
            (true, "```") => open = false,
            (true, line) => {
                toml.push_str(line);
                toml.push('\n');
            }
            _ => {}
        }
    }
    let names: Vec<String> = load_windows(&toml)
        .alerting
        .maintenance
        .iter()
        .map(|w| w.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "legacy-sunday",
            "erp-nightly-weekend",
            "quarterly-weekend",
            "erp-migration"
        ]
    );

    // The example file shows its windows commented out: uncommented, they load.
    let example = std::fs::read_to_string(inventory_monitor_testkit::repo_path(
        "config/inventory-monitor.toml",
    ))
    .expect("example file");
    let from = example
        .find("# [[alerting.maintenance]]")
        .expect("the example file shows a window");
    let uncommented: String = example[from..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .map(|l| format!("{l}\n"))
        .collect();
    let config = load_windows(&uncommented);
    assert_eq!(config.alerting.maintenance.len(), 2);
}

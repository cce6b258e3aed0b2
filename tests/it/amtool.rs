//! The real `amtool` (Alertmanager's command line) against the binary as a child process
//! (README, Silences): `silence add`, `silence query` (and `-q`), `alert query`, `silence
//! expire`, on a daemon without auth on loopback and on one with basic auth on a public
//! address (`--http.config.file`). Skipped with a reason when `amtool` is not installed
//! (`apt-get install prometheus-alertmanager`), failed under `CI=true`.

use std::path::Path;
use std::time::Duration;

use inventory_monitor_testkit::child::Launch;
use inventory_monitor_testkit::tool::require_tool;

use crate::silences::{Daemon, Setup, PASSWORD};

/// Runs `amtool --alertmanager.url=URL [--http.config.file=F] ARGS`: exit code, stdout,
/// stderr.
async fn amtool(
    tool: &Path,
    d: &Daemon,
    http_config: Option<&Path>,
    args: &[&str],
) -> (i32, String, String) {
    let mut launch = Launch::new(tool)
        .arg(format!("--alertmanager.url={}", d.url()))
        // No amtool config of the machine's user gets in the way.
        .env("HOME", d.dir.path());
    if let Some(file) = http_config {
        launch = launch.arg(format!("--http.config.file={}", file.display()));
    }
    launch.args(args).output(Duration::from_secs(30)).await
}

/// The amtool session of README, Silences: add, query, query -q, alert query (the silenced
/// alert left out by default, shown suppressed with -s), expire.
async fn session(tool: &Path, d: &Daemon, http_config: Option<&Path>) {
    d.wait_firing().await;
    let (code, out, err) = amtool(
        tool,
        d,
        http_config,
        &[
            "silence",
            "add",
            r#"profile_name=~"legacy-.*""#,
            "--duration",
            "2h",
            "--comment",
            "migration",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let legacy = out.trim().to_string();
    assert_eq!(legacy.len(), 36, "amtool prints the id: {out}");

    let (code, out, err) = amtool(
        tool,
        d,
        http_config,
        &[
            "silence",
            "add",
            "alertname=InventoryApiDown",
            "--duration",
            "1h",
            "--comment",
            "upstream maintenance",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}\n{err}");
    let down = out.trim().to_string();

    let (code, table, err) = amtool(tool, d, http_config, &["silence", "query"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(table.contains(&legacy) && table.contains(&down), "{table}");
    assert!(table.contains(r#"profile_name=~"legacy-.*""#), "{table}");
    assert!(table.contains("migration"), "{table}");

    let (code, ids, err) = amtool(tool, d, http_config, &["silence", "query", "-q"]).await;
    assert_eq!(code, 0, "{err}");
    let mut listed: Vec<&str> = ids.lines().collect();
    listed.sort_unstable();
    let mut expected = vec![legacy.as_str(), down.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected);

    let (code, out, err) = amtool(
        tool,
        d,
        http_config,
        &["silence", "query", "-q", "alertname=InventoryApiDown"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), down, "a filter picks the silence");

    let (code, out, err) = amtool(tool, d, http_config, &["alert", "query"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("InventoryApiDown"),
        "silenced alerts are left out by default: {out}"
    );
    let (code, out, err) = amtool(tool, d, http_config, &["alert", "query", "-s"]).await;
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("InventoryApiDown"))
        .unwrap_or_else(|| panic!("no InventoryApiDown in {out}"));
    assert!(row.contains("suppressed"), "{out}");

    let (code, out, err) = amtool(tool, d, http_config, &["silence", "expire", &down]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let (_, ids, _) = amtool(tool, d, http_config, &["silence", "query", "-q"]).await;
    assert_eq!(ids.trim(), legacy, "the expired one is no longer listed");
    let (code, out, err) = amtool(tool, d, http_config, &["alert", "query"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("InventoryApiDown") && l.contains("active")),
        "active again once its silence expired: {out}"
    );
    let (code, out, _) = amtool(
        tool,
        d,
        http_config,
        &["silence", "query", "--expired", "-q"],
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(out.trim(), down);
}

#[tokio::test]
async fn amtool_adds_queries_and_expires_silences_on_loopback() {
    let Some(tool) = require_tool("amtool") else {
        return;
    };
    let d = Daemon::start(Setup::default()).await;
    session(&tool, &d, None).await;
}

#[tokio::test]
async fn amtool_works_with_basic_auth_and_a_wrong_password_is_refused() {
    let Some(tool) = require_tool("amtool") else {
        return;
    };
    let d = Daemon::start(Setup {
        public: true,
        basic_auth: true,
        ..Setup::default()
    })
    .await;
    let wrong = d.amtool_http_config("not the password");
    let (code, out, err) = amtool(
        &tool,
        &d,
        Some(&wrong),
        &["silence", "add", "alertname=X", "--comment", "c"],
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("401") || err.contains("nauthorized"), "{err}");
    let (code, _, err) = amtool(&tool, &d, None, &["silence", "query"]).await;
    assert_ne!(code, 0, "no credentials: {err}");
    let right = d.amtool_http_config(PASSWORD);
    session(&tool, &d, Some(&right)).await;
}

//! The docs name only what exists.
//!
//! Every metric named in README's metric table, in the Prometheus rules and rule tests
//! (`deploy/prometheus/`) and in the Grafana dashboards (`deploy/grafana/`) is one the
//! daemon exposes (read from a scrape rendered in-process) or a recording rule's output.
//! Every alert named in README's alert table or in the rule tests is one the monitor
//! raises (`AlertName::ALL`); every alerting rule is one of those, except in the rule file
//! of alerts only Prometheus can raise ([`PROMETHEUS_ONLY_ALERTS`]), where the rule is the
//! alert's definition. The unit checks at the end show that a doc naming something that
//! does not exist is caught.
//!
//! Self-contained on purpose: it reads the files as text (no YAML parser, no test helper
//! module), so it keeps working whatever the other tests are built from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use inventory_monitor::metrics::{scrape_body, MonitorMetrics, ProfileMetrics};
use inventory_monitor::rules::AlertName;
use inventory_monitor::shard::Shard;
use inventory_monitor::snapshot::{ListOutcome, Snapshot};

/// The rule file of the alerts only Prometheus can raise (the monitor cannot alert on its
/// own absence): its alerts are defined by the file itself, not by `AlertName`.
const PROMETHEUS_ONLY_ALERTS: &str = "monitor-alerts.yml";

/// The substring that marks a metric name of ours (`inventory_monitor_*`,
/// `inventory_profile_*`, and recording rules built on them).
const OURS: &str = "inventory_";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files under `dir` (recursively) with extension `ext`, sorted.
fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let listing = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = Vec::new();
    for path in listing.map(|entry| entry.unwrap_or_else(|e| panic!("{e}")).path()) {
        if path.is_dir() {
            out.extend(files_under(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every metric family a scrape of the daemon holds: the self-metrics (each labelled
/// family given one series, since empty ones are not exposed) and the per-profile families
/// (present, with HELP and TYPE, even for an empty snapshot).
fn exposed_metrics() -> BTreeSet<String> {
    let monitor = MonitorMetrics::new(Shard::default());
    monitor
        .upstream_requests
        .with_label_values(&["list", "200"])
        .inc();
    monitor
        .upstream_invalid_bodies
        .with_label_values(&["list"])
        .inc();
    // What the notifier does for each receiver at start: its series exist at 0.
    for outcome in ["delivered", "failed", "dropped"] {
        monitor.notifications.with_label_values(&["ops", outcome]);
    }
    // ... and for a receiver with a template, its failures.
    monitor.template_failures.with_label_values(&["ops"]);
    let snapshot = Snapshot {
        started_at: SystemTime::UNIX_EPOCH,
        duration: Duration::ZERO,
        list: ListOutcome::Complete,
        listed: Some(0),
        profiles: Vec::new(),
        gone: Vec::new(),
        shard: Shard::default(),
    };
    let rendered = ProfileMetrics::new().render(&snapshot, Vec::new());
    let body = scrape_body(&monitor, &rendered, false);
    let text = std::str::from_utf8(&body).expect("the exposition format is UTF-8");
    families(text)
}

/// The family names of an exposition text: its `# TYPE` lines.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The first cells of the rows of every Markdown table whose header's first cell is
/// `header` (`| metric | ... |`).
fn first_column(markdown: &str, header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_table = false;
    for line in markdown.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let first = line
            .trim_start_matches('|')
            .split(" | ")
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches('|')
            .trim();
        if first.chars().all(|c| matches!(c, '-' | ':')) {
            continue;
        }
        if first.eq_ignore_ascii_case(header) {
            in_table = true;
        } else if in_table {
            out.push(first.to_owned());
        }
    }
    out
}

/// The names in a table cell: the leading identifier of each backquoted span
/// (`` `inventory_profile_info{…, status}` `` names `inventory_profile_info`).
fn names_in_cell(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|span| {
            span.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':'))
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The metric names of ours in a rule file or dashboard: every identifier (PromQL's
/// `[a-zA-Z_:][a-zA-Z0-9_:]*`) holding [`OURS`], wherever it appears (queries, templates,
/// comments). A trailing `:` is punctuation; a trailing `_` makes a prefix
/// (`inventory_profile_*`), not a name.
fn metric_tokens(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map(|t| t.trim_end_matches(':'))
        .filter(|t| t.contains(OURS) && !t.ends_with('_'))
        .map(str::to_owned)
        .collect()
}

/// The names in the first column of the Markdown tables headed `header`.
fn table_names(markdown: &str, header: &str) -> Vec<String> {
    first_column(markdown, header)
        .iter()
        .flat_map(|cell| names_in_cell(cell))
        .collect()
}

/// The values of `key: value` lines of a YAML text (`record`, `alert`, `alertname`).
fn yaml_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start().trim_start_matches("- ");
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            let value = value.trim().trim_matches(['"', '\'']);
            (!value.is_empty()).then(|| value.to_owned())
        })
        .collect()
}

/// The names of `named` missing from `known`, each with where it was found.
fn unknown<'a>(
    named: impl IntoIterator<Item = (String, &'a str)>,
    known: &BTreeSet<String>,
) -> Vec<String> {
    named
        .into_iter()
        .filter(|(name, _)| !known.contains(name))
        .map(|(name, place)| format!("{name} (in {place})"))
        .collect()
}

fn rule_files() -> Vec<PathBuf> {
    files_under(&repo().join("deploy/prometheus"), "yml")
}

fn dashboards() -> Vec<PathBuf> {
    files_under(&repo().join("deploy/grafana"), "json")
}

/// Relative to the repository, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// What exists: the exposed metrics and every recording rule's output.
fn known_metrics() -> BTreeSet<String> {
    let mut known = exposed_metrics();
    for file in rule_files() {
        known.extend(yaml_values(&read(&file), "record"));
    }
    known
}

fn monitor_alerts() -> BTreeSet<String> {
    AlertName::ALL
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect()
}

#[test]
fn readme_tables_name_only_exposed_metrics_and_the_monitors_alerts() {
    let readme = read(&repo().join("README.md"));
    let tables = [
        ("metric", exposed_metrics(), 20),
        ("alertname", monitor_alerts(), AlertName::ALL.len()),
    ];
    for (header, known, at_least) in tables {
        let named = table_names(&readme, header);
        assert!(
            named.len() >= at_least,
            "the README's {header} table was not found or is short: {named:?}"
        );
        let missing = unknown(named.into_iter().map(|n| (n, "README.md")), &known);
        assert!(missing.is_empty(), "no such {header}: {missing:#?}");
    }
}

#[test]
fn prometheus_rules_and_dashboards_name_only_existing_metrics() {
    let known = known_metrics();
    let files: Vec<PathBuf> = rule_files().into_iter().chain(dashboards()).collect();
    assert!(files.len() >= 5, "deploy files not found: {files:?}");
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in &files {
        let place = shown(file);
        let tokens = metric_tokens(&read(file));
        seen += tokens.len();
        missing.extend(unknown(
            tokens.into_iter().map(|t| (t, place.as_str())),
            &known,
        ));
    }
    assert!(seen >= 20, "hardly any metric found in {files:?}");
    assert!(missing.is_empty(), "no such metric: {missing:#?}");
}

#[test]
fn alerting_rules_and_rule_tests_name_only_existing_alerts() {
    let monitor = monitor_alerts();
    let mut defined = monitor.clone();
    let mut missing = Vec::new();
    let mut rules = 0;
    for file in rule_files() {
        let place = shown(&file);
        let alerts = yaml_values(&read(&file), "alert");
        rules += alerts.len();
        if file
            .file_name()
            .is_some_and(|n| n == PROMETHEUS_ONLY_ALERTS)
        {
            assert!(!alerts.is_empty(), "{place} defines no alert");
            for alert in &alerts {
                assert!(
                    !monitor.contains(alert),
                    "{place}: {alert} is the monitor's own alert"
                );
            }
            defined.extend(alerts);
        } else {
            missing.extend(unknown(
                alerts.into_iter().map(|a| (a, place.as_str())),
                &monitor,
            ));
        }
    }
    assert!(rules >= AlertName::ALL.len(), "alerting rules not found");
    for file in rule_files() {
        let place = shown(&file);
        let expected = yaml_values(&read(&file), "alertname");
        missing.extend(unknown(
            expected.into_iter().map(|a| (a, place.as_str())),
            &defined,
        ));
    }
    assert!(missing.is_empty(), "no such alert: {missing:#?}");
}

/// The checks on crafted documents: each one that names something missing is caught.
mod crafted {
    use super::*;

    fn known(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_readme_table_naming_a_missing_metric_is_caught() {
        let readme = "## Metrics\n\n\
            | metric | type | value |\n\
            |---|---|---|\n\
            | `inventory_profile_up` | gauge | 1 |\n\
            | `inventory_profile_info{…, status}` | gauge | 1 |\n\
            | `inventory_monitor_a`, `inventory_monitor_b` | gauge | shard |\n\
            | `inventory_profile_uptime_seconds` | gauge | made up |\n\n\
            | command | what |\n|---|---|\n| `inventory_nothing` | not a metric table |\n";
        let named = table_names(readme, "metric");
        assert_eq!(
            named,
            [
                "inventory_profile_up",
                "inventory_profile_info",
                "inventory_monitor_a",
                "inventory_monitor_b",
                "inventory_profile_uptime_seconds"
            ]
        );
        let exposed = known(&[
            "inventory_profile_up",
            "inventory_profile_info",
            "inventory_monitor_a",
            "inventory_monitor_b",
        ]);
        assert_eq!(
            unknown(named.into_iter().map(|n| (n, "README.md")), &exposed),
            ["inventory_profile_uptime_seconds (in README.md)"]
        );
    }

    #[test]
    fn a_rule_or_dashboard_naming_a_missing_metric_is_caught() {
        let rules = "groups:\n  - name: g\n    rules:\n\
            # about inventory_profile_* series\n\
            - record: job:inventory_profile_up:ratio\n\
              expr: avg by (job) (inventory_profile_up)\n\
            - alert: ProfileUnreachable\n\
              expr: job:inventory_profile_up:ratio < 0.5 or inventory_profile_reachable == 0\n";
        let dashboard = r#"{"targets": [{"expr": "sum(inventory_monitor_sweeps_total{job=~\"inventory-monitor\"})"}]}"#;
        let mut exposed = known(&["inventory_profile_up", "inventory_monitor_sweeps_total"]);
        exposed.extend(yaml_values(rules, "record"));
        assert!(exposed.contains("job:inventory_profile_up:ratio"));
        let mut named: Vec<(String, &str)> = metric_tokens(rules)
            .into_iter()
            .map(|t| (t, "rules"))
            .collect();
        named.extend(
            metric_tokens(dashboard)
                .into_iter()
                .map(|t| (t, "dashboard")),
        );
        assert_eq!(
            unknown(named, &exposed),
            ["inventory_profile_reachable (in rules)"]
        );
        let bad_dashboard = dashboard.replace("sweeps_total", "sweep_total");
        assert_eq!(
            unknown(
                metric_tokens(&bad_dashboard)
                    .into_iter()
                    .map(|t| (t, "dashboard")),
                &exposed
            ),
            ["inventory_monitor_sweep_total (in dashboard)"]
        );
    }

    #[test]
    fn an_alert_the_monitor_does_not_raise_is_caught() {
        let rules = "- alert: ProfileSyncStale\n  expr: x\n- alert: 'ProfileOnFire'\n";
        let alerts = yaml_values(rules, "alert");
        assert_eq!(alerts, ["ProfileSyncStale", "ProfileOnFire"]);
        assert_eq!(
            unknown(alerts.into_iter().map(|a| (a, "rules")), &monitor_alerts()),
            ["ProfileOnFire (in rules)"]
        );
        let readme = "| alertname | condition |\n|---|---|\n| `ProfileOnFire` | never |\n";
        let named = table_names(readme, "alertname");
        assert_eq!(
            unknown(
                named.into_iter().map(|a| (a, "README.md")),
                &monitor_alerts()
            ),
            ["ProfileOnFire (in README.md)"]
        );
    }

    #[test]
    fn the_exposed_metrics_are_read_from_a_real_scrape() {
        let exposed = exposed_metrics();
        for name in [
            "inventory_profile_info",
            "inventory_profile_alert_firing",
            "inventory_monitor_up",
            "inventory_monitor_upstream_requests_total",
            "inventory_monitor_notifications_total",
        ] {
            assert!(exposed.contains(name), "{name}: {exposed:?}");
        }
        assert!(!exposed.contains("inventory_profile_uptime_seconds"));
    }
}

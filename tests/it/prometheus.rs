//! Prometheus itself as the judge of what we export and ship: `promtool check metrics` lints
//! a sweep of the whole simulated fleet mix, `promtool` checks and unit-tests the rules in
//! `deploy/prometheus/`, and a real `prometheus` scrapes a running monitor, finds every
//! metric of the README's Metrics table, records every recording rule, and fires the same alerts as the
//! monitor itself.
//!
//! The programs come from Debian's `prometheus` package; without them these tests are
//! skipped with a printed reason, except under `CI=true`, where they fail.

use crate::common;
use crate::observability;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use inventory_monitor::simulator::SimOptions;
use inventory_monitor_testkit::exposition::samples_named;
use observability::{
    repo, rule_files, sample_label, shipped_rules, tool, Stack, DOCUMENTED_METRICS, EXTRA_METRICS,
};
use tokio::io::AsyncWriteExt;

async fn promtool(args: &[&str], stdin: Option<&[u8]>) -> Option<(Option<i32>, String)> {
    let promtool = tool("promtool")?;
    let mut child = tokio::process::Command::new(promtool)
        .args(args)
        .current_dir(repo())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start promtool");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input).await.expect("write to promtool");
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("promtool finishes within 30s")
        .expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code(), text))
}

#[tokio::test]
async fn promtool_finds_nothing_to_lint_in_a_sweep_of_the_whole_fleet_mix() {
    if tool("promtool").is_none() {
        return;
    }
    // The default seeded fleet: legacy revision, unknown enums, null health, missing
    // fields, inactive and unknown statuses, hostile names.
    let sim = start_sim(SimOptions {
        profiles: 300,
        ..SimOptions::default()
    })
    .await;
    let mut running = start_daemon(test_config(&sim.base_url), "demo-token").await;
    running.daemon.sweep_once().await;
    running.daemon.sweep_once().await;
    let (text, families) = scrape(running.addr).await;

    // The sweep did cover the mix this lint is about.
    let states = label_values(&families, "inventory_profile_health_state", "state");
    for state in ["healthy", "unhealthy", "flaky", "rotating", "expired"] {
        assert!(
            states.iter().any(|s| s == state),
            "no {state:?} in {states:?}"
        );
    }
    assert!(!samples_named(&families, "inventory_profile_alert_firing").is_empty());
    assert!(text.contains("\\\""), "no escaped quote in a label");
    assert!(text.contains("\\n"), "no escaped newline in a label");
    assert!(text.contains("profile_type=\"database\""));

    let Some((code, output)) = promtool(&["check", "metrics"], Some(text.as_bytes())).await else {
        return;
    };
    // Clean: no remark at all, and exit 0 (promtool exits 3 on lint findings).
    assert_eq!(
        (code, output.trim()),
        (Some(0), ""),
        "promtool check metrics complained"
    );
}

/// Alertnames of the shipped rules, and whether the unit tests see each firing and not.
fn alert_coverage() -> (BTreeSet<String>, BTreeMap<String, (bool, bool)>) {
    let mut alerts = BTreeSet::new();
    for rule in shipped_rules() {
        if let Some(name) = rule["alert"].as_str() {
            alerts.insert(name.to_string());
        }
    }
    let mut seen: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for file in observability::files_under(
        &repo().join("deploy/prometheus/tests"),
        &["_test.yml", "_test.yaml"],
    ) {
        let text = std::fs::read_to_string(&file).expect("read rule tests");
        let doc: serde_norway::Value = serde_norway::from_str(&text).expect("rule tests are YAML");
        for test in doc["tests"].as_sequence().expect("tests") {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"].as_str().expect("alertname").to_string();
                let firing = case["exp_alerts"]
                    .as_sequence()
                    .is_some_and(|a| !a.is_empty());
                let entry = seen.entry(name).or_default();
                if firing {
                    entry.0 = true;
                } else {
                    entry.1 = true;
                }
            }
        }
    }
    (alerts, seen)
}

#[tokio::test]
async fn rules_pass_promtool_checks_and_unit_tests_covering_every_alert() {
    let files: Vec<String> = rule_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(files.len() >= 3, "rule files: {files:?}");

    // Every alertname of the monitor has a Prometheus twin, and every alert is unit-tested
    // both firing and not firing.
    let (alerts, seen) = alert_coverage();
    for name in inventory_monitor::config::ALERTNAMES {
        assert!(alerts.contains(name), "no Prometheus rule for {name}");
    }
    for name in &alerts {
        assert_eq!(
            seen.get(name),
            Some(&(true, true)),
            "{name} must be unit-tested firing and not firing (seen: firing, not firing)"
        );
    }

    let mut check = vec!["check", "rules"];
    check.extend(files.iter().map(String::as_str));
    let Some((code, output)) = promtool(&check, None).await else {
        return;
    };
    assert_eq!(code, Some(0), "promtool check rules:\n{output}");

    let tests = observability::files_under(
        &repo().join("deploy/prometheus/tests"),
        &["_test.yml", "_test.yaml"],
    );
    assert!(!tests.is_empty());
    for test in tests {
        let path = test.to_string_lossy().into_owned();
        let Some((code, output)) = promtool(&["test", "rules", &path], None).await else {
            return;
        };
        assert_eq!(code, Some(0), "promtool test rules {path}:\n{output}");
        assert!(output.contains("SUCCESS"), "{output}");
    }

    // The shipped prometheus.yml is valid and finds the rule files it names.
    let Some((code, output)) = promtool(
        &["check", "config", "deploy/prometheus/prometheus.yml"],
        None,
    )
    .await
    else {
        return;
    };
    assert_eq!(code, Some(0), "promtool check config:\n{output}");
}

/// Profile ids firing `alertname` according to Prometheus' rules and to the monitor.
async fn firing_both_ways(
    stack: &Stack,
    alertname: &str,
) -> Result<(BTreeSet<String>, BTreeSet<String>), String> {
    let ids = |samples: Vec<serde_json::Value>| -> BTreeSet<String> {
        samples
            .iter()
            .filter_map(|s| sample_label(s, "profile_id").map(str::to_string))
            .collect()
    };
    let prometheus = stack
        .vector(&format!(
            "ALERTS{{alertname=\"{alertname}\", alertstate=\"firing\"}}"
        ))
        .await?;
    let monitor = stack
        .vector(&format!(
            "inventory_profile_alert_firing{{alertname=\"{alertname}\"}}"
        ))
        .await?;
    Ok((ids(prometheus), ids(monitor)))
}

#[tokio::test]
async fn real_prometheus_scrapes_every_metric_and_alerts_like_the_monitor() {
    let Some(stack) = Stack::start().await else {
        return;
    };

    let target = stack
        .vector("up{job=\"inventory-monitor\"}")
        .await
        .expect("query up");
    assert_eq!(target.len(), 1, "{target:?}");
    assert_eq!(observability::sample_value(&target[0]), 1.0);

    // Every metric of the README's Metrics table (and the documented extras) has series in Prometheus.
    let mut missing = Vec::new();
    for name in DOCUMENTED_METRICS.iter().chain(EXTRA_METRICS) {
        match stack.vector(name).await {
            Ok(samples) if !samples.is_empty() => {}
            Ok(_) => missing.push(format!("{name}: no series")),
            Err(e) => missing.push(format!("{name}: {e}")),
        }
    }
    assert!(
        missing.is_empty(),
        "{}\n--- monitor log:\n{}",
        missing.join("\n"),
        stack.monitor_log()
    );

    // Label values survive the trip: hostile names, unknown enum values, both receivers.
    let profiles = stack
        .vector("count(inventory_profile_info)")
        .await
        .expect("count profiles");
    assert_eq!(
        profiles.first().map(observability::sample_value),
        Some(300.0)
    );
    let names = stack
        .label_values("profile_name", "inventory_profile_info")
        .await
        .expect("profile names");
    // Every name, hostile ones included (quotes, backslashes, newlines, emoji), arrives
    // exactly as the API sent it; the one of 300 characters is cut to `api.max_label_length`.
    let sent: BTreeSet<String> = stack
        .sim
        .sim
        .profile_ids()
        .into_iter()
        .filter_map(|id| stack.sim.sim.profile_json(id))
        .filter_map(|p| {
            p["name"].as_str().map(|n| {
                inventory_monitor::metrics::truncate_label_value(
                    n,
                    inventory_monitor::metrics::DEFAULT_MAX_LABEL_LENGTH,
                )
                .into_owned()
            })
        })
        .collect();
    let names: BTreeSet<String> = names.into_iter().collect();
    assert_eq!(names, sent);
    assert!(names.iter().any(|n| n.contains('"')) && names.iter().any(|n| n.contains('\n')));
    let receivers = stack
        .label_values("receiver", "inventory_monitor_notifications_total")
        .await
        .expect("receivers");
    assert_eq!(receivers, ["accepting-webhook", "rejecting-webhook"]);
    // The fleet's alerts reached both receivers: one took them, the other answered 400.
    for (receiver, outcome) in [
        ("accepting-webhook", "delivered"),
        ("rejecting-webhook", "failed"),
    ] {
        let expr = format!(
            "inventory_monitor_notifications_total{{receiver=\"{receiver}\", outcome=\"{outcome}\"}}"
        );
        assert!(
            stack.wait_query_value(&expr, 1.0).await,
            "no {outcome} notification for {receiver}\n--- monitor log:\n{}",
            stack.monitor_log()
        );
    }

    // The running binary's own scrape, with every family present and alerts firing, is
    // clean for `promtool check metrics`: no remark, exit 0.
    let text = stack
        .http
        .get(format!("http://{}/metrics", stack.monitor_addr))
        .send()
        .await
        .expect("scrape the monitor")
        .text()
        .await
        .expect("scrape body");
    let families = inventory_monitor_testkit::exposition::parse(&text).expect("exposition");
    for name in DOCUMENTED_METRICS.iter().chain(EXTRA_METRICS) {
        assert!(
            families.iter().any(|f| f.name == *name),
            "{name} not scraped"
        );
    }
    assert!(samples_named(&families, "inventory_profile_alert_firing")
        .iter()
        .any(|s| s.value == 1.0));
    let (code, output) = promtool(&["check", "metrics"], Some(text.as_bytes()))
        .await
        .expect("promtool ran before");
    assert_eq!(
        (code, output.trim()),
        (Some(0), ""),
        "promtool check metrics on the binary's scrape"
    );

    // Every recording rule produces series on this fleet.
    let mut empty = Vec::new();
    for rule in shipped_rules() {
        if let Some(record) = rule["record"].as_str() {
            let ok = stack.wait_query_value(record, f64::NEG_INFINITY).await;
            if !ok {
                empty.push(record.to_string());
            }
        }
    }
    assert!(empty.is_empty(), "recording rules without data: {empty:?}");

    // Prometheus' rules fire on exactly the profiles the monitor fires on. Transient
    // differences (a scrape between a sweep and a rule evaluation) are waited out.
    for alertname in [
        "ProfileConnectivityDegraded",
        "ProfileAuthenticationFailing",
        "ProfileSyncStale",
        "ProfileSyncFailing",
        "ProfileErrorsHigh",
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let found = firing_both_ways(&stack, alertname).await;
            if matches!(&found, Ok((p, m)) if p == m && !p.is_empty()) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{alertname}: Prometheus and the monitor disagree (prometheus, monitor): {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // The fleet is up: neither the API-down alert nor the monitor's own fire.
    for alertname in [
        "InventoryApiDown",
        "InventoryMonitorDown",
        "InventoryMonitorSweepsStale",
    ] {
        let firing = stack
            .vector(&format!(
                "ALERTS{{alertname=\"{alertname}\", alertstate=\"firing\"}}"
            ))
            .await
            .expect("query ALERTS");
        assert!(firing.is_empty(), "{alertname} fires: {firing:?}");
    }
}

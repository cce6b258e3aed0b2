//! The Grafana dashboard `deploy/grafana/inventory-monitor.json` and its provisioning files:
//! the JSON is a well-formed dashboard whose every panel uses the templated Prometheus
//! datasource, and every query it holds (panel targets and template variables), with the
//! template variables substituted as Grafana would, parses and returns data from a real
//! Prometheus scraping a real monitor (see `observability`).
//!
//! No Grafana runs here (Debian does not package it): the queries are what can go wrong
//! silently (a typo in a metric or label name shows as an empty panel), so they are what is
//! run for real.

use crate::observability;

use std::collections::{BTreeMap, BTreeSet};

use observability::{repo, sample_label, Stack};
use serde_json::Value;

fn dashboard() -> Value {
    let path = repo().join("deploy/grafana/inventory-monitor.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        out.push(panel.clone());
        for nested in panel["panels"].as_array().into_iter().flatten() {
            out.push(nested.clone());
        }
    }
    out
}

/// `(panel title, refId, expr)` of every panel target.
fn targets(dashboard: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: a target without expr"));
            out.push((
                title.clone(),
                target["refId"].as_str().unwrap_or("?").to_string(),
                expr.to_string(),
            ));
        }
    }
    out
}

/// The query of a template variable (a string, or the object newer Grafanas write).
fn variable_query(variable: &Value) -> Option<String> {
    match &variable["query"] {
        Value::String(q) => Some(q.clone()),
        Value::Object(o) => o.get("query").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// `label_values(selector, label)` → `(selector, label)`.
fn parse_label_values(query: &str) -> Option<(String, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim().to_string(), label.trim().to_string()))
}

/// Regex-escapes a label value as Grafana's `${var:regex}` format does.
fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Substitutes template variables and Grafana's built-in intervals in `expr`.
fn substitute(expr: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = expr.to_string();
    // Longest forms first, so `$organization` does not eat a `${organization:regex}`.
    for (name, value) in values {
        for form in [
            format!("${{{name}:regex}}"),
            format!("${{{name}}}"),
            format!("${name}"),
        ] {
            out = out.replace(&form, value);
        }
    }
    for (builtin, value) in [
        ("$__rate_interval", "1m"),
        ("$__interval", "15s"),
        ("$__range", "5m"),
    ] {
        out = out.replace(builtin, value);
    }
    assert!(
        !out.contains('$'),
        "a template variable is left unsubstituted in: {out}"
    );
    out
}

#[test]
fn dashboard_is_a_well_formed_templated_prometheus_dashboard() {
    let d = dashboard();
    assert_eq!(d["uid"], "inventory-monitor");
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");

    // Variables: the datasource, then label_values queries through it.
    let variables = d["templating"]["list"].as_array().expect("templating");
    let by_name: BTreeMap<&str, &Value> = variables
        .iter()
        .map(|v| (v["name"].as_str().expect("variable name"), v))
        .collect();
    let ds = by_name
        .get("DS_PROMETHEUS")
        .expect("a DS_PROMETHEUS variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    for name in ["organization", "profile_name"] {
        let v = by_name
            .get(name)
            .unwrap_or_else(|| panic!("no {name} variable"));
        assert_eq!(v["type"], "query");
        assert_eq!(v["datasource"]["uid"], "${DS_PROMETHEUS}", "{name}");
        let query = variable_query(v).expect("query");
        let (_, label) = parse_label_values(&query).expect("a label_values query");
        assert_eq!(label, name);
    }

    // Panels: unique ids, on the 24-column grid without overlaps, every query panel on
    // the templated datasource with unique refIds.
    let all = panels(&d);
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in &all {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(ids.insert(panel["id"].as_u64().expect("id")), "{title}: id");
        let g = &panel["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().expect("x"),
            g["y"].as_u64().expect("y"),
            g["w"].as_u64().expect("w"),
            g["h"].as_u64().expect("h"),
        );
        assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {g}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(cells.insert((cx, cy)), "{title} overlaps another panel");
            }
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().expect("refId"))
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: duplicate refId");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        }
    }
    // Every metric of the README's Metrics table is on the dashboard somewhere.
    let exprs: Vec<String> = targets(&d).into_iter().map(|(_, _, e)| e).collect();
    for metric in observability::DOCUMENTED_METRICS {
        assert!(
            exprs.iter().any(|e| e.contains(metric)),
            "{metric} is on no panel"
        );
    }
    // The drill-down row is about the chosen profile.
    assert!(all.iter().any(|p| p["type"] == "row"
        && p["title"]
            .as_str()
            .is_some_and(|t| t.contains("$profile_name"))));
}

#[test]
fn provisioning_files_point_at_the_dashboard_and_a_prometheus() {
    let read = |path: &str| -> serde_norway::Value {
        let text = std::fs::read_to_string(repo().join(path)).expect(path);
        serde_norway::from_str(&text).expect(path)
    };
    let datasources = read("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(datasources["apiVersion"], serde_norway::Value::from(1));
    let ds = &datasources["datasources"][0];
    assert_eq!(ds["type"], serde_norway::Value::from("prometheus"));
    assert_eq!(ds["isDefault"], serde_norway::Value::from(true));

    let dashboards = read("deploy/grafana/provisioning/dashboards/inventory-monitor.yml");
    let provider = &dashboards["providers"][0];
    assert_eq!(provider["type"], serde_norway::Value::from("file"));
    let path = provider["options"]["path"].as_str().expect("provider path");

    // docker-compose mounts the dashboard where the provider looks, and the provisioning
    // folder where Grafana reads it.
    let compose = read("deploy/docker-compose.yml");
    let volumes: Vec<&str> = compose["services"]["grafana"]["volumes"]
        .as_sequence()
        .expect("grafana volumes")
        .iter()
        .filter_map(serde_norway::Value::as_str)
        .collect();
    assert!(
        volumes
            .iter()
            .any(|v| v.starts_with("./grafana/inventory-monitor.json:")
                && v.contains(&format!(":{path}/"))),
        "{volumes:?} do not put the dashboard under {path}"
    );
    assert!(
        volumes
            .iter()
            .any(|v| v.starts_with("./grafana/provisioning:/etc/grafana/provisioning")),
        "{volumes:?}"
    );
}

/// A profile to drill down into: one with every per-profile series, an alert firing, and a
/// plain name (no character that would need escaping in a PromQL string).
async fn drill_down_profile(stack: &Stack) -> (String, String) {
    let expr = "inventory_profile_alert_firing \
        and on (profile_id) inventory_profile_connectivity_healthy \
        and on (profile_id) inventory_profile_authentication_valid \
        and on (profile_id) inventory_profile_errors_24h \
        and on (profile_id) inventory_profile_last_sync_timestamp_seconds \
        and on (profile_id) inventory_profile_last_sync_success \
        and on (profile_id) inventory_profile_sync_records \
        and on (profile_id) inventory_profile_active \
        and on (profile_id) inventory_profile_health_state";
    let samples = stack
        .vector(expr)
        .await
        .expect("query a drill-down profile");
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for s in &samples {
        if let (Some(name), Some(org)) = (
            sample_label(s, "profile_name"),
            sample_label(s, "organization"),
        ) {
            names.insert(name.to_string(), org.to_string());
        }
    }
    names
        .into_iter()
        .find(|(name, _)| {
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || " -—".contains(c))
        })
        .expect("a profile with every series, an alert firing and a plain name")
}

#[tokio::test]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let d = dashboard();

    // The template variables' own queries, as Grafana runs label_values.
    let all = BTreeMap::from([
        ("job", ".*".to_string()),
        ("organization", ".*".to_string()),
    ]);
    for variable in d["templating"]["list"].as_array().expect("templating") {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().expect("name");
        let query = variable_query(variable).expect("query");
        let (selector, label) =
            parse_label_values(&query).unwrap_or_else(|| panic!("{name}: {query}"));
        let values = stack
            .label_values(&label, &substitute(&selector, &all))
            .await
            .unwrap_or_else(|e| panic!("variable {name}: {query}: {e}"));
        assert!(!values.is_empty(), "variable {name} has no values: {query}");
    }

    let (profile, organization) = drill_down_profile(&stack).await;
    // Every panel, first for every job and organization, then for the drill-down profile's
    // own organization (regex-escaped as Grafana does for multi-value variables).
    let mut failures = Vec::new();
    for org in [".*".to_string(), regex_escape(&organization)] {
        let values = BTreeMap::from([
            ("job", ".*".to_string()),
            ("organization", org.clone()),
            ("profile_name", regex_escape(&profile)),
        ]);
        for (title, ref_id, expr) in targets(&d) {
            let query = substitute(&expr, &values);
            match stack.vector(&query).await {
                Ok(samples) if samples.is_empty() => failures.push(format!(
                    "{title} [{ref_id}] (organization {org:?}): no data: {query}"
                )),
                Ok(_) => {}
                Err(e) => failures.push(format!(
                    "{title} [{ref_id}] (organization {org:?}): {e}: {query}"
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} dashboard queries failed:\n{}\n--- monitor log:\n{}",
        failures.len(),
        failures.join("\n"),
        stack.monitor_log()
    );
}

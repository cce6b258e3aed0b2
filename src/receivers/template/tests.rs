use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::*;
use crate::config::{template::sample_contexts, Secret};
use crate::rules::{Alert, AlertKey};
use crate::vocabulary::AlertName;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn alert(id: u64, state: AlertState) -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
        severity: "critical".into(),
        profile_name: format!("Profile {id}").into(),
        organization: "North".into(),
        summary: format!("Connectivity of \"Profile {id}\" (North) is unhealthy").into(),
        description: "health_status.connectivity is \"unhealthy\"".into(),
        state,
        active_since: t0(),
        firing_since: Some(t0()),
        resolved_at: (state == AlertState::Resolved).then(|| t0() + Duration::from_secs(60)),
        suppressed_by: Vec::new(),
        runbook_url: format!("https://wiki.example.com/runbooks/x?profile={id}"),
    }
}

fn notification(alerts: Vec<Alert>) -> Notification {
    Notification {
        id: 3,
        receiver: "ops-chat".into(),
        kind: NotificationKind::Alerts,
        alerts: alerts.into_iter().map(Into::into).collect(),
        created_at: t0(),
    }
}

fn with_ctx<T>(f: impl FnOnce(&RenderContext<'_>) -> T) -> T {
    counting(None, f)
}

/// [`with_ctx`], the template's failures counted by `failures`.
fn counting<T>(
    failures: Option<&prometheus::IntCounter>,
    f: impl FnOnce(&RenderContext<'_>) -> T,
) -> T {
    let url = Secret::new("https://hooks.example.test/secret-part");
    let headers = BTreeMap::new();
    f(&RenderContext {
        receiver: "ops-chat",
        url: &url,
        secret: None,
        headers: &headers,
        external_url: "https://monitor.example.com/",
        now: t0() + Duration::from_secs(120),
        alertmanager_ttl: Duration::from_secs(300),
        template: None,
        template_failures: failures,
    })
}

/// The shape of a JSON value: its keys, recursively, with arrays as their first item.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "labels" | "annotations" | "common_labels"))
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        _ => Value::Null,
    }
}

#[test]
fn the_samples_that_check_renders_have_the_shape_of_the_real_variables() {
    let n = notification(vec![
        alert(1, AlertState::Firing),
        alert(2, AlertState::Resolved),
    ]);
    let real = with_ctx(|ctx| variables(&n, ctx));
    let sample = &sample_contexts()[0];
    assert_eq!(shape(&real), shape(sample));
}

#[test]
fn the_variables_hold_counts_links_and_times() {
    let mut alerts: Vec<Alert> = (0..25).map(|i| alert(i, AlertState::Firing)).collect();
    alerts.push(alert(99, AlertState::Resolved));
    let n = notification(alerts);
    let v = with_ctx(|ctx| variables(&n, ctx));
    assert_eq!(v["status"], "firing");
    assert_eq!(v["kind"], "alerts");
    assert_eq!(v["counts"]["firing"], 25);
    assert_eq!(v["counts"]["resolved"], 1);
    assert_eq!(v["counts"]["total"], 26);
    assert_eq!(v["counts"]["truncated"], 6);
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(20));
    let first = &v["alerts"][0];
    assert_eq!(first["labels"]["alertname"], "ProfileConnectivityDegraded");
    assert_eq!(
        first["annotations"]["runbook_url"],
        "https://wiki.example.com/runbooks/x?profile=0"
    );
    assert_eq!(first["page_url"], "https://monitor.example.com/profiles/0");
    assert_eq!(first["starts_at"], "2026-01-01T00:00:00Z");
    assert_eq!(first["ends_at"], "");
    assert_eq!(v["common_labels"]["organization"], "North");
}

#[test]
fn a_template_failing_at_run_time_falls_back_to_the_built_in_message() {
    let n = notification(vec![alert(1, AlertState::Firing)]);
    // Passes `check` (the samples have two alerts at most), fails on this one.
    let source = "{{ alerts[0].labels.alertname }}{{ alerts[3].labels.alertname }}";
    let failures = prometheus::IntCounter::new("failures", "help").expect("counter");
    assert_eq!(
        counting(Some(&failures), |ctx| render(source, &n, ctx)),
        None
    );
    assert_eq!(failures.get(), 1, "a failure is counted");
    assert_eq!(
        counting(Some(&failures), |ctx| render("  \n", &n, ctx)),
        None
    );
    assert_eq!(failures.get(), 2, "no text is counted");
    assert_eq!(
        counting(Some(&failures), |ctx| render(
            "{{ counts.total }} {{ receiver }}",
            &n,
            ctx
        ))
        .as_deref(),
        Some("1 ops-chat")
    );
    assert_eq!(failures.get(), 2, "a message rendered is not");
}

fn slack(c: char) -> String {
    text::escape_slack(c.encode_utf8(&mut [0; 4]))
}

#[test]
fn a_cut_stays_on_char_boundaries_and_outside_escapes_and_says_so() {
    let out = fit(&"a&🔥".repeat(100), slack, Measure::Chars, 50);
    assert!(out.chars().count() <= 50, "{out}");
    assert!(out.ends_with(CUT), "{out}");
    // Every entity is whole: the text before the marker has no broken `&amp;`.
    let body = out.trim_end_matches(CUT);
    assert_eq!(
        body.matches('&').count(),
        body.matches("&amp;").count(),
        "{out}"
    );
    // Bytes of JSON: a quote counts two, a 4-byte char four.
    let out = fit(
        &"\"🔥".repeat(100),
        |c| c.to_string(),
        Measure::JsonBytes,
        100,
    );
    assert!(Measure::JsonBytes.of(&out) <= 100, "{out}");
    assert!(out.ends_with(CUT));
    // What fits is left alone.
    assert_eq!(fit("short\n", slack, Measure::Chars, 50), "short");
}

#[test]
fn links_are_kept_whole_and_unescaped() {
    let md = |c: char| text::escape_markdown(c.encode_utf8(&mut [0; 4]));
    let out = fit(
        "see https://wiki.example.com/run_books/a_b?x=1 *now*",
        md,
        Measure::Chars,
        500,
    );
    assert_eq!(
        out,
        "see https://wiki.example.com/run_books/a_b?x=1 \\*now\\*"
    );
    // A link that does not fit is dropped whole rather than cut into a wrong URL.
    let out = fit("ab https://wiki.example.com/x", md, Measure::Chars, 15);
    assert_eq!(out, format!("ab{CUT}"));
}

#[test]
fn pieces_break_at_line_ends_and_stop_at_the_most_pieces() {
    let text = "line one\nline two\nline three\n";
    let p = pieces(text, slack, Measure::Chars, 20, 5);
    assert_eq!(p, ["line one\nline two", "line three"]);
    let long = "0123456789\n".repeat(20);
    let p = pieces(&long, slack, Measure::Chars, 25, 3);
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|piece| piece.chars().count() <= 25), "{p:?}");
    assert!(p[2].ends_with(CUT), "{p:?}");
    assert_eq!(p[0], "0123456789\n0123456789");
}

#[test]
fn a_link_cannot_carry_a_mention_or_markup() {
    let out = fit(
        "https://a.example/x?a=1&b=2<!channel> https://b.example/@here",
        slack,
        Measure::Chars,
        500,
    );
    assert_eq!(
        out,
        "https://a.example/x?a=1&amp;b=2&lt;!channel&gt; https://b.example/@here"
    );
    let mattermost =
        |c: char| text::escape_markdown(c.encode_utf8(&mut [0; 4])).replace('@', "@\u{200b}");
    let out = fit("https://b.example/@here", mattermost, Measure::Chars, 500);
    assert_eq!(out, "https://b.example/@\u{200b}here");
}

#[test]
fn an_alert_about_no_profile_links_the_status_page() {
    let mut a = alert(1, AlertState::Firing);
    a.key = AlertKey::api_down();
    let n = notification(vec![a.clone()]);
    let facts = text::AlertView::new(&n, &a).facts(t0(), 100, "https://monitor.example.com/");
    assert!(
        facts.contains(&("Page", "https://monitor.example.com/".to_string())),
        "{facts:?}"
    );
    let facts = text::AlertView::new(&n, &a).facts(t0(), 100, "");
    assert!(
        !facts.iter().any(|(title, _)| *title == "Page"),
        "{facts:?}"
    );
}

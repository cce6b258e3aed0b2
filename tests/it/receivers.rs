//! The receiver formats as a chat user, a webhook consumer or an Alertmanager sees them.
//!
//! Each kind renders one fixed notification (two alerts firing, critical and warning, one
//! resolved; one profile with a hostile name, one alert carrying a last error) and is
//! compared with its golden file under `tests/golden/receivers/` as parsed JSON.
//! `UPDATE_GOLDEN=1 cargo test --test it receivers::` rewrites the golden files; review the
//! diff by eye against the service's documented shape before keeping it. Under `CI` the
//! rewrite is refused: the test fails instead.
//!
//! Every time is fixed (`UNIX_EPOCH + …`): renders are pure and depend on `ctx.now` only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use inventory_monitor::config::{ReceiverKind, Secret};
use inventory_monitor::receivers::{
    fingerprint, receiver_for, retry_after, HttpRequest, Notification, NotificationKind,
    RenderContext, Rendered,
};
use inventory_monitor::rules::{Alert, AlertKey, AlertName, AlertState};

const MIN: Duration = Duration::from_secs(60);
const URL: &str = "https://hooks.example.test/services/T000/B000/url-secret-part";
const AM_URL: &str = "http://alertmanager.example.test:9093/";
const SIGNING_SECRET: &str = "signing-s3cret";
const TEST_LINE: &str = "Test notification from inventory-monitor — no action needed";
pub(crate) const HOSTILE_NAME: &str =
    "Weird \"Name\"\nwith <!channel> @everyone <users/all> *bold* 🔥";

pub(crate) const CHAT_KINDS: [ReceiverKind; 5] = [
    ReceiverKind::Slack,
    ReceiverKind::Mattermost,
    ReceiverKind::Teams,
    ReceiverKind::Discord,
    ReceiverKind::GoogleChat,
];

const ALL_KINDS: [ReceiverKind; 8] = [
    ReceiverKind::Slack,
    ReceiverKind::Mattermost,
    ReceiverKind::Teams,
    ReceiverKind::Discord,
    ReceiverKind::GoogleChat,
    ReceiverKind::Webhook,
    ReceiverKind::Alertmanager,
    ReceiverKind::Log,
];

/// 2026-01-01T00:00:00Z.
fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// The moment of rendering: 65 minutes after `t0`.
pub(crate) fn now() -> SystemTime {
    t0() + 65 * MIN
}

pub(crate) fn firing_critical() -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, 42),
        severity: "critical".into(),
        profile_name: "Main DB".into(),
        organization: "Main Warehouse".into(),
        summary: "Connectivity of \"Main DB\" (Main Warehouse) is unhealthy".into(),
        description: "health_status.connectivity is \"unhealthy\" (expected \"healthy\"), \
                      first seen 2026-01-01T00:00:00Z. Errors in the last 24 hours: 17. \
                      Last error: connection refused (10.0.0.5:5432)."
            .to_string()
            .into(),
        state: AlertState::Firing,
        active_since: t0(),
        firing_since: Some(t0()),
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

pub(crate) fn firing_warning_hostile() -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileSyncStale, 7),
        severity: "warning".into(),
        profile_name: HOSTILE_NAME.into(),
        organization: "Ops & <Co>".into(),
        summary: format!("Sync of \"{HOSTILE_NAME}\" (Ops & <Co>) is stale").into(),
        description: "The last sync, at 2025-12-31T20:00:00Z, is 4h 35m old; at most 2h 15m \
                      is allowed (2 × sync_frequency \"hourly\" + 15m). Stale since \
                      2026-01-01T00:30:00Z."
            .to_string()
            .into(),
        state: AlertState::Firing,
        active_since: t0() + 30 * MIN,
        firing_since: Some(t0() + 30 * MIN),
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

pub(crate) fn resolved() -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileAuthenticationFailing, 42),
        severity: "critical".into(),
        profile_name: "Main DB".into(),
        organization: "Main Warehouse".into(),
        summary: "Authentication of \"Main DB\" (Main Warehouse) is invalid".into(),
        description: "health_status.authentication is \"invalid\" (expected \"valid\"), first \
                      seen 2026-01-01T00:05:00Z.\nResolved at 2026-01-01T01:05:00Z: \
                      authentication is \"valid\" again."
            .to_string()
            .into(),
        state: AlertState::Resolved,
        active_since: t0() + 5 * MIN,
        firing_since: Some(t0() + 5 * MIN),
        resolved_at: Some(now()),
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

pub(crate) fn notification(kind: NotificationKind, alerts: Vec<Alert>) -> Notification {
    Notification {
        id: 7,
        receiver: "ops-chat".to_string(),
        kind,
        alerts: alerts.into_iter().map(Into::into).collect(),
        created_at: now(),
    }
}

/// The notification every golden file shows.
pub(crate) fn fixture() -> Notification {
    notification(
        NotificationKind::Alerts,
        vec![firing_critical(), firing_warning_hostile(), resolved()],
    )
}

/// `n` firing alerts on profiles `Profile-P00-end`, `Profile-P01-end`, …, each of
/// `name_len` chars at least and with `description_len` chars of description.
fn many(n: u64, name_len: usize, description_len: usize) -> Vec<Alert> {
    (0..n)
        .map(|i| {
            let mut a = firing_critical();
            a.key = AlertKey::profile(AlertName::ProfileConnectivityDegraded, 1_000 + i);
            let marker = format!("Profile-P{i:02}-end");
            let padding = "🔥x".repeat(name_len.saturating_sub(marker.len()) / 2);
            a.profile_name = format!("{marker}{padding}").into();
            a.summary = format!("Connectivity of \"{}\" is unhealthy", a.profile_name).into();
            a.description = "Last error: é🔥 ".repeat(description_len / 15 + 1).into();
            a
        })
        .collect()
}

/// Receiver settings for rendering.
pub(crate) struct Settings {
    url: Secret,
    secret: Option<Secret>,
    headers: BTreeMap<String, String>,
    external_url: String,
}

impl Settings {
    pub(crate) fn for_kind(kind: ReceiverKind) -> Self {
        let url = match kind {
            ReceiverKind::Alertmanager => AM_URL,
            _ => URL,
        };
        let (secret, headers) = match kind {
            ReceiverKind::Webhook => (
                Some(Secret::new(SIGNING_SECRET)),
                BTreeMap::from([("X-Team".to_string(), "inventory".to_string())]),
            ),
            _ => (None, BTreeMap::new()),
        };
        Self {
            url: Secret::new(url),
            secret,
            headers,
            external_url: "http://monitor.example.test:9857".to_string(),
        }
    }

    pub(crate) fn ctx(&self) -> RenderContext<'_> {
        RenderContext {
            receiver: "ops-chat",
            url: &self.url,
            secret: self.secret.as_ref(),
            headers: &self.headers,
            external_url: &self.external_url,
            now: now(),
            alertmanager_ttl: 5 * MIN,
            template: None,
            template_failures: None,
        }
    }
}

pub(crate) fn render(kind: ReceiverKind, n: &Notification) -> Rendered {
    let settings = Settings::for_kind(kind);
    let receiver = receiver_for(kind);
    assert_eq!(receiver.kind(), kind);
    receiver.render(n, &settings.ctx())
}

pub(crate) fn http(rendered: Rendered) -> HttpRequest {
    match rendered {
        Rendered::Http(request) => request,
        Rendered::Log(lines) => panic!("expected an HTTP request, got log lines {lines:?}"),
    }
}

pub(crate) fn body(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).expect("the body is JSON")
}

fn header<'r>(request: &'r HttpRequest, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Everything a person or a program could read in a render, as one string.
pub(crate) fn all_text(rendered: &Rendered) -> String {
    match rendered {
        Rendered::Http(request) => {
            // Through the parsed value, so JSON escapes (`\"`, `\n`) do not hide text.
            let mut out = String::new();
            collect_strings(&body(request), &mut out);
            out
        }
        Rendered::Log(lines) => lines.join("\n"),
    }
}

fn collect_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// A render as the golden files keep it: URL, headers and parsed body, or the log lines.
pub(crate) fn golden_view(rendered: &Rendered) -> Value {
    match rendered {
        Rendered::Http(request) => json!({
            "url": request.url.expose(),
            "headers": request.headers,
            "body": body(request),
        }),
        Rendered::Log(lines) => json!({ "log": lines }),
    }
}

/// The keys of JSON object `value`, sorted.
fn sorted_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Compares `actual` with `tests/golden/receivers/{name}.json`, or rewrites the file when
/// `UPDATE_GOLDEN=1` (refused when `CI` is set).
pub(crate) fn assert_golden(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/receivers")
        .join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(actual).expect("serialises") + "\n";
    if inventory_monitor_testkit::golden::update_golden() {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, pretty).expect("golden file written");
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `UPDATE_GOLDEN=1 cargo test --test it receivers::`",
            path.display()
        )
    });
    let expected: Value = serde_json::from_str(&stored).expect("golden file is JSON");
    if &expected != actual {
        assert_eq!(
            serde_json::to_string_pretty(&expected).expect("serialises"),
            pretty.trim_end(),
            "{name} differs from {}",
            path.display()
        );
    }
}

fn check_golden(kind: ReceiverKind) {
    let rendered = render(kind, &fixture());
    assert_golden(kind.as_str(), &golden_view(&rendered));
}

/// One test per kind, named after it, comparing its render with its golden file.
macro_rules! golden_tests {
    ($($name:ident => $kind:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_golden(ReceiverKind::$kind);
            }
        )*
    };
}

golden_tests! {
    slack_matches_its_golden_file => Slack,
    mattermost_matches_its_golden_file => Mattermost,
    teams_matches_its_golden_file => Teams,
    discord_matches_its_golden_file => Discord,
    google_chat_matches_its_golden_file => GoogleChat,
    webhook_matches_its_golden_file => Webhook,
    alertmanager_matches_its_golden_file => Alertmanager,
    log_matches_its_golden_file => Log,
}

#[test]
fn every_http_kind_posts_json() {
    for kind in ALL_KINDS {
        match render(kind, &fixture()) {
            Rendered::Http(request) => {
                assert_eq!(
                    header(&request, "content-type"),
                    Some("application/json"),
                    "{kind}"
                );
                body(&request);
            }
            Rendered::Log(_) => assert_eq!(kind, ReceiverKind::Log),
        }
    }
}

#[test]
fn chat_messages_say_what_is_wrong_where_since_when_and_what_recovered() {
    for kind in CHAT_KINDS {
        let text = all_text(&render(kind, &fixture()));
        for needle in [
            "[FIRING:2, RESOLVED:1] inventory-monitor",
            "ProfileConnectivityDegraded",
            "Main DB",
            "Main Warehouse",
            "critical",
            "warning",
            "2026-01-01T00:00:00Z (for 1h 5m)",
            "connection refused (10.0.0.5:5432)",
            "authentication is \"valid\" again",
        ] {
            assert!(
                text.contains(needle) || text.contains(&needle.replace('_', "\\_")),
                "{kind}: no {needle:?} in\n{text}"
            );
        }
    }
}

#[test]
fn hostile_names_neither_break_lines_nor_ping_anyone() {
    let n = fixture();
    let slack = all_text(&render(ReceiverKind::Slack, &n));
    assert!(!slack.contains("<!channel>"), "{slack}");
    assert!(slack.contains("&lt;!channel&gt;"), "{slack}");

    let discord = body(&http(render(ReceiverKind::Discord, &n)));
    assert_eq!(discord["allowed_mentions"], json!({ "parse": [] }));

    let google = all_text(&render(ReceiverKind::GoogleChat, &n));
    assert!(!google.contains("<users/all>"), "{google}");

    let mattermost = all_text(&render(ReceiverKind::Mattermost, &n));
    assert!(!mattermost.contains("@everyone"), "{mattermost}");

    // Headlines and fact lines are single lines whatever the name holds.
    let slack = body(&http(render(ReceiverKind::Slack, &n)));
    for attachment in slack["attachments"].as_array().expect("attachments") {
        let title = attachment["title"].as_str().expect("title");
        assert!(!title.contains('\n'), "{title:?}");
        for field in attachment["fields"].as_array().expect("fields") {
            let value = field["value"].as_str().expect("value");
            assert!(!value.contains('\n'), "{value:?}");
        }
    }
    let Rendered::Log(lines) = render(ReceiverKind::Log, &n) else {
        panic!("log renders lines")
    };
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| !l.contains('\n')), "{lines:?}");
    assert!(lines[1].contains("🔥"), "{}", lines[1]);
}

#[test]
fn chat_kinds_list_twenty_alerts_then_say_how_many_more() {
    let n = notification(NotificationKind::Alerts, many(25, 0, 100));
    for kind in CHAT_KINDS {
        let text = all_text(&render(kind, &n));
        let listed = (0..25)
            .filter(|i| text.contains(&format!("Profile-P{i:02}-end")))
            .count();
        assert_eq!(listed, 20, "{kind}");
        assert!(
            (0..20).all(|i| text.contains(&format!("Profile-P{i:02}-end"))),
            "{kind}: the first twenty are listed"
        );
        assert!(text.contains("…and 5 more"), "{kind}:\n{text}");
        assert!(
            text.contains("http://monitor.example.test:9857/?state=alerting"),
            "{kind}: the more line links to the status page's alerting profiles:\n{text}"
        );
    }
    let slack = body(&http(render(ReceiverKind::Slack, &n)));
    assert_eq!(slack["attachments"].as_array().map(Vec::len), Some(20));

    // Twenty or fewer: no "more" line.
    let n = notification(NotificationKind::Alerts, many(20, 0, 100));
    for kind in CHAT_KINDS {
        let text = all_text(&render(kind, &n));
        assert!(!text.contains("more"), "{kind}:\n{text}");
    }
}

#[test]
fn webhook_and_log_list_every_alert() {
    let n = notification(NotificationKind::Alerts, many(25, 0, 100));
    let payload = body(&http(render(ReceiverKind::Webhook, &n)));
    assert_eq!(payload["alerts"].as_array().map(Vec::len), Some(25));
    assert_eq!(payload["truncatedAlerts"], 0);
    let Rendered::Log(lines) = render(ReceiverKind::Log, &n) else {
        panic!("log renders lines")
    };
    assert_eq!(lines.len(), 25);
}

/// Characters as Discord counts them.
fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

#[test]
fn discord_stays_within_its_limits_with_300_huge_alerts() {
    let n = notification(NotificationKind::Alerts, many(300, 5_000, 20_000));
    let payload = body(&http(render(ReceiverKind::Discord, &n)));
    assert!(chars(&payload["content"]) <= 2_000);
    assert!(payload["content"]
        .as_str()
        .expect("content")
        .contains("…and 280 more"));
    let embeds = payload["embeds"].as_array().expect("embeds");
    assert!(!embeds.is_empty() && embeds.len() <= 10, "{}", embeds.len());
    let mut total = 0;
    let mut listed = 0;
    for embed in embeds {
        assert!(chars(&embed["title"]) <= 256);
        assert!(chars(&embed["description"]) <= 4_096);
        total += chars(&embed["title"]) + chars(&embed["description"]);
        let fields = embed["fields"].as_array().expect("fields");
        assert!(fields.len() <= 25);
        listed += fields.len();
        for field in fields {
            let (name, value) = (chars(&field["name"]), chars(&field["value"]));
            assert!((1..=256).contains(&name), "name of {name} chars");
            assert!((1..=1_024).contains(&value), "value of {value} chars");
            total += name + value;
        }
    }
    assert_eq!(listed, 20);
    assert!(total <= 6_000, "{total} chars in embeds");
    // The budget is used, not wasted: the values share it.
    assert!(total > 5_000, "{total} chars in embeds");
}

#[test]
fn teams_and_google_chat_stay_within_their_size_limits_with_huge_alerts() {
    let n = notification(NotificationKind::Alerts, many(300, 5_000, 20_000));
    let teams = http(render(ReceiverKind::Teams, &n));
    assert!(teams.body.len() <= 28_000, "{} bytes", teams.body.len());
    let google = body(&http(render(ReceiverKind::GoogleChat, &n)));
    let text = google["text"].as_str().expect("text");
    assert!(text.len() <= 32_000, "{} bytes", text.len());
    for text in [all_text(&Rendered::Http(teams)), text.to_string()] {
        assert!(text.contains("…and 280 more"));
    }
}

#[test]
fn webhook_signature_is_the_hmac_of_the_exact_body() {
    let request = http(render(ReceiverKind::Webhook, &fixture()));
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).expect("any key");
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header(&request, "X-Signature-256"), Some(expected.as_str()));
    assert_eq!(header(&request, "X-Team"), Some("inventory"));

    // Another body, another signature; no secret, no signature.
    let other = http(render(
        ReceiverKind::Webhook,
        &notification(NotificationKind::Alerts, vec![resolved()]),
    ));
    assert_ne!(header(&other, "X-Signature-256"), Some(expected.as_str()));
    let unsigned = Settings {
        secret: None,
        ..Settings::for_kind(ReceiverKind::Webhook)
    };
    let request = http(receiver_for(ReceiverKind::Webhook).render(&fixture(), &unsigned.ctx()));
    assert_eq!(header(&request, "X-Signature-256"), None);
}

#[test]
fn configured_headers_replace_defaults_but_never_the_signature() {
    let settings = Settings {
        headers: BTreeMap::from([
            (
                "content-type".to_string(),
                "application/vnd.custom+json".to_string(),
            ),
            ("x-signature-256".to_string(), "forged".to_string()),
        ]),
        ..Settings::for_kind(ReceiverKind::Webhook)
    };
    let request = http(receiver_for(ReceiverKind::Webhook).render(&fixture(), &settings.ctx()));
    let names: Vec<String> = request
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        header(&request, "content-type"),
        Some("application/vnd.custom+json")
    );
    assert!(header(&request, "x-signature-256").is_some_and(|s| s.starts_with("sha256=")));
}

#[test]
fn webhook_payload_is_alertmanager_version_4() {
    let payload = body(&http(render(ReceiverKind::Webhook, &fixture())));
    let keys: Vec<&str> = payload
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    ];
    want.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(payload["version"], "4");
    assert_eq!(payload["status"], "firing");
    assert_eq!(payload["receiver"], "ops-chat");
    assert_eq!(payload["externalURL"], "http://monitor.example.test:9857");
    assert_eq!(payload["commonLabels"], json!({}));

    let alerts = payload["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 3);
    for alert in alerts {
        let keys = sorted_keys(alert);
        assert_eq!(
            keys,
            [
                "annotations",
                "endsAt",
                "fingerprint",
                "generatorURL",
                "labels",
                "startsAt",
                "status"
            ]
        );
    }
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[0]["startsAt"], "2026-01-01T00:00:00Z");
    assert_eq!(alerts[0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alerts[0]["fingerprint"], fingerprint(&firing_critical()));
    assert_eq!(alerts[0]["labels"]["profile_id"], "42");
    assert_eq!(alerts[2]["status"], "resolved");
    assert_eq!(alerts[2]["endsAt"], "2026-01-01T01:05:00Z");

    // Only resolved alerts: the payload is resolved; common labels are common.
    let mut other = resolved();
    other.key = AlertKey::profile(AlertName::ProfileSyncFailing, 42);
    let payload = body(&http(render(
        ReceiverKind::Webhook,
        &notification(NotificationKind::Alerts, vec![resolved(), other]),
    )));
    assert_eq!(payload["status"], "resolved");
    assert_eq!(
        payload["commonLabels"],
        json!({
            "organization": "Main Warehouse",
            "profile_id": "42",
            "profile_name": "Main DB",
            "severity": "critical",
        })
    );
}

#[test]
fn webhook_lists_every_alert_it_is_given_and_truncates_none() {
    // Delivery splits a group larger than max_alerts into several payloads (storm.rs);
    // a render itself never drops an alert.
    let n = notification(NotificationKind::Alerts, many(1_003, 0, 10));
    let payload = body(&http(render(ReceiverKind::Webhook, &n)));
    assert_eq!(payload["alerts"].as_array().map(Vec::len), Some(1_003));
    assert_eq!(payload["truncatedAlerts"], 0);
}

#[test]
fn api_down_alert_carries_no_empty_labels() {
    let mut down = firing_critical();
    down.key = AlertKey::api_down();
    down.profile_name = "".into();
    down.organization = "".into();
    let n = notification(NotificationKind::Alerts, vec![down.clone()]);
    for kind in [ReceiverKind::Webhook, ReceiverKind::Alertmanager] {
        let payload = body(&http(render(kind, &n)));
        let alert = if kind == ReceiverKind::Webhook {
            &payload["alerts"][0]
        } else {
            &payload[0]
        };
        assert_eq!(
            alert["labels"],
            json!({ "alertname": "InventoryApiDown", "severity": "critical" }),
            "{kind}"
        );
    }
    assert_eq!(fingerprint(&down).len(), 16);
}

#[test]
fn fingerprint_is_stable_across_renames_and_differs_across_profiles() {
    let a = firing_critical();
    // FNV-1a 64 of "alertname\xffProfileConnectivityDegraded\xffprofile_id\xff42\xff",
    // Prometheus' label-set fingerprint.
    assert_eq!(fingerprint(&a), "55f539840cdc3d9d");

    let mut renamed = a.clone();
    renamed.profile_name = "Renamed".into();
    renamed.organization = "Elsewhere".into();
    renamed.severity = "warning".into();
    renamed.state = AlertState::Resolved;
    assert_eq!(fingerprint(&renamed), fingerprint(&a));

    let mut other_profile = a.clone();
    other_profile.key = AlertKey::profile(AlertName::ProfileConnectivityDegraded, 43);
    assert_ne!(fingerprint(&other_profile), fingerprint(&a));
    let mut other_alert = a.clone();
    other_alert.key = AlertKey::profile(AlertName::ProfileErrorsHigh, 42);
    assert_ne!(fingerprint(&other_alert), fingerprint(&a));

    let f = fingerprint(&a);
    assert!(f
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
}

#[test]
fn alertmanager_gets_postable_alerts_with_ends_at_from_the_ttl() {
    let request = http(render(ReceiverKind::Alertmanager, &fixture()));
    assert_eq!(
        request.url.expose(),
        "http://alertmanager.example.test:9093/api/v2/alerts"
    );
    let alerts = body(&request);
    let alerts = alerts.as_array().expect("an array");
    assert_eq!(alerts.len(), 3);
    for alert in alerts {
        let keys = sorted_keys(alert);
        assert_eq!(
            keys,
            [
                "annotations",
                "endsAt",
                "generatorURL",
                "labels",
                "startsAt"
            ]
        );
    }
    // Firing: now (01:05) + ttl (5m). Resolved: when it resolved.
    assert_eq!(alerts[0]["startsAt"], "2026-01-01T00:00:00Z");
    assert_eq!(alerts[0]["endsAt"], "2026-01-01T01:10:00Z");
    assert_eq!(alerts[2]["endsAt"], "2026-01-01T01:05:00Z");
    assert_eq!(
        alerts[0]["generatorURL"],
        "http://monitor.example.test:9857/api/v1/status"
    );
    assert_eq!(
        alerts[0]["annotations"]["description"],
        *firing_critical().description
    );
}

#[test]
fn a_test_notification_is_marked_as_a_test_in_every_kind() {
    let n = Notification::test(1, "ops-chat", now());
    assert_eq!(n.kind, NotificationKind::Test);
    for kind in ALL_KINDS {
        let rendered = render(kind, &n);
        let text = all_text(&rendered);
        assert!(text.contains(TEST_LINE), "{kind}:\n{text}");
        assert!(!text.contains("FIRING:"), "{kind}:\n{text}");
    }
    for kind in [ReceiverKind::Webhook, ReceiverKind::Alertmanager] {
        let text = all_text(&render(kind, &n));
        assert!(text.contains("InventoryMonitorTest"), "{kind}:\n{text}");
    }
}

#[test]
fn a_reminder_says_still_firing() {
    let n = notification(
        NotificationKind::Reminder,
        vec![firing_critical(), firing_warning_hostile()],
    );
    for kind in CHAT_KINDS.into_iter().chain([ReceiverKind::Log]) {
        let text = all_text(&render(kind, &n));
        assert!(text.contains("STILL FIRING"), "{kind}:\n{text}");
    }
    for kind in CHAT_KINDS {
        let text = all_text(&render(kind, &n));
        assert!(text.contains("still firing (reminder)"), "{kind}:\n{text}");
    }
}

#[test]
fn retry_after_reads_seconds_dates_and_discord_bodies() {
    let at = now();
    let headers = |v: &str| vec![("retry-after".to_string(), v.to_string())];
    let pairs = |h: &Vec<(String, String)>| {
        h.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };

    let h = headers("120");
    assert_eq!(
        retry_after(ReceiverKind::Slack, 429, pairs(&h), b"", at),
        Some(Duration::from_secs(120))
    );
    let date = httpdate::fmt_http_date(at + Duration::from_secs(90));
    let h = headers(&date);
    assert_eq!(
        retry_after(ReceiverKind::Webhook, 503, pairs(&h), b"", at),
        Some(Duration::from_secs(90))
    );
    let past = httpdate::fmt_http_date(at - Duration::from_secs(90));
    assert_eq!(
        retry_after(ReceiverKind::Webhook, 503, pairs(&headers(&past)), b"", at),
        Some(Duration::ZERO)
    );
    let discord =
        br#"{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}"#;
    assert_eq!(
        retry_after(
            ReceiverKind::Discord,
            429,
            pairs(&headers("2")),
            discord,
            at
        ),
        Some(Duration::from_millis(1_500))
    );
    // The body only counts for Discord; without a header there is nothing to go by.
    assert_eq!(
        retry_after(
            ReceiverKind::Slack,
            429,
            Vec::<(String, String)>::new(),
            discord,
            at
        ),
        None
    );
    // A reqwest header map works as it is.
    let mut map = reqwest::header::HeaderMap::new();
    map.insert(
        reqwest::header::RETRY_AFTER,
        reqwest::header::HeaderValue::from_static("3"),
    );
    assert_eq!(
        retry_after(ReceiverKind::Teams, 429, &map, b"", at),
        Some(Duration::from_secs(3))
    );
    assert_eq!(retry_after(ReceiverKind::Teams, 200, &map, b"", at), None);
}

#[test]
fn debug_of_a_request_never_shows_the_url_or_the_secret() {
    for kind in [
        ReceiverKind::Slack,
        ReceiverKind::Webhook,
        ReceiverKind::Alertmanager,
    ] {
        let request = http(render(kind, &fixture()));
        let debug = format!("{request:?}");
        for secret in [
            "url-secret-part",
            "hooks.example.test",
            "alertmanager.example",
            "sha256=",
            "inventory",
        ] {
            assert!(!debug.contains(secret), "{kind}: {debug}");
        }
        assert!(debug.contains("<redacted>"), "{debug}");
        let debug = format!("{:?}", Rendered::Http(request));
        assert!(!debug.contains("url-secret-part"), "{debug}");
    }
}

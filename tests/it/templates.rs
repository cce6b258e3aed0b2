//! Messages people shape: a rule's `runbook_url` as every format shows it, and a chat
//! receiver's `template` (README, Runbook links; README, Message templates).
//!
//! The renders reuse the receiver goldens' fixture (`receivers`), with a runbook link on
//! the critical alert; the goldens live under `tests/golden/receivers/templates/` and
//! `UPDATE_GOLDEN=1 cargo test --test it templates::` rewrites them. `check` and
//! `notify-test` run as the binary.

use std::time::Duration;

use serde_json::Value;

use inventory_monitor::config::ReceiverKind;
use inventory_monitor::receivers::{receiver_for, Notification, NotificationKind, Rendered};
use inventory_monitor_testkit::child::Launch;
use inventory_monitor_testkit::sink::Sink;

use crate::common::run_bin;
use crate::receivers::{
    all_text, assert_golden, body, firing_critical, firing_warning_hostile, golden_view, http,
    notification, resolved, Settings, CHAT_KINDS,
};

/// The runbook link of the fixture's critical alert: `_` and `?` that Markdown escaping or
/// a careless cut would break.
const RUNBOOK: &str = "https://wiki.example.com/run_books/ProfileConnectivityDegraded?profile=42";

/// The README's example template (README, Message templates).
const TEMPLATE: &str = "{{ title }}
{% for a in alerts -%}
{{ a.status | upper }} [{{ a.labels.severity }}] {{ a.annotations.summary }}
  since {{ a.starts_at }}{% if a.ends_at %}, resolved {{ a.ends_at }}{% endif %}
{%- if a.annotations.runbook_url %}
  Runbook: {{ a.annotations.runbook_url }}
{%- endif %}
{% endfor -%}
{% if counts.truncated %}…and {{ counts.truncated }} more: {{ external_url }}{% endif %}";

/// The goldens' notification, the critical alert carrying [`RUNBOOK`].
fn with_runbook() -> Notification {
    let mut critical = firing_critical();
    critical.runbook_url = RUNBOOK.to_string();
    notification(
        NotificationKind::Alerts,
        vec![critical, firing_warning_hostile(), resolved()],
    )
}

/// `n` rendered for `kind` through `template` (`None`: the built-in message).
fn render_with(kind: ReceiverKind, n: &Notification, template: Option<&str>) -> Rendered {
    let settings = Settings::for_kind(kind);
    let mut ctx = settings.ctx();
    ctx.template = template;
    receiver_for(kind).render(n, &ctx)
}

#[test]
fn every_chat_kind_renders_a_template_as_its_golden() {
    let n = with_runbook();
    for kind in CHAT_KINDS {
        let rendered = render_with(kind, &n, Some(TEMPLATE));
        assert_golden(&format!("templates/{kind}"), &golden_view(&rendered));
        let text = all_text(&rendered);
        assert!(text.contains(RUNBOOK), "{kind}: the link whole: {text}");
        assert!(
            text.contains("since 2026-01-01T00:00:00Z"),
            "{kind}: {text}"
        );
    }
}

#[test]
fn the_runbook_link_shows_in_every_chat_format_and_rides_in_the_payloads() {
    let n = with_runbook();
    for kind in CHAT_KINDS {
        let rendered = render_with(kind, &n, None);
        let text = all_text(&rendered);
        assert!(text.contains(RUNBOOK), "{kind}: {text}");
    }
    // The built-in Slack message, as the README shows it.
    let slack = render_with(ReceiverKind::Slack, &n, None);
    assert_golden("templates/slack-runbook", &golden_view(&slack));

    let webhook = body(&http(render_with(ReceiverKind::Webhook, &n, None)));
    assert_eq!(webhook["alerts"][0]["annotations"]["runbook_url"], RUNBOOK);
    assert!(webhook["alerts"][1]["annotations"]
        .get("runbook_url")
        .is_none());
    let am = body(&http(render_with(ReceiverKind::Alertmanager, &n, None)));
    let carried = am
        .as_array()
        .expect("a list of alerts")
        .iter()
        .any(|a| a["annotations"]["runbook_url"] == RUNBOOK);
    assert!(carried, "{am}");
}

#[test]
fn output_over_a_kinds_limit_is_cut_on_a_char_boundary_and_says_so() {
    let n = with_runbook();
    // About 250,000 chars, with characters every kind escapes or counts large.
    let flood = "{% for i in range(5000) %}{{ i }} & <b> *x* @here 🔥 \"q\"\n{% endfor %}";
    for kind in CHAT_KINDS {
        let request = http(render_with(kind, &n, Some(flood)));
        let b = body(&request);
        let chars = |v: &Value| v.as_str().expect("text").chars().count();
        let last_text = match kind {
            ReceiverKind::Slack => {
                let blocks = b["blocks"].as_array().expect("blocks");
                assert_eq!(blocks.len(), 50, "Slack takes 50 blocks");
                for block in blocks {
                    assert!(chars(&block["text"]["text"]) <= 3_000, "{block}");
                }
                blocks[49]["text"]["text"].clone()
            }
            ReceiverKind::Discord => {
                assert!(chars(&b["content"]) <= 2_000);
                assert_eq!(b["allowed_mentions"]["parse"], serde_json::json!([]));
                b["content"].clone()
            }
            ReceiverKind::Mattermost => {
                assert!(chars(&b["text"]) <= 16_383);
                b["text"].clone()
            }
            ReceiverKind::Teams => {
                assert!(request.body.len() <= 27_000, "{}", request.body.len());
                b["attachments"][0]["content"]["body"][0]["text"].clone()
            }
            ReceiverKind::GoogleChat => {
                assert!(request.body.len() <= 30_100, "{}", request.body.len());
                b["text"].clone()
            }
            other => unreachable!("{other} is not a chat kind"),
        };
        let last = last_text.as_str().expect("text");
        assert!(last.ends_with("…(cut)"), "{kind}: …{}", tail(last));
        // Cut outside any escape: no entity or backslash escape left open before the mark.
        let before = last.trim_end_matches("…(cut)");
        assert!(!before.ends_with('&') && !before.ends_with("&amp") && !before.ends_with('\\'));
    }
}

/// The last 40 chars of `s`.
fn tail(s: &str) -> String {
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(40)).collect()
}

#[test]
fn a_template_failing_at_run_time_sends_the_built_in_message() {
    let n = with_runbook();
    // Passes `check` (its samples have fewer alerts), fails on this notification.
    let source = "{{ alerts[2].labels.alertname }} {{ alerts[5].labels.alertname }}";
    for kind in CHAT_KINDS {
        assert_eq!(
            render_with(kind, &n, Some(source)),
            render_with(kind, &n, None),
            "{kind}"
        );
    }
}

/// A config whose one receiver, a Slack one at `url`, has `template`, in `dir`.
fn config_with_template(dir: &std::path::Path, url: &str, template: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:9/api/v1\"\ntoken_env = \"IM_TPL_TOKEN\"\n\
             [state]\ndir = \"{}\"\n\
             [[alerting.receivers]]\nname = \"slack-ops\"\nkind = \"slack\"\nurl = \"{url}\"\n\
             template = '''\n{template}'''\n",
            dir.join("state").display(),
        ),
    )
    .expect("config written");
    path
}

#[tokio::test]
async fn check_names_the_receiver_key_and_the_template_line_of_each_mistake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "{{ title }}\n{% for a in alerts %}\n{{ a.status }\n{% endfor %}",
            "line 3: syntax error",
        ),
        (
            "{{ title }}\n{% if false %}\n{{ title | shout }}{% endif %}",
            "line 3: unknown filter \"shout\"",
        ),
        (
            "{{ title }}\n{{ recever }}",
            "line 2: unknown variable \"recever\"",
        ),
    ];
    for (template, expected) in cases {
        let path = config_with_template(dir.path(), "https://hooks.example/T/B/x", template);
        let config = path.to_str().expect("utf-8 path");
        let (code, stdout, stderr) =
            run_bin(&["check", "--config", config], &[("IM_TPL_TOKEN", "x")]).await;
        assert_eq!(code, 2, "{template:?}: {stdout}{stderr}");
        let key = "alerting.receivers[0].template (line 10): ";
        assert!(
            stderr.contains(&format!("{key}{expected}")),
            "{template:?}: expected {key}{expected} in:\n{stderr}"
        );
    }
    let path = config_with_template(dir.path(), "https://hooks.example/T/B/x", TEMPLATE);
    let config = path.to_str().expect("utf-8 path");
    let (code, stdout, stderr) =
        run_bin(&["check", "--config", config], &[("IM_TPL_TOKEN", "x")]).await;
    assert_eq!(code, 0, "the README's template passes: {stdout}{stderr}");
}

#[tokio::test]
async fn notify_test_renders_the_template() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start().await;
    let template = "{{ title }}\nfrom {{ receiver }} ({{ kind }}, {{ counts.total }} alerts)";
    let path = config_with_template(dir.path(), &sink.url("/hook/ops"), template);
    let (code, stdout, stderr) = Launch::new(env!("CARGO_BIN_EXE_inventory-monitor"))
        .arg("notify-test")
        .arg("--config")
        .arg(&path)
        .output(Duration::from_secs(60))
        .await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let sent = received[0].json();
    assert_eq!(
        sent["blocks"][0]["text"]["text"],
        "[TEST] Test notification from inventory-monitor — no action needed\n\
         from slack-ops (test, 0 alerts)"
    );
}

#[test]
fn the_readme_shows_the_template_these_goldens_render() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&format!("template = '''\n{TEMPLATE}'''")),
        "README, Message templates shows another template than the goldens render"
    );
    assert!(
        readme.contains(RUNBOOK),
        "README, Runbook links shows the goldens' link"
    );
}

/// The text of the first section block of every Slack message `sink` received.
fn slack_texts(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .filter_map(|r| {
            r.json()["blocks"][0]["text"]["text"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn the_daemon_sends_through_the_template_and_a_reload_with_a_bad_one_keeps_it() {
    let sim = crate::common::empty_sim().await;
    let unhealthy = |id: u64| {
        crate::common::patched(
            crate::common::healthy_detail(id, &format!("Profile {id}"), "Org"),
            serde_json::json!({"health_status": {"connectivity": "unhealthy"}}),
        )
    };
    sim.sim.upsert_profile(unhealthy(1));
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = inventory_monitor_testkit::place::free_port();
    let config = dir.path().join("config.toml");
    let write = |template: &str| {
        std::fs::write(
            &config,
            format!(
                "[api]\nbase_url = \"{}\"\ntoken_env = \"IM_TEST_TOKEN\"\n[poll]\ninterval = \"1s\"\n\
                 [server]\nlisten = \"127.0.0.1:{port}\"\n[state]\ndir = \"{}\"\n\
                 [alerting]\ngroup_wait = \"0s\"\n\
                 [[alerting.receivers]]\nname = \"slack-ops\"\nkind = \"slack\"\nurl = \"{}\"\n\
                 template = '''{template}'''\n",
                sim.base_url,
                dir.path().join("state").display(),
                sink.url("/hook/ops"),
            ),
        )
        .expect("config written");
    };
    let good = "A {{ counts.firing }}:{% for a in alerts %} {{ a.labels.alertname }}/{{ a.labels.profile_id }}{% endfor %}";
    write(good);
    let mut child = Launch::new(env!("CARGO_BIN_EXE_inventory-monitor"))
        .args(["run", "--config"])
        .arg(&config)
        .env("IM_TEST_TOKEN", "demo-token")
        .spawn()
        .expect("daemon starts");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let heard = |text: &'static str| {
        let sink = &sink;
        async move {
            crate::common::wait_for(Duration::from_secs(20), || async {
                slack_texts(sink).iter().any(|t| t == text)
            })
            .await
        }
    };
    assert!(
        heard("A 1: ProfileConnectivityDegraded/1").await,
        "the templated message never came: {:?}",
        slack_texts(&sink)
    );

    // A template that does not compile is refused; the old one keeps being used.
    write("{{ title | shout }}");
    crate::reload::hup(&child).await;
    assert!(
        crate::reload::reload_reported(addr, 0.0).await,
        "the bad template was taken"
    );
    sim.sim.upsert_profile(unhealthy(2));
    assert!(
        heard("A 1: ProfileConnectivityDegraded/2").await,
        "the next message did not use the old template: {:?}",
        slack_texts(&sink)
    );
    assert!(child.is_running());
}

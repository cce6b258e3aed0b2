//! Properties over generated inputs, run with every `cargo test` (the fuzz targets in
//! `fuzz/` go much deeper, but need a nightly-capable toolchain and minutes): whatever
//! bytes the upstream sends and whatever text a config file holds, the parsers answer `Ok`
//! or `Err` and never panic; and a rendered `/metrics`, whatever the names, organizations
//! and states (quotes, backslashes, newlines, unicode), parses back with the same label
//! values, cut to `api.max_label_length`; a matcher, whatever its value, is displayed as
//! text that parses back to it, and its regexes are anchored.
//!
//! 256 cases per property, no persisted failures: a few seconds in all.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use inventory_monitor::config;
use inventory_monitor::metrics::{truncate_label_value, ProfileMetrics};
use inventory_monitor::model::{ListPage, Profile, EARLIEST_PLAUSIBLE_TIMESTAMP};
use inventory_monitor::shard::Shard;
use inventory_monitor::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use inventory_monitor_testkit::exposition;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text with what breaks naive code: quotes, backslashes, newlines, braces, unicode.
fn hostile_text(max_pieces: usize) -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        prop::sample::select(vec![
            "\"", "\\", "\n", "\r\n", "\t", "{", "}", "=", ",", "#", "é", "東京", "🚀", "\u{0}",
            "\u{202e}", "\\n", "\\\"", " ",
        ])
        .prop_map(str::to_string),
        "\\PC{0,6}",
    ];
    prop::collection::vec(pieces, 0..max_pieces).prop_map(|v| v.concat())
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        hostile_text(6).prop_map(Value::from),
        prop::sample::select(vec![
            "2026-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2999-01-01T00:00:00+05:30",
            "2026-02-30T00:00:00Z",
            "healthy",
            "valid",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(hostile_text(2), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with some of `keys` (each with any value) and some other keys.
fn object_with(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec((prop::sample::select(keys), json_value()), 0..keys.len()),
        prop::collection::vec((hostile_text(2), json_value()), 0..2),
    )
        .prop_map(|(known, other)| {
            let mut map = Map::new();
            for (k, v) in other {
                map.insert(k, v);
            }
            for (k, v) in known {
                map.insert(k.to_string(), v);
            }
            Value::Object(map)
        })
}

const DETAIL_KEYS: &[&str] = &[
    "id",
    "name",
    "organization",
    "profile_type",
    "status",
    "authentication_type",
    "sync_frequency",
    "last_sync",
    "last_sync_status",
    "sync_record_count",
    "health_status",
    "connection_type",
    "is_active",
    "test_status",
    "last_tested",
    "configuration",
];

const HEALTH_KEYS: &[&str] = &[
    "connectivity",
    "authentication",
    "last_error",
    "error_count_24h",
];

/// A detail body: usually shaped like one, with any values; sometimes cut short.
fn detail_body() -> impl Strategy<Value = Vec<u8>> {
    (
        object_with(DETAIL_KEYS),
        prop::option::of(object_with(HEALTH_KEYS)),
        prop::option::of(any::<u64>()),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(mut detail, health, id, cut, truncate)| {
            if let Some(map) = detail.as_object_mut() {
                if let Some(health) = health {
                    map.insert("health_status".into(), health);
                }
                if let Some(id) = id {
                    map.insert("id".into(), json!(id));
                }
            }
            let mut bytes = serde_json::to_vec(&detail).unwrap_or_default();
            if truncate && !bytes.is_empty() {
                bytes.truncate(cut.index(bytes.len()));
            }
            bytes
        })
}

/// A list page body: `count`, `next`, `results` with any values.
fn page_body() -> impl Strategy<Value = Vec<u8>> {
    (
        json_value(),
        json_value(),
        prop::collection::vec(object_with(&["id", "name", "organization"]), 0..6),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(count, next, results, cut, truncate)| {
            let page = json!({"count": count, "next": next, "results": results});
            let mut bytes = serde_json::to_vec(&page).unwrap_or_default();
            if truncate && !bytes.is_empty() {
                bytes.truncate(cut.index(bytes.len()));
            }
            bytes
        })
}

/// A TOML document built from the sections and keys the monitor knows (and a few it does
/// not), with values of every TOML type.
fn config_text() -> impl Strategy<Value = String> {
    let section = prop::sample::select(vec![
        "api",
        "poll",
        "server",
        "state",
        "shard",
        "rules",
        "rules.connectivity",
        "rules.sync_stale",
        "rules.errors",
        "alerting",
        "[alerting.receivers]",
        "nonsense",
    ]);
    let key = prop::sample::select(vec![
        "base_url",
        "token_env",
        "token_file",
        "page_size",
        "concurrency",
        "max_requests_per_second",
        "timeout",
        "retries",
        "ca_file",
        "max_body_size",
        "max_profiles",
        "max_label_length",
        "interval",
        "listen",
        "dir",
        "index",
        "count",
        "enabled",
        "for",
        "after",
        "severity",
        "threshold",
        "group_wait",
        "name",
        "kind",
        "url",
        "url_env",
        "headers",
        "unknown_key",
    ]);
    // No `/` in generated text: validation reads the files a config names, and a device
    // such as /dev/zero would never end.
    let text = "[a-zA-Z0-9 .:_\\-é\"\\\\]{0,12}";
    let value = prop_oneof![
        text.prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        prop::sample::select(vec![
            "\"8MiB\"",
            "\"30s\"",
            "\"auto\"",
            "\"https://api.example/v1\"",
            "\"127.0.0.1:0\"",
            "\"webhook\"",
            "[]",
            "{ X-A = \"b\" }",
            "\"\"",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(
        (
            section,
            prop::collection::vec((key, value), 0..5),
            any::<bool>(),
        ),
        0..5,
    )
    .prop_map(|sections| {
        let mut out = String::new();
        for (name, pairs, header) in sections {
            if header {
                out.push_str(&format!("[{name}]\n"));
            }
            for (k, v) in pairs {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    })
}

/// A profile for the metrics property: every label-bearing field hostile.
#[derive(Debug, Clone)]
struct GenProfile {
    id: u16,
    name: String,
    organization: Option<String>,
    up: bool,
    status: Option<String>,
    connectivity: Option<String>,
    authentication: Option<String>,
}

fn gen_profile() -> impl Strategy<Value = GenProfile> {
    (
        any::<u16>(),
        prop_oneof![4 => hostile_text(8), 1 => hostile_text(120)],
        prop::option::of(hostile_text(8)),
        any::<bool>(),
        prop::option::of(hostile_text(3)),
        prop::option::of(hostile_text(3)),
        prop::option::of(hostile_text(3)),
    )
        .prop_map(
            |(id, name, organization, up, status, connectivity, authentication)| GenProfile {
                id,
                name,
                organization,
                up,
                status,
                connectivity,
                authentication,
            },
        )
}

fn snapshot_of(profiles: &[GenProfile]) -> Snapshot {
    let entries: Vec<ProfileEntry> = profiles
        .iter()
        .map(|p| {
            let profile = Profile {
                organization: p.organization.clone(),
                status: p.status.as_deref().map(Into::into),
                connectivity: p.connectivity.as_deref().map(Into::into),
                authentication: p.authentication.as_deref().map(Into::into),
                ..Profile::unknown(u64::from(p.id), p.name.clone())
            };
            ProfileEntry {
                id: u64::from(p.id),
                name: p.name.as_str().into(),
                organization: p.organization.as_deref().map(Into::into),
                profile: Some(Arc::new(profile)),
                up: p.up,
                error: None,
                consecutive_failures: 0,
            }
        })
        .collect();
    Snapshot {
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        duration: Duration::from_secs(1),
        list: ListOutcome::Complete,
        listed: Some(entries.len()),
        profiles: entries,
        gone: Vec::new(),
        shard: Shard::default(),
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_bytes_are_a_list_page_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = ListPage::parse(&bytes);
    }

    #[test]
    fn list_shaped_bodies_parse_or_fail_cleanly(body in page_body()) {
        if let Ok(page) = ListPage::parse(&body) {
            prop_assert_ne!(page.next.as_deref(), Some(""));
            if !page.absurd.is_empty() {
                prop_assert_eq!(page.count, None);
            }
        }
    }

    #[test]
    fn any_bytes_are_a_detail_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Profile::parse_detail(&bytes);
    }

    #[test]
    fn detail_shaped_bodies_hold_no_absurd_value(body in detail_body()) {
        if let Ok(mut p) = Profile::parse_detail(&body) {
            for t in [p.last_sync, p.last_tested].into_iter().flatten() {
                prop_assert!(t.is_finite() && t >= EARLIEST_PLAUSIBLE_TIMESTAMP, "{}", t);
            }
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
            p.reject_future_timestamps(now);
            for t in [p.last_sync, p.last_tested].into_iter().flatten() {
                prop_assert!(t <= 1_767_225_600.0 + 86_400.0, "{}", t);
            }
        }
    }

    #[test]
    fn any_text_is_a_config_or_problems(text in "\\PC{0,200}") {
        if let Ok(c) = config::parse(&text) {
            let _ = c.validate_with(&|_| None);
        }
    }

    #[test]
    fn config_shaped_text_is_a_config_or_problems(text in config_text()) {
        match config::parse(&text) {
            Ok(c) => {
                for problem in c.validate_with(&|_| None) {
                    prop_assert!(!problem.message.is_empty());
                }
            }
            // Every parse-level problem at once, each saying something.
            Err(e) => {
                prop_assert!(!e.problems.is_empty());
                for problem in &e.problems {
                    prop_assert!(!problem.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn rendered_metrics_read_back_with_the_same_label_values(
        profiles in prop::collection::vec(gen_profile(), 0..12),
        max in 16usize..300,
    ) {
        let snapshot = snapshot_of(&profiles);
        let rendered = ProfileMetrics::new().with_max_label_length(max).render(&snapshot, Vec::new());
        let text = std::str::from_utf8(rendered.plain()).expect("UTF-8");
        let families = exposition::parse(text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let cut = |v: &str| truncate_label_value(v, max).into_owned();
        let mut seen = HashSet::new();
        for p in profiles.iter().filter(|p| seen.insert(p.id)) {
            let id = p.id.to_string();
            let up = exposition::matching(&families, "inventory_profile_up", &[("profile_id", &id)]);
            prop_assert_eq!(up.len(), 1);
            prop_assert_eq!(up[0].label("profile_name"), Some(&*cut(&p.name)));
            prop_assert_eq!(
                up[0].label("organization"),
                Some(&*cut(p.organization.as_deref().unwrap_or("")))
            );
            let info = exposition::matching(&families, "inventory_profile_info", &[("profile_id", &id)]);
            prop_assert_eq!(info[0].label("status"), Some(&*cut(p.status.as_deref().unwrap_or(""))));
            let states = exposition::matching(
                &families,
                "inventory_profile_health_state",
                &[("profile_id", &id), ("check", "connectivity")],
            );
            match (&p.connectivity, p.up) {
                (Some(c), true) => {
                    prop_assert_eq!(states.len(), 1);
                    let got = states[0].label("state");
                    prop_assert!(got == Some(&*cut(c)) || got == Some("other"), "{:?}", got);
                }
                _ => prop_assert!(states.is_empty()),
            }
        }
        prop_assert_eq!(
            exposition::samples_named(&families, "inventory_profile_up").len(),
            seen.len()
        );
    }
}

/// A label name: a letter or `_`, then letters, digits and `_`.
fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,12}"
}

fn match_op() -> impl Strategy<Value = inventory_monitor::matchers::MatchOp> {
    use inventory_monitor::matchers::MatchOp;
    prop::sample::select(vec![
        MatchOp::Equal,
        MatchOp::NotEqual,
        MatchOp::Regex,
        MatchOp::NotRegex,
    ])
}

// Matchers (README, Silences): what is displayed parses back to the same matcher, whatever
// the value holds; regexes are anchored at both ends.
proptest! {
    #![proptest_config(cases())]

    #[test]
    fn a_displayed_matcher_parses_back_to_itself(
        name in label_name(),
        op in match_op(),
        text in hostile_text(6),
    ) {
        use inventory_monitor::matchers::Matcher;
        // A regex matcher's value must be a regex: the text, escaped, is one.
        let value = if op.is_regex() { regex::escape(&text) } else { text };
        let m = Matcher::new(&name, op, &value).expect("a valid matcher");
        let shown = m.to_string();
        let parsed = Matcher::parse(&shown).expect("what is shown parses");
        prop_assert_eq!(&parsed, &m, "{}", shown);
        prop_assert_eq!(parsed.value(), value.as_str());
        let listed = inventory_monitor::matchers::parse_list(
            &inventory_monitor::matchers::display_list(std::slice::from_ref(&m)),
        )
        .expect("a displayed list parses");
        prop_assert_eq!(listed, vec![m]);
    }

    #[test]
    fn regexes_are_anchored_and_negations_are_complements(
        name in label_name(),
        literal in "[a-z0-9.-]{1,10}",
        extra in "[a-z0-9]{1,5}",
    ) {
        use inventory_monitor::matchers::{MatchOp, Matcher};
        let re = Matcher::new(&name, MatchOp::Regex, &regex::escape(&literal)).expect("regex");
        let not_re = Matcher::new(&name, MatchOp::NotRegex, &regex::escape(&literal)).expect("regex");
        let eq = Matcher::new(&name, MatchOp::Equal, &literal).expect("equal");
        let ne = Matcher::new(&name, MatchOp::NotEqual, &literal).expect("not equal");
        let longer = [format!("{extra}{literal}"), format!("{literal}{extra}")];
        prop_assert!(re.matches(Some(&literal)));
        for value in &longer {
            prop_assert!(!re.matches(Some(value)), "{} matched {}", re, value);
        }
        for value in [Some(literal.as_str()), Some(longer[0].as_str()), Some(longer[1].as_str()), Some(""), None] {
            prop_assert_eq!(re.matches(value), !not_re.matches(value));
            prop_assert_eq!(eq.matches(value), !ne.matches(value));
            prop_assert_eq!(re.matches(value), eq.matches(value), "{:?}", value);
        }
    }
}

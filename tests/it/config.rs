//! The configuration file as an operator meets it: the shipped example loads, every broken
//! fixture under `tests/fixtures/config/` is refused with the exact problem text, the
//! defaults are the README's (Configuration), and secrets stay out of `Debug` and error messages.
//!
//! The environment is always injected (`load_with`, `validate_with`): tests run in
//! parallel threads of one process, so none of them may touch the process environment.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use inventory_monitor::config::{self, Config, ReceiverKind, StaleAfter};
use inventory_monitor::shard::Shard;

const TOKEN: &str = "t0ken-for-tests";
const SLACK_URL: &str = "https://hooks.slack.com/services/T000/B000/slack-secret-part";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/inventory-monitor.toml")
}

/// An environment holding only `vars`.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| vars.get(name).cloned()
}

/// The environment the example file and most fixtures expect.
fn standard_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("INVENTORY_API_TOKEN", TOKEN),
        ("SLACK_WEBHOOK_URL", SLACK_URL),
    ])
}

/// The problems reported for fixture `name` in environment `env`, as `check` prints them.
fn problems_in(name: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    match config::load_with(&fixture(name), env) {
        Ok(_) => panic!("{name} was accepted, but should have been refused"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// The problems reported for fixture `name` in the standard environment.
fn problems(name: &str) -> Vec<String> {
    problems_in(name, &standard_env())
}

// ---------------------------------------------------------------------------------------
// The shipped example

#[test]
fn example_file_loads_and_validates() {
    let config = config::load_with(&example(), &standard_env())
        .unwrap_or_else(|e| panic!("the example was refused:\n{e}"));

    assert_eq!(config.api.base_url, "https://control.example.com/api/v1");
    let receivers = &config.alerting.receivers;
    let names: Vec<_> = receivers
        .iter()
        .map(|r| (r.name.as_str(), r.kind))
        .collect();
    assert_eq!(
        names,
        [
            ("ops-chat", ReceiverKind::Slack),
            ("stderr", ReceiverKind::Log)
        ]
    );
    let url = receivers[0].url_with(&standard_env()).expect("slack url");
    assert_eq!(url.as_ref().map(|u| u.expose()), Some(SLACK_URL));
    assert_eq!(receivers[1].url_with(&standard_env()), Ok(None));
    assert_eq!(
        config
            .api
            .token_with(&standard_env())
            .map(|t| t.expose().to_string()),
        Ok(TOKEN.to_string())
    );
}

#[test]
fn example_file_without_its_environment_names_the_missing_variables() {
    assert_eq!(
        problems_in_example(&env_of(&[])),
        [
            "api.token_env (line 14): environment variable INVENTORY_API_TOKEN is not set",
            "alerting.receivers[0].url_env (line 160): environment variable SLACK_WEBHOOK_URL is not set",
        ]
    );
}

fn problems_in_example(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    match config::load_with(&example(), env) {
        Ok(_) => panic!("the example was accepted without its environment"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

/// Every dotted key under `value`, tables recursed into, arrays of tables left out.
fn toml_keys(prefix: &str, value: &toml::Value, out: &mut BTreeSet<String>) {
    if let toml::Value::Table(table) = value {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.insert(path.clone());
            toml_keys(&path, value, out);
        }
    }
}

fn json_keys(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(map) = value {
        for (key, value) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            out.insert(path.clone());
            json_keys(&path, value, out);
        }
    }
}

#[test]
fn example_file_names_every_key_with_its_default() {
    let text = std::fs::read_to_string(example()).expect("example file");
    let mut written = BTreeSet::new();
    toml_keys(
        "",
        &text.parse::<toml::Value>().expect("toml"),
        &mut written,
    );
    let mut known = BTreeSet::new();
    json_keys(
        "",
        &serde_json::to_value(Config::default()).expect("json"),
        &mut known,
    );
    // token_file is the alternative to token_env, so it can only be shown commented out.
    known.remove("api.token_file");
    let missing: Vec<_> = known.difference(&written).collect();
    assert!(missing.is_empty(), "the example does not name {missing:?}");

    // Apart from what an example must fill in, every value shown is the default.
    let mut config = config::parse(&text).expect("example parses");
    config.api.base_url.clear();
    config.api.token_env = None;
    config.alerting.receivers.clear();
    assert_eq!(
        serde_json::to_value(&config).expect("json"),
        serde_json::to_value(Config::default()).expect("json")
    );
}

// ---------------------------------------------------------------------------------------
// Defaults

#[test]
fn defaults_are_the_spec_values_when_only_base_url_is_set() {
    let config = config::load_with(&fixture("only_base_url.toml"), &standard_env())
        .unwrap_or_else(|e| panic!("refused:\n{e}"));

    let api = &config.api;
    assert_eq!(api.base_url, "https://control.example.com/api/v1");
    assert_eq!(api.token_env, None);
    assert_eq!(api.token_file, None);
    assert_eq!(api.name_filter, "");
    assert_eq!(api.page_size, 100);
    assert_eq!(api.concurrency, 16);
    assert_eq!(api.max_requests_per_second, 0.0);
    assert_eq!(api.timeout, Duration::from_secs(10));
    assert_eq!(api.retries, 3);
    assert_eq!(api.ca_file, None);
    // With neither token_env nor token_file, the token comes from INVENTORY_API_TOKEN.
    assert_eq!(
        api.token_with(&standard_env())
            .map(|t| t.expose().to_string()),
        Ok(TOKEN.into())
    );

    assert_eq!(config.poll.interval, Duration::from_secs(60));
    assert_eq!(config.server.listen, "0.0.0.0:9857");
    assert_eq!(config.state.dir, PathBuf::from("./data"));
    assert_eq!(config.shard(), Shard { index: 0, count: 1 });

    let rules = &config.rules;
    assert!(!rules.include_inactive);
    for (name, rule) in [
        ("connectivity", &rules.connectivity),
        ("authentication", &rules.authentication),
    ] {
        assert!(rule.enabled, "{name}");
        assert_eq!(rule.for_, Duration::ZERO, "{name}");
        assert_eq!(rule.severity, "critical", "{name}");
    }
    assert!(rules.sync_stale.enabled);
    assert_eq!(rules.sync_stale.after, StaleAfter::Auto);
    assert_eq!(rules.sync_stale.severity, "warning");
    assert!(rules.sync_failed.enabled);
    assert_eq!(rules.sync_failed.severity, "warning");
    assert!(rules.errors.enabled);
    assert_eq!(rules.errors.threshold, 10);
    assert_eq!(rules.errors.severity, "warning");
    assert!(rules.unreachable.enabled);
    assert_eq!(rules.unreachable.after_failures, 3);
    assert_eq!(rules.unreachable.severity, "warning");

    let alerting = &config.alerting;
    assert_eq!(alerting.group_wait, Duration::from_secs(10));
    assert_eq!(alerting.repeat_interval, Duration::from_secs(4 * 3600));
    assert!(alerting.send_resolved);
    assert_eq!(alerting.max_delivery_age, Duration::from_secs(24 * 3600));
    assert!(alerting.receivers.is_empty());
}

#[test]
fn shard_settings_become_a_shard() {
    let config = config::parse(
        "[api]\nbase_url = \"https://control.example.com/api/v1\"\n[shard]\nindex = 2\ncount = 5\n",
    )
    .expect("parses");
    assert!(config.validate_with(&standard_env()).is_empty());
    assert_eq!(config.shard(), Shard { index: 2, count: 5 });
}

#[test]
fn durations_take_humantime_strings_and_sync_stale_takes_auto_or_a_duration() {
    let config = config::parse(
        "[poll]\ninterval = \"1h 30m\"\n[rules.sync_stale]\nafter = \"26h\"\n[rules.connectivity]\nfor = \"2m\"\n",
    )
    .expect("parses");
    assert_eq!(config.poll.interval, Duration::from_secs(5400));
    assert_eq!(
        config.rules.sync_stale.after,
        StaleAfter::Fixed(Duration::from_secs(26 * 3600))
    );
    assert_eq!(config.rules.connectivity.for_, Duration::from_secs(120));
}

// ---------------------------------------------------------------------------------------
// Broken configurations: one fixture each, the exact text an operator reads

#[test]
fn unknown_top_level_key_is_named_with_the_keys_that_exist() {
    assert_eq!(
        problems("unknown_top_level_key.toml"),
        ["polling (line 4): unknown field `polling`, expected one of `api`, `poll`, `server`, `state`, `shard`, `rules`, `alerting`"]
    );
}

#[test]
fn unknown_nested_key_is_named_by_its_full_path() {
    assert_eq!(
        problems("unknown_nested_key.toml"),
        ["api.page_sizee (line 3): unknown field `page_sizee`, expected one of `base_url`, `token_env`, `token_file`, `name_filter`, `page_size`, `concurrency`, `max_requests_per_second`, `timeout`, `retries`, `ca_file`, `max_body_size`, `max_profiles`, `max_label_length`"]
    );
}

#[test]
fn value_of_the_wrong_type_says_what_was_expected() {
    assert_eq!(
        problems("bad_type.toml"),
        ["api.page_size (line 3): invalid type: string \"fifty\", expected a whole number from 0 to 4294967295"]
    );
}

#[test]
fn bad_duration_says_why_and_how_to_write_one() {
    assert_eq!(
        problems("bad_duration.toml"),
        ["poll.interval (line 5): \"5 parsecs\" is not a duration: unknown unit \"parsecs\"; write durations like \"30s\", \"5m\" or \"1h 30m\""]
    );
}

#[test]
fn bare_number_for_a_duration_suggests_adding_a_unit() {
    assert_eq!(
        problems("duration_without_quotes.toml"),
        ["alerting.group_wait (line 5): 30 is not a duration: durations are strings with a unit, like \"30s\" or \"30m\""]
    );
}

#[test]
fn syntax_error_gives_line_and_column() {
    assert_eq!(
        problems("syntax_error.toml"),
        ["TOML syntax error at line 4, column 6: invalid table header: expected `.`, `]`"]
    );
}

#[test]
fn unknown_receiver_kind_lists_the_kinds() {
    assert_eq!(
        problems("bad_receiver_kind.toml"),
        ["alerting.receivers[0].kind (line 6): unknown variant `slak`, expected one of `slack`, `teams`, `discord`, `google_chat`, `mattermost`, `webhook`, `alertmanager`, `log`"]
    );
}

#[test]
fn receiver_without_a_kind_points_at_the_missing_key() {
    let err = config::parse("[[alerting.receivers]]\nname = \"ops\"\n").expect_err("refused");
    assert_eq!(
        err.to_string(),
        "alerting.receivers[0].kind (line 1): is required"
    );
}

#[test]
fn page_size_above_100_is_refused() {
    assert_eq!(
        problems("page_size_500.toml"),
        ["api.page_size (line 3): must be between 1 and 100, got 500"]
    );
}

#[test]
fn concurrency_of_zero_is_refused() {
    assert_eq!(
        problems("concurrency_0.toml"),
        ["api.concurrency (line 3): must be between 1 and 1024, got 0"]
    );
}

#[test]
fn shard_index_must_be_below_shard_count() {
    assert_eq!(
        problems("shard_index_too_large.toml"),
        ["shard.index (line 5): must be less than shard.count (3), got 3"]
    );
}

#[test]
fn unknown_severity_is_refused() {
    assert_eq!(
        problems("bad_severity.toml"),
        ["rules.errors.severity (line 5): must be one of critical, warning or info, got \"fatal\""]
    );
}

#[test]
fn duplicate_receiver_names_are_refused() {
    assert_eq!(
        problems("duplicate_receiver_names.toml"),
        ["alerting.receivers[1].name (line 10): duplicate receiver name \"ops\""]
    );
}

#[test]
fn receiver_with_both_url_and_url_env_is_refused_without_showing_the_url() {
    let found = problems("receiver_url_and_url_env.toml");
    assert_eq!(
        found,
        ["alerting.receivers[0] (line 4): url and url_env are both set; set only one of url, url_env or url_file"]
    );
    assert!(!found.concat().contains("inline-secret"));
}

#[test]
fn receiver_without_a_url_is_refused() {
    assert_eq!(
        problems("receiver_missing_url.toml"),
        ["alerting.receivers[0] (line 4): a \"teams\" receiver needs one of url, url_env or url_file"]
    );
}

#[test]
fn receiver_url_that_is_not_http_is_refused_without_showing_it() {
    let env = env_of(&[
        ("INVENTORY_API_TOKEN", TOKEN),
        ("MATTERMOST_URL", "mattermost.example.com/hooks/env-secret"),
    ]);
    let found = problems_in("receiver_bad_url.toml", &env);
    assert_eq!(
        found,
        [
            "alerting.receivers[0].url (line 7): is not a valid http(s) URL (relative URL without a base)",
            "alerting.receivers[1].url_env (line 12): environment variable MATTERMOST_URL does not hold a valid http(s) URL (relative URL without a base)",
        ]
    );
    let all = found.concat();
    assert!(!all.contains("inline-secret") && !all.contains("env-secret"));
}

#[test]
fn webhook_only_keys_and_log_urls_are_refused_on_other_kinds() {
    assert_eq!(
        problems("receiver_keys_for_other_kinds.toml"),
        [
            "alerting.receivers[0].secret_env (line 8): only a \"webhook\" receiver takes secret_env, not a \"slack\" one",
            "alerting.receivers[0].headers (line 9): only a \"webhook\" receiver takes headers, not a \"slack\" one",
            "alerting.receivers[1].url_env (line 14): a \"log\" receiver takes no URL",
        ]
    );
}

#[test]
fn missing_default_token_variable_is_named() {
    assert_eq!(
        problems_in("only_base_url.toml", &env_of(&[])),
        ["api.token_env (line 1): environment variable INVENTORY_API_TOKEN is not set"]
    );
}

#[test]
fn missing_custom_token_variable_is_named() {
    assert_eq!(
        problems("custom_token_env.toml"),
        ["api.token_env (line 3): environment variable MONITOR_TOKEN is not set"]
    );
}

#[test]
fn blank_token_variable_is_refused() {
    assert_eq!(
        problems_in(
            "only_base_url.toml",
            &env_of(&[("INVENTORY_API_TOKEN", " \n")])
        ),
        ["api.token_env (line 1): environment variable INVENTORY_API_TOKEN is empty"]
    );
}

#[test]
fn missing_token_file_is_named() {
    assert_eq!(
        problems("token_file_missing.toml"),
        ["api.token_file (line 3): cannot read tests/fixtures/config/no-such-token: no such file"]
    );
}

#[test]
fn token_env_and_token_file_together_are_refused() {
    assert_eq!(
        problems("token_env_and_token_file.toml"),
        ["api (line 1): token_env and token_file are both set; set only one"]
    );
}

#[test]
fn ca_file_without_a_certificate_is_refused() {
    assert_eq!(
        problems("ca_file_not_pem.toml"),
        ["api.ca_file (line 3): tests/fixtures/config/not-a-cert.pem holds no PEM certificate (no \"-----BEGIN CERTIFICATE-----\" line)"]
    );
}

#[test]
fn listen_address_must_be_ip_and_port() {
    assert_eq!(
        problems("bad_listen.toml"),
        ["server.listen (line 5): must be an IP address and port like \"0.0.0.0:9857\" or \"[::]:9857\", got \"localhost:9857\""]
    );
}

#[test]
fn unknown_alertname_in_a_filter_lists_the_real_ones() {
    assert_eq!(
        problems("unknown_alertname.toml"),
        ["alerting.receivers[0].match_alertname[1] (line 8): unknown alertname \"ProfileDown\"; expected one of ProfileConnectivityDegraded, ProfileAuthenticationFailing, ProfileSyncStale, ProfileSyncFailing, ProfileErrorsHigh, ProfileUnreachable, InventoryApiDown, ProfileFlapping"]
    );
}

#[test]
fn missing_base_url_is_refused() {
    assert_eq!(
        problems("missing_base_url.toml"),
        ["api.base_url (line 1): is required, e.g. \"https://control.example.com/api/v1\""]
    );
}

#[test]
fn base_url_must_be_plain_http() {
    assert_eq!(
        problems("base_url_with_query.toml"),
        [
            "api.base_url (line 2): must be an http or https URL, got scheme \"ftp\"",
            "api.base_url (line 2): must not have a query string (\"?...\"); use api.name_filter to filter by name",
            "api.base_url (line 2): must not have a fragment (\"#...\")",
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let found = problems("several_problems.toml");
    assert_eq!(
        found,
        [
            "api.base_url (line 3): is required, e.g. \"https://control.example.com/api/v1\"",
            "api.page_size (line 4): must be between 1 and 100, got 0",
            "api.concurrency (line 5): must be between 1 and 1024, got 2000",
            "api.max_requests_per_second (line 6): must be 0 (no cap) or a positive number, got -1",
            "api.timeout (line 7): must be more than 0s",
            "api.retries (line 8): must be at most 20, got 99",
            "api.token_env (line 9): environment variable UNSET_TOKEN is not set",
            "poll.interval (line 12): must be at least 1s, got 100ms",
            "server.listen (line 15): must be an IP address and port like \"0.0.0.0:9857\" or \"[::]:9857\", got \"9857\"",
            "shard.count (line 19): must be at least 1, got 0",
            "rules.connectivity.severity (line 22): must be one of critical, warning or info, got \"page\"",
            "rules.errors.threshold (line 25): must be at least 1, got 0",
            "rules.unreachable.after_failures (line 28): must be at least 1, got 0",
            "alerting.repeat_interval (line 32): must be more than 0s",
            "alerting.max_delivery_age (line 33): must be more than 0s",
            "alerting.receivers[0].name (line 36): must not be empty",
            "alerting.receivers[0].url_file (line 38): cannot read tests/fixtures/config/no-such-url: no such file",
            "alerting.receivers[0].secret_env (line 39): environment variable UNSET_SECRET is not set",
            "alerting.receivers[0].match_severity[0] (line 40): must be one of critical, warning or info, got \"urgent\"",
        ]
    );
}

#[test]
fn config_error_prints_one_problem_per_line() {
    let err = config::load_with(&fixture("base_url_with_query.toml"), &standard_env())
        .expect_err("refused");
    assert_eq!(err.to_string().lines().count(), 3);
    assert!(err
        .to_string()
        .starts_with("api.base_url (line 2): must be an http or https URL"));
}

#[test]
fn missing_config_file_is_named() {
    let path = fixture("no-such-config.toml");
    let err = config::load_with(&path, &standard_env()).expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!("cannot read config file {}: no such file", path.display())
    );
}

// ---------------------------------------------------------------------------------------
// Secrets

#[test]
fn token_file_is_read_with_its_trailing_newline_trimmed() {
    let config = config::load_with(&fixture("token_file.toml"), &env_of(&[]))
        .unwrap_or_else(|e| panic!("refused:\n{e}"));
    let token = config.api.token_with(&env_of(&[])).expect("token");
    assert_eq!(token.expose(), "file-token-value");
}

#[test]
fn token_variable_is_trimmed_of_trailing_whitespace() {
    let config = config::parse("[api]\nbase_url = \"https://x.example/api\"\n").expect("parses");
    let token = config
        .api
        .token_with(&env_of(&[("INVENTORY_API_TOKEN", "abc123\r\n")]))
        .expect("token");
    assert_eq!(token.expose(), "abc123");
}

#[test]
fn token_that_cannot_be_sent_in_a_header_is_refused_without_showing_it() {
    let config = config::parse("[api]\nbase_url = \"https://x.example/api\"\n").expect("parses");
    let problem = config
        .api
        .token_with(&env_of(&[("INVENTORY_API_TOKEN", "abc\ndef-secret")]))
        .expect_err("refused");
    assert_eq!(
        problem.to_string(),
        "api.token_env: environment variable INVENTORY_API_TOKEN holds characters not allowed in an HTTP header"
    );
}

#[test]
fn webhook_secret_comes_from_its_file_and_other_kinds_have_none() {
    let text = r#"
        [[alerting.receivers]]
        name = "signed"
        kind = "webhook"
        url_env = "HOOK_URL"
        secret_file = "tests/fixtures/config/token.txt"

        [[alerting.receivers]]
        name = "chat"
        kind = "google_chat"
        url_env = "HOOK_URL"
    "#;
    let config = config::parse(text).expect("parses");
    let env = env_of(&[("HOOK_URL", "https://hooks.example.com/x")]);
    let receivers = &config.alerting.receivers;
    let secret = receivers[0].secret_with(&env).expect("secret");
    assert_eq!(
        secret.map(|s| s.expose().to_string()),
        Some("file-token-value".into())
    );
    assert_eq!(receivers[1].secret_with(&env), Ok(None));
}

#[test]
fn receiver_problems_outside_validation_name_the_receiver() {
    let config = config::parse(
        "[[alerting.receivers]]\nname = \"ops-chat\"\nkind = \"slack\"\nurl_env = \"GONE\"\n",
    )
    .expect("parses");
    let problem = config.alerting.receivers[0]
        .url_with(&env_of(&[]))
        .expect_err("unset");
    assert_eq!(
        problem.to_string(),
        "alerting.receivers[\"ops-chat\"].url_env: environment variable GONE is not set"
    );
}

#[test]
fn debug_of_the_config_never_shows_a_secret() {
    let text = r#"
        [api]
        base_url = "https://control.example.com/api/v1"

        [[alerting.receivers]]
        name = "hook"
        kind = "webhook"
        url = "https://hooks.example.com/inline-url-secret"
        headers = { Authorization = "Bearer header-secret" }
    "#;
    let config = config::parse(text).expect("parses");
    for debug in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(!debug.contains("inline-url-secret"), "{debug}");
        assert!(!debug.contains("header-secret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(
            debug.contains("Authorization"),
            "header names are not secret: {debug}"
        );
    }

    let env = env_of(&[("INVENTORY_API_TOKEN", "token-secret")]);
    let token = config.api.token_with(&env).expect("token");
    let url = config.alerting.receivers[0]
        .url_with(&env)
        .expect("url")
        .expect("has one");
    for shown in [
        format!("{token:?}"),
        format!("{token}"),
        format!("{url:?}"),
        format!("{url}"),
    ] {
        assert_eq!(shown, "<redacted>");
    }
    assert_eq!(url.expose(), "https://hooks.example.com/inline-url-secret");
}

#[test]
fn validate_reads_the_process_environment() {
    // Reads, never writes, the environment: a name no one sets.
    let config = config::parse(
        "[api]\nbase_url = \"https://x.example/api\"\ntoken_env = \"INVENTORY_MONITOR_TEST_UNSET_7F3A\"\n",
    )
    .expect("parses");
    assert_eq!(
        config
            .validate()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["api.token_env: environment variable INVENTORY_MONITOR_TEST_UNSET_7F3A is not set"]
    );
}

// ---------------------------------------------------------------------------------------
// Every problem in one run, on the example mangled at random

/// What is done to one line of the example.
#[derive(Debug, Clone)]
enum Edit {
    /// The line goes (a key, or a table's header).
    Delete,
    /// The key gets a name no table has.
    Rename,
    /// The value becomes one of the wrong type (for most keys).
    Retype(&'static str),
}

fn edit() -> impl proptest::strategy::Strategy<Value = Edit> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Edit::Delete),
        Just(Edit::Rename),
        prop::sample::select(vec!["\"?\"", "-1", "[1.5]", "{ x = 1 }", "true"])
            .prop_map(Edit::Retype),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn the_example_mangled_is_a_config_or_problems_naming_every_renamed_key(
        edits in proptest::collection::btree_map(0usize..1000, edit(), 1..6)
    ) {
        let text = std::fs::read_to_string(example()).expect("example file");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let written: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                let line = lines[i].trim();
                !line.is_empty() && !line.starts_with('#')
            })
            .collect();
        let mut renamed = Vec::new();
        let mut deleted = Vec::new();
        // One edit per line: the first one picked.
        let mut edited = BTreeSet::new();
        for (pick, edit) in &edits {
            let i = written[pick % written.len()];
            if !edited.insert(i) {
                continue;
            }
            let line = lines[i].clone();
            match (edit, line.split_once(" = ")) {
                (Edit::Delete, _) => deleted.push(i),
                (Edit::Rename, Some((key, value))) => {
                    let key = format!("{}_renamed", key.trim());
                    lines[i] = format!("{key} = {value}");
                    renamed.push(key);
                }
                (Edit::Retype(value), Some((key, _))) => lines[i] = format!("{key} = {value}"),
                // A table's header is left as it is but for deletion.
                (_, None) => {}
            }
        }
        deleted.sort_unstable();
        for i in deleted.into_iter().rev() {
            lines.remove(i);
        }
        let text = lines.join("\n");
        match config::parse(&text) {
            Ok(config) => {
                proptest::prop_assert!(renamed.is_empty(), "renamed keys accepted:\n{text}");
                let _ = config.validate_with(&standard_env());
            }
            Err(e) => {
                proptest::prop_assert!(!e.problems.is_empty());
                // Not TOML any more (a deleted header can make a key repeat): one problem.
                let syntax = e.problems.iter().any(|p| p.path.is_empty());
                if !syntax {
                    for key in &renamed {
                        proptest::prop_assert!(
                            e.problems.iter().any(|p| p.path.ends_with(key.as_str())),
                            "{key} not named in\n{e}\nfor\n{text}"
                        );
                    }
                    let lines_in_order = e.problems.windows(2).all(|w| w[0].line <= w[1].line);
                    proptest::prop_assert!(lines_in_order, "{e}");
                }
            }
        }
    }
}

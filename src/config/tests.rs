use super::*;

fn problem(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

/// What validation finds in `text`, with the default token variable set.
fn problems_with_a_token(text: &str) -> Vec<String> {
    let config = parse(text).expect("parses");
    config
        .validate_with(&|name: &str| (name == DEFAULT_TOKEN_ENV).then(|| "t".to_string()))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn line_and_column_count_characters_not_bytes() {
    let text = "a = \"é\"\nbé = [";
    assert_eq!(line_column(text, 0), (1, 1));
    assert_eq!(line_column(text, text.find('b').unwrap_or(0)), (2, 1));
    assert_eq!(line_column(text, text.len()), (2, 7));
    // An offset inside a multi-byte character is not a panic.
    assert_eq!(line_column(text, 6), (1, 6));
}

#[test]
fn duration_errors_say_what_is_wrong() {
    let hint = "write durations like \"30s\", \"5m\" or \"1h 30m\"";
    assert_eq!(
        problem("[poll]\ninterval = \"\""),
        format!("poll.interval (line 2): \"\" is not a duration: it is empty; {hint}")
    );
    assert_eq!(
        problem("[poll]\ninterval = \"30\""),
        format!("poll.interval (line 2): \"30\" is not a duration: the unit is missing; {hint}")
    );
    assert_eq!(
        problem("[poll]\ninterval = \"soon\""),
        format!("poll.interval (line 2): \"soon\" is not a duration; {hint}")
    );
    assert_eq!(
        problem("[poll]\ninterval = \"99999999999999999999999y\""),
        format!(
            "poll.interval (line 2): \"99999999999999999999999y\" is not a duration: it is too large; {hint}"
        )
    );
    assert_eq!(
        problem("[poll]\ninterval = 1.5"),
        "poll.interval (line 2): 1.5 is not a duration: durations are strings with a unit, like \"1.5s\" or \"1.5m\""
    );
    assert_eq!(
        problem("[poll]\ninterval = true"),
        "poll.interval (line 2): invalid type: boolean `true`, expected a duration like \"30s\", \"5m\" or \"1h 30m\""
    );
}

#[test]
fn sync_stale_after_takes_auto_or_a_duration() {
    let after = |text: &str| parse(text).map(|c| c.rules.sync_stale.after);
    assert_eq!(
        after("[rules.sync_stale]\nafter = \"auto\""),
        Ok(StaleAfter::Auto)
    );
    assert_eq!(
        after("[rules.sync_stale]\nafter = \"90m\""),
        Ok(StaleAfter::Fixed(Duration::from_secs(5400)))
    );
    assert_eq!(
        problem("[rules.sync_stale]\nafter = \"later\""),
        "rules.sync_stale.after (line 2): \"later\" is not \"auto\" or a duration; write durations like \"30s\", \"5m\" or \"1h 30m\""
    );
    let config = parse("[rules.sync_stale]\nafter = \"0s\"").expect("parses");
    assert!(config
        .rules
        .validate_problems()
        .contains(&"rules.sync_stale.after: must be more than 0s, or \"auto\"".to_string()));
}

#[test]
fn serde_type_names_become_words() {
    assert_eq!(
        problem("[shard]\ncount = 5000000000"),
        "shard.count (line 2): invalid value: integer `5000000000`, expected a whole number from 0 to 4294967295"
    );
    assert_eq!(
        problem("[api]\nmax_requests_per_second = \"fast\""),
        "api.max_requests_per_second (line 2): invalid type: string \"fast\", expected a number"
    );
    assert_eq!(
        problem("[api]\nca_file = 3"),
        "api.ca_file (line 2): invalid type: integer `3`, expected a file path"
    );
}

#[test]
fn a_key_defined_twice_is_a_syntax_error_with_its_place() {
    assert_eq!(
        problem("[api]\npage_size = 1\npage_size = 2\n"),
        "TOML syntax error at line 3, column 1: duplicate key `page_size` in table `api`"
    );
}

#[test]
fn empty_ca_file_means_none() {
    let config = parse("[api]\nca_file = \"\"").expect("parses");
    assert_eq!(config.api.ca_file, None);
    assert_eq!(config.api.ca_pem(), Ok(None));
}

#[test]
fn bad_header_names_and_values_are_refused_without_showing_the_value() {
    let found = problems_with_a_token(
        "[api]\nbase_url = \"https://api.example/v1\"\n[[alerting.receivers]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://h.example/\"\nheaders = { \"Bad Name\" = \"x\", X-Auth = \"secret\\nvalue\" }",
    );
    assert_eq!(
        found,
        [
            "alerting.receivers[0].headers.\"Bad Name\": is not a valid HTTP header name",
            "alerting.receivers[0].headers.X-Auth: holds characters not allowed in an HTTP header value",
        ]
    );
}

#[test]
fn receiver_with_every_url_key_lists_them_all() {
    let config = parse(
        "[[alerting.receivers]]\nname = \"r\"\nkind = \"alertmanager\"\nurl = \"https://a/\"\nurl_env = \"A\"\nurl_file = \"/a\"",
    )
    .expect("parses");
    assert_eq!(
        config.alerting.receivers[0].url_at("r", &|_: &str| None),
        Err(Problem::new(
            "r",
            "url, url_env and url_file are all set; set only one of url, url_env or url_file"
        ))
    );
}

#[test]
fn odd_variable_names_are_unset_not_a_panic() {
    assert_eq!(process_env(""), None);
    assert_eq!(process_env("A=B"), None);
    assert_eq!(process_env("A\0B"), None);
}

#[test]
fn sizes_take_units_or_bytes() {
    for (text, bytes) in [
        ("8MiB", 8 << 20),
        ("8 mib", 8 << 20),
        (" 512KiB ", 512 << 10),
        ("1GiB", 1 << 30),
        ("10MB", 10_000_000),
        ("500kB", 500_000),
        ("4096", 4096),
        ("4096B", 4096),
    ] {
        assert_eq!(ByteSize::parse(text), Ok(ByteSize(bytes)), "{text}");
    }
    for bad in [
        "",
        "MiB",
        "8 parsecs",
        "-1MiB",
        "1.5MiB",
        "99999999999999999999GiB",
    ] {
        assert!(ByteSize::parse(bad).is_err(), "{bad}");
    }
    let config = parse("[api]\nmax_body_size = 65536").expect("parses");
    assert_eq!(config.api.max_body_size, ByteSize(65536));
    let config = parse("[api]\nmax_body_size = \"2MiB\"").expect("parses");
    assert_eq!(config.api.max_body_size.to_string(), "2 MiB");
    assert!(problem("[api]\nmax_body_size = \"lots\"").starts_with("api.max_body_size (line 2): "));
    assert!(problem("[api]\nmax_body_size = -1").contains("negative"));
    // What is written reads back.
    let text = toml::to_string(&ApiConfig::default()).expect("serialises");
    assert!(text.contains("max_body_size = \"8MiB\""), "{text}");
}

#[test]
fn upstream_limits_are_validated() {
    let found = problems_with_a_token(
        "[api]\nbase_url = \"https://api.example/v1\"\nmax_body_size = 100\nmax_profiles = 0\nmax_label_length = 8",
    );
    assert_eq!(
        found,
        [
            "api.max_body_size: must be between 1 KiB and 1 GiB, got 100 bytes",
            "api.max_profiles: must be between 1 and 10000000, got 0",
            "api.max_label_length: must be between 16 and 65536, got 8",
        ]
    );
    let defaults = ApiConfig::default();
    assert_eq!(
        (
            defaults.max_body_size.bytes(),
            defaults.max_profiles,
            defaults.max_label_length
        ),
        (8 << 20, 200_000, 256)
    );
}

#[test]
fn secret_and_problem_display() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
    assert_eq!(Problem::new("", "whole file").to_string(), "whole file");
    assert_eq!(Problem::new("a.b", "bad").to_string(), "a.b: bad");
}

impl RulesConfig {
    fn validate_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.check(&mut out);
        out.iter().map(ToString::to_string).collect()
    }
}

// ---------------------------------------------------------------------------------------
// Every problem in one run

/// What loading `text` reports, as `check` prints it, with the default token set.
fn all_problems(text: &str) -> Vec<String> {
    let env = |name: &str| (name == DEFAULT_TOKEN_ENV).then(|| "t".to_string());
    match load_text(text, &env, Lookups::All) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn five_mistakes_are_five_problems_in_one_run_in_line_order() {
    let text = "\
[api]
bsae_url = \"https://x.example/api/v1\"
[poll]
intervall = \"30s\"
[alerting]
group_wait = \"ten seconds\"
[[alerting.receivers]]
name = \"ops\"
kind = \"slak\"
url = \"https://hooks.example/x\"
[[alerting.receivers]]
name = \"hook\"
kind = \"webhook\"
url = \"https://h.example/\"
urll = \"https://h.example/\"
";
    let found: Vec<(String, Option<usize>)> = parse(text)
        .expect_err("refused")
        .problems
        .into_iter()
        .map(|p| (p.path, p.line))
        .collect();
    let expected = [
        ("api.bsae_url", 2),
        ("poll.intervall", 4),
        ("alerting.group_wait", 6),
        ("alerting.receivers[0].kind", 9),
        ("alerting.receivers[1].urll", 15),
    ]
    .map(|(path, line)| (path.to_string(), Some(line)));
    assert_eq!(found, expected);

    let printed = problem(text);
    assert!(
        printed.starts_with("api.bsae_url (line 2): unknown field `bsae_url`, expected one of"),
        "{printed}"
    );
    assert!(
        printed.contains("\nalerting.group_wait (line 6): \"ten seconds\" is not a duration"),
        "{printed}"
    );
    assert!(
        printed.contains("\nalerting.receivers[0].kind (line 9): unknown variant `slak`, expected one of `slack`"),
        "{printed}"
    );

    // Loading adds what validation finds (the base URL the typo left unset), in line
    // order, and nothing about the receiver whose kind was refused.
    let found = all_problems(text);
    assert_eq!(found.len(), 6, "{found:#?}");
    assert_eq!(
        found[0],
        "api.base_url (line 1): is required, e.g. \"https://control.example.com/api/v1\""
    );
    assert!(
        found[1].starts_with("api.bsae_url (line 2): "),
        "{found:#?}"
    );
}

#[test]
fn unknown_keys_are_found_in_nested_tables_arrays_of_tables_and_inline_tables() {
    let text = "\
[rules.errors]
threshhold = 3
[rules.connectivity]
for = \"5m\"
severety = \"warning\"
[[alerting.receivers]]
name = \"a\"
kind = \"log\"
[[alerting.receivers]]
name = \"b\"
kind = \"telegram\"
url = \"https://b.example/\"
matchers = { severity = \"critical\" }
";
    let found: Vec<(String, Option<usize>)> = parse(text)
        .expect_err("refused")
        .problems
        .into_iter()
        .map(|p| (p.path, p.line))
        .collect();
    let expected = [
        ("rules.errors.threshhold", 2),
        ("rules.connectivity.severety", 5),
        ("alerting.receivers[1].kind", 11),
        ("alerting.receivers[1].matchers", 13),
    ]
    .map(|(path, line)| (path.to_string(), Some(line)));
    assert_eq!(found, expected);
}

#[test]
fn wrong_types_are_each_reported_and_the_rest_still_checked() {
    let text = "\
[api]
base_url = \"https://x.example/api/v1\"
page_size = \"ten\"
concurrency = 0
[alerting]
send_resolved = \"yes\"
[[alerting.receivers]]
name = \"hook\"
kind = \"webhook\"
url = \"https://h.example/\"
headers = { X-Count = 1 }
match_severity = \"critical\"
match_organization = [
  \"acme\",
  2,
]
";
    assert_eq!(
        all_problems(text),
        [
            "api.page_size (line 3): invalid type: string \"ten\", expected a whole number from 0 to 4294967295",
            "api.concurrency (line 4): must be between 1 and 1024, got 0",
            "alerting.send_resolved (line 6): invalid type: string \"yes\", expected a boolean",
            "alerting.receivers[0].headers.X-Count (line 11): invalid type: integer `1`, expected a string",
            "alerting.receivers[0].match_severity (line 12): invalid type: string \"critical\", expected a sequence",
            "alerting.receivers[0].match_organization[1] (line 15): invalid type: integer `2`, expected a string",
        ]
    );
}

#[test]
fn a_refused_value_is_not_reported_again_by_validation() {
    // base_url refused for its type is not also "required"; a refused kind says nothing
    // of the URL the kind would need; a missing name is not also "empty".
    let text = "\
[api]
base_url = 3
[[alerting.receivers]]
name = \"ops\"
kind = \"slak\"
[[alerting.receivers]]
kind = \"slack\"
url = \"https://hooks.example/x\"
[[alerting.receivers]]
name = \"nokind\"
";
    assert_eq!(
        all_problems(text),
        [
            "api.base_url (line 2): invalid type: integer `3`, expected a string",
            "alerting.receivers[0].kind (line 5): unknown variant `slak`, expected one of `slack`, `teams`, `discord`, `google_chat`, `mattermost`, `webhook`, `alertmanager`, `log`",
            "alerting.receivers[1].name (line 6): is required",
            "alerting.receivers[2].kind (line 9): is required",
        ]
    );
}

#[test]
fn duplicates_are_one_problem_each() {
    // A key written twice is not TOML: one problem, with its place, nothing else read.
    assert_eq!(
        problem("[api]\npage_size = 1\nbsae_url = 2\npage_size = 2\n"),
        "TOML syntax error at line 4, column 1: duplicate key `page_size` in table `api`"
    );
    // Two receivers of one name: validation's problem, at the second one's line.
    assert_eq!(
        all_problems(
            "[api]\nbase_url = \"https://x.example/\"\n\
             [[alerting.receivers]]\nname = \"a\"\nkind = \"log\"\n\
             [[alerting.receivers]]\nname = \"a\"\nkind = \"log\"\nlevel = 3\n"
        ),
        [
            "alerting.receivers[1].name (line 7): duplicate receiver name \"a\"",
            "alerting.receivers[1].level (line 9): unknown field `level`, expected one of `name`, `kind`, `url`, `url_env`, `url_file`, `match_severity`, `match_organization`, `match_alertname`, `secret_env`, `secret_file`, `headers`, `template`, `max_alerts`",
        ]
    );
}

#[test]
fn lines_of_paths_point_at_the_key_or_the_table_lacking_it() {
    let text = "[api]\nbase_url = \"x\"\n\n[[alerting.receivers]]\nname = \"a\"\nheaders = { \"X Y\" = \"1\" }\n[[alerting.receivers]]\nname = \"b\"\n";
    let read = read::read(text).expect("TOML");
    let line = |path: &str| read.lines.of(path);
    assert_eq!(line("api.base_url"), Some(2));
    assert_eq!(line("api.token_env"), Some(1), "the table it belongs in");
    assert_eq!(line("alerting.receivers[1]"), Some(7));
    assert_eq!(line("alerting.receivers[1].url"), Some(7));
    assert_eq!(line("alerting.receivers[0].headers.\"X Y\""), Some(6));
    assert_eq!(line("poll.interval"), None, "nothing of it in the file");
    assert_eq!(line(""), None);

    // Dotted keys and tables inline in an array are found too.
    let text = "api.base_url = \"x\"\nrules.errors.threshold = 0\n[alerting]\nreceivers = [\n  { name = \"a\" },\n  { name = \"b\", url = \"u\" },\n]\n";
    let read = read::read(text).expect("TOML");
    let line = |path: &str| read.lines.of(path);
    assert_eq!(line("rules.errors.threshold"), Some(2));
    assert_eq!(line("alerting.receivers[1].url"), Some(6));
    assert_eq!(
        line("alerting.receivers[1].kind"),
        Some(6),
        "the inline table lacking it"
    );
}

/// The parser before every problem was collected: serde over the text, first error only.
fn parse_as_before(text: &str) -> Result<Config, String> {
    serde_path_to_error::deserialize::<_, Config>(toml::Deserializer::new(text)).map_err(
        |e| match e.path().iter().next() {
            None => format!(": {}", e.inner().message()),
            Some(_) => format!("{}: {}", e.path(), e.inner().message()),
        },
    )
}

#[test]
fn valid_files_parse_to_the_same_config_as_before() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for file in [
        "config/inventory-monitor.toml",
        "deploy/compose/inventory-monitor.toml",
    ] {
        texts.push((
            file.to_string(),
            fs::read_to_string(root.join(file)).expect("read"),
        ));
    }
    let manifest = fs::read_to_string(root.join("deploy/kubernetes/configmap.yaml")).expect("read");
    let manifest: serde_json::Value = serde_norway::from_str(&manifest).expect("YAML");
    let embedded = manifest["data"]["config.toml"]
        .as_str()
        .expect("config.toml");
    texts.push(("configmap.yaml".to_string(), embedded.to_string()));
    let mut fixtures: Vec<_> = fs::read_dir(root.join("tests/fixtures/config"))
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    fixtures.sort();
    for file in fixtures {
        texts.push((
            file.display().to_string(),
            fs::read_to_string(&file).expect("read"),
        ));
    }
    let mut compared = 0;
    for (file, text) in texts {
        match (parse_as_before(&text), parse(&text)) {
            (Ok(before), Ok(now)) => {
                compared += 1;
                assert_eq!(
                    serde_json::to_value(&now).expect("JSON"),
                    serde_json::to_value(&before).expect("JSON"),
                    "{file}"
                );
            }
            // What was refused is still refused, its first problem first.
            (Err(before), Err(now)) => {
                let first = &now.problems[0];
                if first.path.is_empty() {
                    assert!(before.starts_with(": "), "{file}: {before} / {now}");
                } else {
                    assert_eq!(
                        format!("{}: {}", first.path, first.message),
                        data_problem_text(&before),
                        "{file}"
                    );
                }
            }
            (before, now) => panic!("{file}: before {before:?}, now {now:?}"),
        }
    }
    assert!(compared >= 10, "only {compared} valid files compared");
}

/// The old parser's raw message as `data_problem` words it.
fn data_problem_text(raw: &str) -> String {
    let (path, message) = raw.split_once(": ").unwrap_or(("", raw));
    data_problem(path.to_string(), message).to_string()
}

#[test]
fn a_table_where_a_name_belongs_is_a_problem_of_its_key_and_reading_goes_on() {
    let found: Vec<(String, Option<usize>)> = parse(
        "[[alerting.receivers]]\nname = \"a\"\nkind = { slack = 1 }\nurl = \"https://a.example/\"\nlevel = 1\n",
    )
    .expect_err("refused")
    .problems
    .into_iter()
    .map(|p| (p.path, p.line))
    .collect();
    assert_eq!(
        found,
        [
            ("alerting.receivers[0].kind".to_string(), Some(3)),
            ("alerting.receivers[0].level".to_string(), Some(5)),
        ]
    );
}

#[test]
fn paths_read_back_into_steps() {
    use read::Step::{Index, Key};
    let key = |k: &str| Key(k.to_string());
    assert_eq!(
        read::steps_of("alerting.receivers[12].headers.\"X \\\"Y\\\"\""),
        Some(vec![
            key("alerting"),
            key("receivers"),
            Index(12),
            key("headers"),
            key("X \"Y\"")
        ])
    );
    assert_eq!(read::steps_of("a[x]"), None);
    assert_eq!(read::steps_of("a.\"open"), None);
}

#[test]
fn notify_test_lookups_skip_the_token_and_other_receivers_secrets_only() {
    let text = "\
[api]
base_url = \"https://x.example/\"
token_env = \"NO_TOKEN\"
[[alerting.receivers]]
name = \"a\"
kind = \"slack\"
url_env = \"A_URL\"
[[alerting.receivers]]
name = \"b\"
kind = \"webhook\"
url_file = \"/nonexistent/b-url\"
secret_env = \"NO_SECRET\"
[[alerting.receivers]]
name = \"c\"
kind = \"teams\"
url = \"ftp://c.example/\"
";
    let env = |name: &str| (name == "A_URL").then(|| "https://a.example/".to_string());
    let found = |lookups| match load_text(text, &env, lookups) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    };
    let inline = "alerting.receivers[2].url (line 16): is not a valid http(s) URL (the scheme must be http or https)";
    assert_eq!(found(Lookups::Receivers(Some("a"))), [inline]);
    assert_eq!(
        found(Lookups::Receivers(None)),
        [
            "alerting.receivers[1].url_file (line 11): cannot read /nonexistent/b-url: no such file",
            "alerting.receivers[1].secret_env (line 12): environment variable NO_SECRET is not set",
            inline,
        ]
    );
    assert_eq!(
        found(Lookups::All)[0],
        "api.token_env (line 3): environment variable NO_TOKEN is not set"
    );
    let both = text.replacen(
        "token_env = \"NO_TOKEN\"\n",
        "token_env = \"NO_TOKEN\"\ntoken_file = \"/t\"\n",
        1,
    );
    match load_text(&both, &env, Lookups::Receivers(Some("a"))) {
        Ok(_) => panic!("accepted"),
        Err(e) => assert_eq!(
            e.problems[0].to_string(),
            "api (line 1): token_env and token_file are both set; set only one"
        ),
    }
}

#[test]
fn flapping_window_and_thresholds_are_validated() {
    let base = "[api]\nbase_url = \"https://api.example/v1\"\n[rules.flapping]\n";
    let found = problems_with_a_token(&format!(
        "{base}window = 2\nhigh = 1.5\nlow = 0\nseverity = \"page\""
    ));
    assert_eq!(
        found,
        [
            "rules.flapping.window: must be between 3 and 100 sweeps, got 2",
            "rules.flapping.high: must be more than 0 and less than 1, got 1.5",
            "rules.flapping.low: must be more than 0 and less than rules.flapping.high (1.5), got 0",
            "rules.flapping.severity: must be one of critical, warning or info, got \"page\"",
        ]
    );
    let found = problems_with_a_token(&format!("{base}window = 101\nhigh = 0.4\nlow = 0.4"));
    assert_eq!(
        found,
        [
            "rules.flapping.window: must be between 3 and 100 sweeps, got 101",
            "rules.flapping.low: must be more than 0 and less than rules.flapping.high (0.4), got 0.4",
        ]
    );
    let found = problems_with_a_token(&format!("{base}high = nan"));
    assert_eq!(
        found,
        ["rules.flapping.high: must be more than 0 and less than 1, got NaN",
         "rules.flapping.low: must be more than 0 and less than rules.flapping.high (NaN), got 0.25"]
    );
    assert!(
        problems_with_a_token(&format!("{base}window = 3\nhigh = 0.99\nlow = 0.01")).is_empty()
    );
    assert_eq!(
        problems_with_a_token(&format!("{base}high = 1.0")),
        ["rules.flapping.high: must be more than 0 and less than 1, got 1"]
    );
    assert!(problem(&format!("{base}windows = 21")).contains("unknown field `windows`"));
    let defaults = FlappingRule::default();
    assert_eq!(
        (
            defaults.enabled,
            defaults.window,
            defaults.high,
            defaults.low,
            defaults.severity.as_str()
        ),
        (true, 21, 0.5, 0.25, "warning")
    );
}

#[test]
fn external_url_is_empty_or_an_http_url() {
    let ok = "[api]\nbase_url = \"http://x/api/v1\"\n[alerting]\nexternal_url = \"https://monitor.example.com/\"\n";
    assert!(problems_with_a_token(ok).is_empty());
    assert_eq!(
        parse(ok).expect("parses").alerting.external_url,
        "https://monitor.example.com/"
    );
    let bad =
        "[api]\nbase_url = \"http://x/api/v1\"\n[alerting]\nexternal_url = \"ftp://monitor\"\n";
    assert_eq!(
        problems_with_a_token(bad),
        ["alerting.external_url: is not a valid http(s) URL (the scheme must be http or https)"]
    );
}

#[test]
fn a_template_is_checked_and_only_chat_kinds_take_one() {
    let problems = all_problems(
        "[api]\nbase_url = \"https://x.example/\"\n\
         [[alerting.receivers]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://h.example/\"\n\
         template = \"{{ title }}\"\n\
         [[alerting.receivers]]\nname = \"slack-ops\"\nkind = \"slack\"\nurl = \"https://h.example/\"\n\
         template = \"{{ title }\"\n",
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "alerting.receivers[0].template (line 7): only chat receivers (slack, teams, \
             discord, google_chat, mattermost) take a template, not a \"webhook\" one"
        ),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("alerting.receivers[1].template (line 12): line 1: syntax error"),
        "{problems:?}"
    );
}

#[test]
fn max_alerts_is_for_machine_receivers_and_bounded() {
    let base = "[api]\nbase_url = \"https://x.example/\"\n";
    let receiver = |kind: &str, max: &str| {
        format!(
            "{base}[[alerting.receivers]]\nname = \"r\"\nkind = \"{kind}\"\nurl = \"https://h.example/x\"\nmax_alerts = {max}\n"
        )
    };
    assert_eq!(
        all_problems(&receiver("webhook", "0")),
        ["alerting.receivers[0].max_alerts (line 7): must be between 1 and 100000, got 0"]
    );
    assert_eq!(
        all_problems(&receiver("alertmanager", "100001")),
        ["alerting.receivers[0].max_alerts (line 7): must be between 1 and 100000, got 100001"]
    );
    assert_eq!(
        all_problems(&receiver("slack", "50")),
        ["alerting.receivers[0].max_alerts (line 7): only \"webhook\" and \"alertmanager\" receivers take max_alerts, not a \"slack\" one (chat messages list at most 20 alerts and say how many more there are)"]
    );
    assert!(all_problems(&receiver("webhook", "-1"))[0]
        .starts_with("alerting.receivers[0].max_alerts (line 7): invalid value"));
    let ok = load_text(
        &receiver("webhook", "250"),
        &|name: &str| (name == DEFAULT_TOKEN_ENV).then(|| "t".to_string()),
        Lookups::All,
    )
    .expect("a valid max_alerts");
    assert_eq!(ok.alerting.receivers[0].max_alerts(), 250);
    assert_eq!(
        ReceiverConfig::new("w", ReceiverKind::Webhook).max_alerts(),
        1_000,
        "the default"
    );
}

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
        format!("poll.interval: \"\" is not a duration: it is empty; {hint}")
    );
    assert_eq!(
        problem("[poll]\ninterval = \"30\""),
        format!("poll.interval: \"30\" is not a duration: the unit is missing; {hint}")
    );
    assert_eq!(
        problem("[poll]\ninterval = \"soon\""),
        format!("poll.interval: \"soon\" is not a duration; {hint}")
    );
    assert_eq!(
        problem("[poll]\ninterval = \"99999999999999999999999y\""),
        format!(
            "poll.interval: \"99999999999999999999999y\" is not a duration: it is too large; {hint}"
        )
    );
    assert_eq!(
        problem("[poll]\ninterval = 1.5"),
        "poll.interval: 1.5 is not a duration: durations are strings with a unit, like \"1.5s\" or \"1.5m\""
    );
    assert_eq!(
        problem("[poll]\ninterval = true"),
        "poll.interval: invalid type: boolean `true`, expected a duration like \"30s\", \"5m\" or \"1h 30m\""
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
        "rules.sync_stale.after: \"later\" is not \"auto\" or a duration; write durations like \"30s\", \"5m\" or \"1h 30m\""
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
        "shard.count: invalid value: integer `5000000000`, expected a whole number from 0 to 4294967295"
    );
    assert_eq!(
        problem("[api]\nmax_requests_per_second = \"fast\""),
        "api.max_requests_per_second: invalid type: string \"fast\", expected a number"
    );
    assert_eq!(
        problem("[api]\nca_file = 3"),
        "api.ca_file: invalid type: integer `3`, expected a file path"
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
    assert!(problem("[api]\nmax_body_size = \"lots\"").starts_with("api.max_body_size: "));
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

use super::text::Interner;
use super::*;

/// A detail of the current revision, as the API sends it.
const CURRENT: &str = r#"{
        "id": 42,
        "name": "Main Warehouse REST",
        "description": "Primary WMS",
        "profile_type": "rest_api",
        "status": "active",
        "endpoint_url": "https://wms-user:wms-pass@wms.example.com/api",
        "authentication_type": "oauth2",
        "ssl_enabled": true,
        "connection_timeout": 30,
        "retry_attempts": 3,
        "sync_frequency": "hourly",
        "last_sync": "2026-01-01T00:00:00Z",
        "last_sync_status": "success",
        "sync_record_count": 15234,
        "organization": {"id": 7, "name": "Acme Logistics"},
        "created_by": {"id": 1, "username": "admin"},
        "created_at": "2025-06-01T12:00:00.123456+02:00",
        "updated_at": "2025-12-31T23:00:00Z",
        "configuration": {"client_secret": "s3cr3t-value", "mapping": {"sku": "item_code"}, "filters": [1, 2, {"deep": [null]}]},
        "health_status": {"connectivity": "healthy", "authentication": "valid", "last_error": null, "error_count_24h": 0}
    }"#;

/// A detail of the legacy revision.
const LEGACY: &str = r#"{
        "id": 9,
        "name": "Old ERP",
        "connection_type": "database",
        "is_active": false,
        "host": "erp.internal",
        "port": 5432,
        "database": "erp",
        "username": "erp_reader",
        "password": "legacy-password",
        "timeout": 30,
        "max_connections": 5,
        "organization": "Main Warehouse",
        "test_status": "failed",
        "last_tested": "2026-01-01T01:30:00.5+01:00"
    }"#;

fn detail(json: &str) -> Profile {
    Profile::parse_detail(json.as_bytes()).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// Unix time of 2026-01-01T00:00:00Z.
const NEW_YEAR_2026: f64 = 1_767_225_600.0;

#[test]
fn current_revision_detail_is_read_in_full() {
    let p = detail(CURRENT);
    assert_eq!(p.id, 42);
    assert_eq!(p.name, "Main Warehouse REST");
    assert_eq!(p.revision, ApiRevision::Current);
    assert_eq!(p.organization.as_deref(), Some("Acme Logistics"));
    assert_eq!(p.profile_type.as_deref(), Some("rest_api"));
    assert_eq!(p.status.as_deref(), Some("active"));
    assert_eq!(p.is_active(), Some(true));
    assert_eq!(p.authentication_type.as_deref(), Some("oauth2"));
    assert_eq!(p.sync_frequency.as_deref(), Some("hourly"));
    assert_eq!(p.last_sync, Some(NEW_YEAR_2026));
    assert_eq!(p.last_sync_status.as_deref(), Some("success"));
    assert_eq!(p.sync_record_count, Some(15234));
    assert_eq!(p.connectivity.as_deref(), Some("healthy"));
    assert_eq!(p.authentication.as_deref(), Some("valid"));
    assert_eq!(p.last_error, None);
    assert_eq!(p.error_count_24h, Some(0));
    assert_eq!(p.last_tested, None);
}

#[test]
fn legacy_revision_is_translated() {
    let p = detail(LEGACY);
    assert_eq!(p.id, 9);
    assert_eq!(p.revision, ApiRevision::Legacy);
    assert_eq!(p.profile_type.as_deref(), Some("database"));
    assert_eq!(p.status.as_deref(), Some("inactive"));
    assert_eq!(p.is_active(), Some(false));
    assert_eq!(p.connectivity.as_deref(), Some("unhealthy"));
    assert_eq!(
        p.authentication, None,
        "the legacy revision says nothing of it"
    );
    assert_eq!(p.organization.as_deref(), Some("Main Warehouse"));
    // 01:30:00.5 at +01:00 is 00:30:00.5 UTC.
    assert_eq!(p.last_tested, Some(NEW_YEAR_2026 + 1800.5));
    assert_eq!(p.last_sync, None);
}

#[test]
fn legacy_test_status_and_is_active_map_as_specified() {
    let p = detail(r#"{"id": 1, "is_active": true, "test_status": "success"}"#);
    assert_eq!(p.revision, ApiRevision::Legacy);
    assert_eq!(p.status.as_deref(), Some("active"));
    assert_eq!(p.connectivity.as_deref(), Some("healthy"));

    let p = detail(r#"{"id": 1, "test_status": "running"}"#);
    assert_eq!(p.connectivity.as_deref(), Some("running"), "kept as sent");
    assert_eq!(p.status, None);

    let p = detail(r#"{"id": 1, "connection_type": "database", "is_active": "yes"}"#);
    assert_eq!(p.revision, ApiRevision::Legacy);
    assert_eq!(p.status, None, "a non-boolean is_active is unknown");
}

#[test]
fn current_fields_win_over_legacy_ones() {
    let p = detail(
        r#"{"id": 1, "profile_type": "rest_api", "connection_type": "database",
                "test_status": "failed", "health_status": {"connectivity": "healthy"}}"#,
    );
    assert_eq!(p.revision, ApiRevision::Current);
    assert_eq!(p.profile_type.as_deref(), Some("rest_api"));
    assert_eq!(p.connectivity.as_deref(), Some("healthy"));

    // `health_status: null` alone still marks the current revision.
    let p = detail(r#"{"id": 1, "test_status": "failed", "health_status": null}"#);
    assert_eq!(p.revision, ApiRevision::Current);
    assert_eq!(p.connectivity, None);
}

#[test]
fn a_body_with_only_an_id_is_all_unknown() {
    let p = detail(r#"{"id": 5}"#);
    assert_eq!(p, Profile::unknown(5, ""));
}

#[test]
fn null_health_status_leaves_every_health_field_unknown() {
    let p = detail(r#"{"id": 3, "name": "x", "status": "active", "health_status": null}"#);
    assert_eq!(p.connectivity, None);
    assert_eq!(p.authentication, None);
    assert_eq!(p.last_error, None);
    assert_eq!(p.error_count_24h, None);
    assert_eq!(p.status.as_deref(), Some("active"));
}

#[test]
fn unknown_enum_values_are_kept_as_sent() {
    let p = detail(
        r#"{"id": 3, "status": "paused", "sync_frequency": "every_7_minutes",
                "last_sync_status": "partial",
                "health_status": {"connectivity": "flaky", "authentication": "expiring",
                                  "last_error": "TLS handshake failed", "error_count_24h": 12}}"#,
    );
    assert_eq!(p.status.as_deref(), Some("paused"));
    assert_eq!(p.is_active(), Some(false));
    assert_eq!(p.sync_frequency.as_deref(), Some("every_7_minutes"));
    assert_eq!(p.last_sync_status.as_deref(), Some("partial"));
    assert_eq!(p.connectivity.as_deref(), Some("flaky"));
    assert_eq!(p.authentication.as_deref(), Some("expiring"));
    assert_eq!(p.last_error.as_deref(), Some("TLS handshake failed"));
    assert_eq!(p.error_count_24h, Some(12));
}

#[test]
fn wrong_types_and_nulls_are_unknown_not_errors() {
    let p = detail(
        r#"{"id": 3, "name": 17, "status": true, "profile_type": ["rest_api"],
                "authentication_type": {"kind": "oauth2"}, "sync_frequency": null,
                "last_sync": 1767225600, "last_sync_status": 1,
                "sync_record_count": "15234", "organization": null,
                "health_status": {"connectivity": 1, "authentication": null,
                                  "last_error": {"msg": "x"}, "error_count_24h": "3"}}"#,
    );
    let mut expected = Profile::unknown(3, "");
    expected.revision = ApiRevision::Current;
    assert_eq!(p, expected);

    let p = detail(r#"{"id": 3, "health_status": "healthy"}"#);
    assert_eq!(p.connectivity, None);
    let p = detail(r#"{"id": 3, "health_status": [1, 2]}"#);
    assert_eq!(p.connectivity, None);
}

#[test]
fn counts_must_be_non_negative_integers() {
    for (json, expected) in [
        (r#"{"id": 1, "sync_record_count": 0}"#, Some(0)),
        (
            r#"{"id": 1, "sync_record_count": 18446744073709551615}"#,
            Some(u64::MAX),
        ),
        (r#"{"id": 1, "sync_record_count": -1}"#, None),
        (r#"{"id": 1, "sync_record_count": 1.5}"#, None),
        (r#"{"id": 1, "sync_record_count": 2.0}"#, None),
        (r#"{"id": 1, "sync_record_count": 1e3}"#, None),
        (
            r#"{"id": 1, "sync_record_count": 18446744073709551616}"#,
            None,
        ),
    ] {
        assert_eq!(detail(json).sync_record_count, expected, "{json}");
    }
    let p = detail(r#"{"id": 1, "health_status": {"error_count_24h": -4}}"#);
    assert_eq!(p.error_count_24h, None);
}

#[test]
fn absurd_values_are_unknown_and_reported() {
    let p = detail(
        r#"{"id": 1, "sync_record_count": -5, "last_sync": "1970-01-01T00:00:00Z",
                "health_status": {"connectivity": "healthy", "error_count_24h": -2.5}}"#,
    );
    assert_eq!(
        (p.sync_record_count, p.last_sync, p.error_count_24h),
        (None, None, None)
    );
    assert_eq!(p.connectivity.as_deref(), Some("healthy"));
    let shown: Vec<String> = p.absurd.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "last_sync before the year 2000",
            "sync_record_count negative",
            "health_status.error_count_24h negative",
        ]
    );

    let p = detail(r#"{"id": 1, "is_active": true, "last_tested": "1999-01-01T00:00:00Z"}"#);
    assert_eq!(p.last_tested, None);
    assert_eq!(
        p.absurd,
        [AbsurdValue {
            field: "last_tested",
            problem: Absurdity::BeforeYear2000
        }]
    );

    // Merely odd types are unknown but not absurd.
    let p = detail(r#"{"id": 1, "sync_record_count": 1.5, "last_sync": "soon"}"#);
    assert_eq!((p.sync_record_count, p.last_sync), (None, None));
    assert!(p.absurd.is_empty());

    let p = page(r#"{"count": -3, "results": []}"#);
    assert_eq!(p.count, None);
    assert_eq!(
        p.absurd,
        [AbsurdValue {
            field: "count",
            problem: Absurdity::Negative
        }]
    );
}

#[test]
fn numbers_beyond_f64_make_the_body_unreadable_not_infinite() {
    // JSON has no NaN or Infinity; a number too large for an f64 is refused by the
    // JSON reader, so no infinite value ever reaches a profile.
    let result = Profile::parse_detail(br#"{"id": 1, "sync_record_count": 1e400}"#);
    assert!(result.is_err(), "{result:?}");
    // Where we do not read the field, the number is skipped without converting it.
    let p = detail(r#"{"id": 1, "configuration": {"x": 1e400}}"#);
    assert_eq!(p.id, 1);
}

#[test]
fn timestamps_far_in_the_future_are_dropped_against_the_clock() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NEW_YEAR_2026 as u64);
    let mut p = detail(
        r#"{"id": 1, "is_active": true, "last_sync": "2026-01-01T23:00:00Z",
                "last_tested": "2026-01-03T00:00:00Z"}"#,
    );
    p.reject_future_timestamps(now);
    assert_eq!(
        p.last_sync,
        Some(NEW_YEAR_2026 + 23.0 * 3600.0),
        "within a day"
    );
    assert_eq!(p.last_tested, None);
    assert_eq!(
        p.absurd,
        [AbsurdValue {
            field: "last_tested",
            problem: Absurdity::FarFuture
        }]
    );
}

#[test]
fn timestamps_accept_offsets_and_fractions() {
    for (text, expected) in [
        ("2026-01-01T00:00:00Z", Some(NEW_YEAR_2026)),
        ("2026-01-01T00:00:00.250Z", Some(NEW_YEAR_2026 + 0.25)),
        (
            "2026-01-01T00:00:00.123456+00:00",
            Some(NEW_YEAR_2026 + 0.123456),
        ),
        ("2026-01-01T05:30:00+05:30", Some(NEW_YEAR_2026)),
        ("2025-12-31T19:00:00-05:00", Some(NEW_YEAR_2026)),
        ("2000-01-01T00:00:00Z", Some(EARLIEST_PLAUSIBLE_TIMESTAMP)),
        ("1999-12-31T23:59:59Z", None),
        ("1969-12-31T23:59:59Z", None),
        ("2026-01-01", None),
        ("2026-01-01T00:00:00", None),
        ("yesterday", None),
        ("2026-13-01T00:00:00Z", None),
        ("", None),
    ] {
        let json = format!(r#"{{"id": 1, "last_sync": "{text}"}}"#);
        let got = detail(&json).last_sync;
        match (got, expected) {
            (Some(g), Some(e)) => assert!((g - e).abs() < 1e-6, "{text}: {g} != {e}"),
            _ => assert_eq!(got, expected, "{text}"),
        }
    }
}

#[test]
fn organization_may_be_a_name_a_number_or_an_object() {
    for (value, expected) in [
        (r#""Acme""#, Some("Acme")),
        ("12", Some("12")),
        ("-3", Some("-3")),
        (r#"{"id": 12, "name": "Acme"}"#, Some("Acme")),
        (r#"{"id": 12}"#, None),
        (r#"{"id": 12, "name": null}"#, None),
        (r#"{"name": 5}"#, None),
        ("[]", None),
        ("true", None),
        ("null", None),
    ] {
        let json = format!(r#"{{"id": 1, "organization": {value}}}"#);
        assert_eq!(detail(&json).organization.as_deref(), expected, "{value}");
    }
}

#[test]
fn the_id_must_be_a_non_negative_integer() {
    for json in [
        r#"{"name": "no id"}"#,
        r#"{"id": null}"#,
        r#"{"id": "42"}"#,
        r#"{"id": -1}"#,
        r#"{"id": 4.2}"#,
        r#"{"id": {"value": 4}}"#,
    ] {
        assert!(
            matches!(
                Profile::parse_detail(json.as_bytes()),
                Err(ParseError::Shape(_))
            ),
            "{json}"
        );
    }
}

#[test]
fn bodies_that_are_not_a_json_object_are_errors() {
    let not_json: [&[u8]; 7] = [
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        br#"{"id": 1, "name": "trunc"#,
        br#"{"id": 1} trailing"#,
        b"\xff\xfe{}",
        br#"{"id": 1, "name": "\ud800"}"#,
        b"{'id': 1}",
    ];
    for body in not_json {
        let result = Profile::parse_detail(body);
        assert!(
            matches!(result, Err(ParseError::NotJson(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    for body in ["[]", "[{\"id\": 1}]", "null", "42", "true", r#""id""#] {
        let result = Profile::parse_detail(body.as_bytes());
        assert!(
            matches!(result, Err(ParseError::Shape(_))),
            "{body}: {result:?}"
        );
    }
}

#[test]
fn errors_do_not_quote_the_body() {
    let Err(e) = Profile::parse_detail(br#""tok-abcdef-secret""#) else {
        panic!("a string body was accepted");
    };
    assert!(!e.to_string().contains("secret"), "{e}");
}

#[test]
fn deep_nesting_is_skipped_without_recursion() {
    // Skipped values are walked iteratively, so nesting costs no stack; a deeply
    // nested `configuration` or list entry is simply ignored.
    let open = "[".repeat(100_000);
    let close = "]".repeat(100_000);
    let p = detail(&format!(r#"{{"id": 1, "configuration": {open}{close}}}"#));
    assert_eq!(p.id, 1);
    let p = page(&format!(r#"{{"results": [{open}{close}, {{"id": 2}}]}}"#));
    assert_eq!((p.items.len(), p.bad_items), (1, 1));
    let nested_object = format!(
        r#"{{"id": 1, "name": {}1{}}}"#,
        r#"{"a":"#.repeat(50_000),
        "}".repeat(50_000)
    );
    assert_eq!(detail(&nested_object).name, "");
    // Where nesting is where an object was expected, it is an error, not a crash.
    assert!(Profile::parse_detail(format!("{open}{close}").as_bytes()).is_err());
}

#[test]
fn hostile_strings_survive_intact() {
    let p = detail(
        r#"{"id": 1, "name": "a\"b\\c\nd\u0000e</script>{{x}}\u202e",
                "organization": "Ölwerk 🚚 \"Nord\"",
                "health_status": {"connectivity": "", "last_error": "line1\r\nline2\tend"}}"#,
    );
    assert_eq!(p.name, "a\"b\\c\nd\u{0}e</script>{{x}}\u{202e}");
    assert_eq!(p.organization.as_deref(), Some("Ölwerk 🚚 \"Nord\""));
    assert_eq!(
        p.connectivity.as_deref(),
        Some(""),
        "empty is a value, kept as sent"
    );
    assert_eq!(p.last_error.as_deref(), Some("line1\r\nline2\tend"));

    let long = "x".repeat(1 << 20);
    let p = detail(&format!(r#"{{"id": 1, "name": "{long}"}}"#));
    assert_eq!(p.name.len(), 1 << 20);
}

#[test]
fn bytes_that_are_not_utf8_fail_a_body_only_where_they_are_read() {
    // A body that is UTF-8 throughout is read as text; any other is read from bytes, where
    // a stray byte in a skipped field is never looked at.
    let p = Profile::parse_detail(b"{\"id\": 1, \"description\": \"caf\xe9\", \"name\": \"ok\"}");
    assert_eq!(p.map(|p| (p.id, p.name)), Ok((1, "ok".to_string())));
    let p = Profile::parse_detail(b"{\"id\": 1, \"configuration\": {\"k\xff\": [\"\xc3\"]}}");
    assert_eq!(p.map(|p| p.id), Ok(1));
    let page = ListPage::parse(b"{\"results\": [{\"id\": 3, \"status\": \"\xfe\"}]}");
    assert_eq!(page.map(|p| p.items.len()), Ok(1));
    // A stray byte in a field that is read makes the body unreadable, as before.
    for body in [
        &b"{\"id\": 1, \"name\": \"caf\xe9\"}"[..],
        b"{\"id\": 1, \"health_status\": {\"connectivity\": \"\xff\"}}",
        b"{\"id\": 1, \"description\": \"\xe9\", \"organization\": \"\xe9\"}",
    ] {
        let result = Profile::parse_detail(body);
        assert!(
            matches!(result, Err(ParseError::NotJson(ref e)) if e.contains("invalid unicode code point")),
            "{:?}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    // Read as text or from bytes, a broken body gets the same error, at the same place.
    let as_text = Profile::parse_detail(b"{\"id\": 1, \"d\": \"e\", \"x\": tru}");
    let as_bytes = Profile::parse_detail(b"{\"id\": 1, \"d\": \"\xe9\", \"x\": tru}");
    assert!(
        matches!(as_text, Err(ParseError::NotJson(_))),
        "{as_text:?}"
    );
    assert_eq!(as_text, as_bytes);
}

#[test]
fn duplicate_keys_do_not_fail_the_body() {
    let p = detail(r#"{"id": 1, "name": "first", "name": "second", "id": 2}"#);
    assert_eq!((p.id, p.name.as_str()), (2, "second"));
}

#[test]
fn sensitive_fields_never_reach_the_profile() {
    let p = detail(CURRENT);
    let shown = format!("{p:?} {}", serde_json::to_string(&p).unwrap_or_default());
    for secret in ["s3cr3t-value", "wms-pass", "wms-user", "item_code"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let p = detail(LEGACY);
    let shown = format!("{p:?}");
    for secret in ["legacy-password", "erp_reader", "erp.internal"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

fn page(json: &str) -> ListPage {
    ListPage::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e}: {json}"))
}

#[test]
fn list_page_is_read() {
    let p = page(
        r#"{"count": 25,
                "next": "https://control.example.com/api/v1/inventory_connection_profile/?limit=2&offset=2",
                "previous": null,
                "results": [
                  {"id": 1, "name": "A", "profile_type": "rest_api", "status": "active",
                   "organization": {"id": 3, "name": "Main Warehouse"}, "last_sync": null},
                  {"id": 2, "name": "B", "organization": 3, "configuration": {"password": "x"}}
                ]}"#,
    );
    assert_eq!(p.count, Some(25));
    assert_eq!(
        p.next.as_deref(),
        Some("https://control.example.com/api/v1/inventory_connection_profile/?limit=2&offset=2")
    );
    assert_eq!(p.bad_items, 0);
    assert_eq!(
        p.items,
        vec![
            ListItem {
                id: 1,
                name: "A".to_string(),
                organization: Some("Main Warehouse".to_string())
            },
            ListItem {
                id: 2,
                name: "B".to_string(),
                organization: Some("3".to_string())
            },
        ]
    );
}

#[test]
fn last_page_has_no_next() {
    for next in ["null", r#""""#, "17", "{}"] {
        let p = page(&format!(r#"{{"count": 0, "next": {next}, "results": []}}"#));
        assert_eq!(p.next, None, "{next}");
    }
    let p = page(r#"{"results": []}"#);
    assert_eq!((p.count, p.next, p.items.len()), (None, None, 0));
}

#[test]
fn unreadable_list_items_are_counted_not_fatal() {
    let p = page(
        r#"{"count": 7, "results": [
                {"id": 1},
                {"id": -1, "name": "negative"},
                {"id": "2", "name": "string id"},
                {"name": "no id"},
                {"id": 2.5},
                "just a string",
                null,
                {"id": 3, "name": null, "organization": [1]}
            ]}"#,
    );
    assert_eq!(p.bad_items, 6);
    assert_eq!(
        p.items,
        vec![
            ListItem {
                id: 1,
                name: String::new(),
                organization: None
            },
            ListItem {
                id: 3,
                name: String::new(),
                organization: None
            },
        ]
    );
}

#[test]
fn odd_counts_are_unknown() {
    for count in ["-1", "2.5", "\"25\"", "null", "[]"] {
        let p = page(&format!(r#"{{"count": {count}, "results": []}}"#));
        assert_eq!(p.count, None, "{count}");
    }
}

#[test]
fn a_page_without_a_results_array_is_an_error() {
    for body in [
        r#"{"count": 1}"#,
        r#"{"count": 1, "results": null}"#,
        r#"{"count": 1, "results": {"id": 1}}"#,
        r#"{"count": 1, "results": "[]"}"#,
        r#"[{"id": 1}]"#,
        r#"{"detail": "Invalid token."}"#,
    ] {
        let result = ListPage::parse(body.as_bytes());
        assert!(
            matches!(result, Err(ParseError::Shape(_))),
            "{body}: {result:?}"
        );
    }
    for body in [
        "",
        "<!doctype html><title>Login</title>",
        r#"{"count": 1, "results": [{"id": 1"#,
    ] {
        let result = ListPage::parse(body.as_bytes());
        assert!(
            matches!(result, Err(ParseError::NotJson(_))),
            "{body}: {result:?}"
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap fuzz: every prefix of valid bodies, and some byte soup.
    for body in [CURRENT, LEGACY] {
        let bytes = body.as_bytes();
        for end in 0..bytes.len() {
            let _ = Profile::parse_detail(&bytes[..end]);
            let _ = ListPage::parse(&bytes[..end]);
        }
    }
    let mut state: u32 = 0x1234_5678;
    for _ in 0..2000 {
        let soup: Vec<u8> = (0..64)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                b"{}[]\":,0123456789-.eE tnrufalsid\\"[(state % 33) as usize]
            })
            .collect();
        let _ = Profile::parse_detail(&soup);
        let _ = ListPage::parse(&soup);
    }
}

#[test]
fn enum_like_values_are_shared_between_profiles() {
    let a = detail(CURRENT);
    let b = detail(CURRENT);
    for (x, y) in [
        (&a.profile_type, &b.profile_type),
        (&a.status, &b.status),
        (&a.authentication_type, &b.authentication_type),
        (&a.sync_frequency, &b.sync_frequency),
        (&a.last_sync_status, &b.last_sync_status),
        (&a.connectivity, &b.connectivity),
        (&a.authentication, &b.authentication),
    ] {
        let (Some(x), Some(y)) = (x, y) else {
            panic!("{x:?} {y:?}: the fixture sets every enum-like field");
        };
        assert!(Text::ptr_eq(x, y), "{x:?} is allocated per profile");
    }
    // The legacy translations share the same values as the current revision's.
    let legacy = detail(r#"{"id": 1, "is_active": true, "test_status": "success"}"#);
    let current =
        detail(r#"{"id": 2, "status": "active", "health_status": {"connectivity": "healthy"}}"#);
    assert!(matches!(
        (&legacy.status, &current.status),
        (Some(x), Some(y)) if Text::ptr_eq(x, y)
    ));
    assert!(matches!(
        (&legacy.connectivity, &current.connectivity),
        (Some(x), Some(y)) if Text::ptr_eq(x, y)
    ));
}

#[test]
fn the_intern_table_is_bounded_and_values_stay_as_sent() {
    let mut table = Interner::default();
    for i in 0..INTERN_CAP + 10 {
        let text = format!("value-{i}");
        assert_eq!(&*table.intern(&text), text);
    }
    assert_eq!(table.values.len(), INTERN_CAP);
    // Values seen before the cap are shared; new ones still come back intact.
    assert!(Text::ptr_eq(
        &table.intern("value-0"),
        &table.intern("value-0")
    ));
    let late = format!("value-{}", INTERN_CAP + 5);
    assert_eq!(&*table.intern(&late), late);
    assert!(!Text::ptr_eq(&table.intern(&late), &table.intern(&late)));

    let long = "x".repeat(INTERN_MAX_LEN + 1);
    let mut table = Interner::default();
    assert_eq!(&*table.intern(&long), long);
    assert_eq!(std::mem::size_of::<Option<Text>>(), 8, "one pointer wide");
    assert!(table.values.is_empty(), "long values are not kept");
    assert_eq!(&*intern(&long), long);
    assert_eq!(
        &*intern(" Weird \u{1F600} value "),
        " Weird \u{1F600} value "
    );
}

#[test]
fn values_sharing_a_slot_of_the_thread_cache_come_back_as_sent_and_shared() {
    // Far more values than the cache has slots, so many share one; each comes back as
    // sent and, asked again from this thread or another, as the same shared copy.
    let values: Vec<String> = (0..300)
        .map(|i| format!("cache-{i}"))
        .chain(["", "a", "ab", "ba", "é", "ü", "abc", "cba"].map(String::from))
        .collect();
    let first: Vec<Text> = values.iter().map(|v| intern(v)).collect();
    for _ in 0..2 {
        for (value, shared) in values.iter().zip(&first) {
            let again = intern(value);
            assert_eq!(again.as_str(), value.as_str());
            assert!(Text::ptr_eq(&again, shared), "{value:?} was not shared");
        }
    }
    let elsewhere = std::thread::spawn(|| intern("cache-7"))
        .join()
        .unwrap_or_else(|_| panic!("the other thread panicked"));
    assert!(Text::ptr_eq(&elsewhere, &first[7]));
}

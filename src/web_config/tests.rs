use std::path::Path;
use std::time::Duration;

use super::auth::is_bcrypt;
use super::*;

fn problems(text: &str) -> Vec<String> {
    match parse(text, Path::new("/nonexistent")) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn empty_file_means_plain_http_without_auth() {
    for text in ["", "# only a comment\n", "{}"] {
        let c = parse(text, Path::new(".")).expect("valid");
        assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
    }
}

#[test]
fn unknown_keys_are_named_with_their_path() {
    let p = problems("tls_server_config:\n  cert_fil: x.pem\n");
    assert_eq!(p.len(), 1);
    assert!(
        p[0].starts_with("tls_server_config.cert_fil: unknown field `cert_fil`"),
        "{p:?}"
    );
    let p = problems("basic_auth:\n  a: b\n");
    assert!(p[0].starts_with("basic_auth: unknown field"), "{p:?}");
}

#[test]
fn bcrypt_hashes_are_checked_without_being_quoted() {
    let p = problems("basic_auth_users:\n  alice: hunter2\n  bob: 31415926\n");
    assert_eq!(p.len(), 2);
    assert!(p[0].starts_with("basic_auth_users.alice: is not a bcrypt hash"));
    assert!(p[1].starts_with("basic_auth_users.bob: is not a bcrypt hash"));
    assert!(!p.concat().contains("hunter2") && !p.concat().contains("31415926"));
    assert!(is_bcrypt(
        "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"
    ));
    assert!(!is_bcrypt(
        "$2y$03$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"
    ));
    assert!(!is_bcrypt("$2y$10$short"));
}

#[test]
fn missing_files_name_the_key_and_the_file() {
    let p = problems("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
    assert_eq!(
        p,
        [
            "tls_server_config.cert_file: cannot read /nonexistent/server.crt: no such file",
            "tls_server_config.key_file: cannot read /nonexistent/server.key: no such file",
        ]
    );
}

#[test]
fn policies_versions_and_headers_are_validated() {
    let p = problems(
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n  \
             min_version: TLS10\n  client_allowed_sans: [x]\n  curve_preferences: [CurveP521]\n\
             http_server_config:\n  headers:\n    X-Frame-Options: allow\n    Server: me\n",
    );
    let joined = p.join("\n");
    for needle in [
        "tls_server_config.client_allowed_sans: is not supported",
        "tls_server_config.min_version: TLS10 is not supported",
        "tls_server_config.client_auth_type: must be one of",
        "tls_server_config.curve_preferences[0]: \"CurveP521\" is not supported",
        "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin",
        "http_server_config.headers.Server: cannot be configured",
    ] {
        assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
    }
}

#[test]
fn verifying_policies_need_a_ca_and_a_ca_needs_a_policy() {
    let p = problems(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
        )
        .join("\n");
    assert!(p.contains("tls_server_config.client_ca_file: is required with client_auth_type RequireAndVerifyClientCert"), "{p}");
    let p = problems("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca: \"x\"\n")
        .join("\n");
    assert!(
        p.contains("tls_server_config.client_ca: is set but client_auth_type is NoClientCert"),
        "{p}"
    );
}

#[test]
fn tls_settings_without_a_certificate_are_refused() {
    let p = problems("tls_server_config:\n  min_version: TLS13\n");
    assert_eq!(
            p,
            ["tls_server_config.min_version: has no effect without cert_file and key_file (TLS is off)"]
        );
    let p = problems("tls_server_config:\n  key_file: k.pem\n").join("\n");
    assert!(
        p.contains("tls_server_config.cert_file: is required to serve TLS"),
        "{p}"
    );
}

#[test]
fn rate_limit_needs_a_burst() {
    let c = parse(
        "rate_limit:\n  interval: 100ms\n  burst: 5\n",
        Path::new("."),
    )
    .expect("valid");
    assert_eq!(
        c.rate_limit,
        Some(RateLimit {
            interval: Duration::from_millis(100),
            burst: 5
        })
    );
    assert!(parse("rate_limit:\n  interval: 0\n", Path::new("."))
        .expect("valid")
        .rate_limit
        .is_none());
    assert_eq!(
            problems("rate_limit:\n  interval: 1s\n"),
            ["rate_limit.burst: must be at least 1 when rate_limit.interval is set (0 would refuse every request)"]
        );
}

#[test]
fn a_rate_limit_interval_must_be_a_duration() {
    let p = problems("rate_limit:\n  interval: soon\n  burst: 1\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("rate_limit.interval: "), "{p:?}");
    assert!(
        p[0].ends_with("; write durations like \"1s\" or \"100ms\""),
        "{p:?}"
    );
    assert_eq!(
        problems("rate_limit:\n  interval: 5\n  burst: 1\n"),
        ["rate_limit.interval: must be a duration like \"1s\" or \"100ms\" (0 turns the limit off)"]
    );
}

#[test]
fn relative_files_are_relative_to_the_web_config() {
    let p = problems(
        "tls_server_config:\n  cert_file: certs/a.pem\n  key: \"\"\n  key_file: /abs/k.pem\n",
    );
    assert!(p[0].contains("/nonexistent/certs/a.pem"), "{p:?}");
    assert!(p[1].contains("cannot read /abs/k.pem"), "{p:?}");
}

//! A rule's `runbook_url` (README, Runbook links): a URL with `{label}` placeholders, each
//! replaced by the alert's label of that name, percent-encoded, so the result becomes the
//! alert's `runbook_url` annotation.
//!
//! Every byte of a value other than the unreserved characters of RFC 3986 (`A-Z a-z 0-9 -
//! . _ ~`) is percent-encoded, `/` and spaces included: a value is one path segment or one
//! query value, whatever it holds (`Main Warehouse` → `Main%20Warehouse`). The template's
//! own text is left as written.

use super::Problem;

/// The labels every alert of a rule has, in the order `check` lists them.
pub const LABELS: [&str; 5] = [
    "alertname",
    "severity",
    "profile_id",
    "profile_name",
    "organization",
];

/// The label only `ProfileFlapping` alerts have: the alertname of the condition that flaps.
pub const FLAPPING_LABEL: &str = "condition";

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Text kept as written.
    Text(&'a str),
    /// `{name}`: the label `name`, encoded.
    Label(&'a str),
}

/// The pieces of `template`, or why it cannot be read.
fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("a '}' without its '{'".to_string());
        }
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("a '{' without its '}'".to_string());
        };
        let name = &after[..close];
        if name.is_empty() || name.contains('{') {
            return Err(format!("{{{name}}} is not a label placeholder"));
        }
        out.push(Piece::Label(name));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Checks the `runbook_url` at `path` of a rule whose alerts have `labels`: every
/// placeholder names one of them, and the URL (with every placeholder filled) is an
/// absolute http(s) URL. Empty means none, and is fine.
pub(super) fn check(out: &mut Vec<Problem>, path: &str, template: &str, labels: &[&str]) {
    if template.is_empty() {
        return;
    }
    let pieces = match pieces(template) {
        Ok(p) => p,
        Err(why) => {
            out.push(Problem::new(path, why));
            return;
        }
    };
    let mut unknown = false;
    for piece in &pieces {
        if let Piece::Label(name) = piece {
            if !labels.contains(name) {
                unknown = true;
                out.push(Problem::new(
                    path,
                    format!(
                        "unknown label {{{name}}}; the labels are {}",
                        labels
                            .iter()
                            .map(|l| format!("{{{l}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    if unknown {
        return;
    }
    let sample = expand_pieces(&pieces, |_| Some("x".to_string()));
    let parsed = reqwest::Url::parse(&sample);
    match parsed {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        Ok(_) => out.push(Problem::new(
            path,
            "is not an http(s) URL: the scheme must be http or https",
        )),
        Err(e) => out.push(Problem::new(path, format!("is not a valid URL ({e})"))),
    }
}

/// `template` with each `{label}` replaced by `label(name)`, percent-encoded ("" for a
/// label the alert lacks). A template that cannot be read (which `check` refuses) gives "".
pub fn expand(template: &str, label: impl Fn(&str) -> Option<String>) -> String {
    match pieces(template) {
        Ok(pieces) => expand_pieces(&pieces, label),
        Err(_) => String::new(),
    }
}

/// The pieces joined, labels filled and encoded.
fn expand_pieces(pieces: &[Piece<'_>], label: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Label(name) => encode_into(&label(name).unwrap_or_default(), &mut out),
        }
    }
    out
}

/// Appends `value` to `out` with every byte but RFC 3986's unreserved ones percent-encoded.
fn encode_into(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(template: &str) -> Vec<String> {
        let mut out = Vec::new();
        check(
            &mut out,
            "rules.connectivity.runbook_url",
            template,
            &LABELS,
        );
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn placeholders_are_filled_and_encoded() {
        let label = |name: &str| match name {
            "alertname" => Some("ProfileConnectivityDegraded".to_string()),
            "organization" => Some("Main Warehouse/β&c?".to_string()),
            _ => None,
        };
        assert_eq!(
            expand(
                "https://wiki.example.com/runbooks/{alertname}?org={organization}&x={severity}",
                label
            ),
            "https://wiki.example.com/runbooks/ProfileConnectivityDegraded\
             ?org=Main%20Warehouse%2F%CE%B2%26c%3F&x="
        );
        assert_eq!(
            expand("https://a.example/plain", label),
            "https://a.example/plain"
        );
    }

    #[test]
    fn a_good_template_passes() {
        assert!(problems("").is_empty());
        assert!(
            problems("https://wiki.example.com/runbooks/{alertname}?profile={profile_id}")
                .is_empty()
        );
    }

    #[test]
    fn an_unknown_placeholder_is_named_with_the_key_path() {
        let p = problems("https://wiki.example.com/{foo}");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("rules.connectivity.runbook_url: unknown label {foo}"),
            "{p:?}"
        );
        // `condition` is a label of ProfileFlapping alerts only.
        assert_eq!(problems("https://w.example/{condition}").len(), 1);
        let mut out = Vec::new();
        let flapping = [&LABELS[..], &[FLAPPING_LABEL]].concat();
        check(
            &mut out,
            "rules.flapping.runbook_url",
            "https://w.example/{condition}",
            &flapping,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_url_that_does_not_parse_is_refused() {
        for bad in [
            "not a url {alertname}",
            "ftp://x.example/{alertname}",
            "https://",
        ] {
            let p = problems(bad);
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert!(
                p[0].starts_with("rules.connectivity.runbook_url: is not"),
                "{p:?}"
            );
        }
        for bad in [
            "https://x.example/{alertname",
            "https://x.example/}",
            "https://x/{}",
        ] {
            assert_eq!(problems(bad).len(), 1, "{bad}");
        }
    }
}

//! A chat receiver's `template` (README, Message templates): a minijinja template whose
//! output is the message text. This file holds what the configuration checks: the one
//! [`environment`] every template is compiled and rendered in, the variables a template
//! may read ([`VARIABLES`]), and [`check`], which compiles a template, looks up every
//! filter and test it names, and renders it over sample notifications, so that
//! `inventory-monitor check` (and a reload) refuses a template that could not render.
//!
//! The notification a template renders over is built in `receivers::template`; the
//! samples here have its shape (a unit test there compares the two).

use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{json, Value};

/// The variables of a template, in the order the README lists them.
pub const VARIABLES: [&str; 9] = [
    "status",
    "kind",
    "receiver",
    "title",
    "alerts",
    "counts",
    "external_url",
    "group_labels",
    "common_labels",
];

/// The environment templates run in: no autoescape (each chat kind escapes the output as
/// text), and "semi-strict" undefined values: printing or iterating over a variable or key
/// that does not exist is an error, while `{% if a.annotations.runbook_url %}` may test
/// for one.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// `line N: what` for a minijinja error.
pub fn describe(e: &minijinja::Error) -> String {
    let what = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// Why `source` is not a usable template (`line 3: unknown filter "shout"`), or `Ok`.
pub fn check(source: &str) -> Result<(), String> {
    let env = environment();
    let template = env.template_from_str(source).map_err(|e| describe(&e))?;
    let globals: Vec<String> = env.globals().map(|(name, _)| name.to_string()).collect();
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !VARIABLES.contains(&name.as_str()) && !globals.contains(name))
        .collect();
    unknown.sort_by_key(|name| first_line(source, name));
    if let Some(name) = unknown.first() {
        return Err(format!(
            "line {}: unknown variable {name:?}; the variables are {}",
            first_line(source, name),
            VARIABLES.join(", ")
        ));
    }
    for (line, what, name) in names_used(source) {
        let probe = match what {
            Used::Filter => format!("{{{{ none|{name} }}}}"),
            Used::Test => format!("{{{{ none is {name} }}}}"),
        };
        if let Err(e) = env.render_str(&probe, ()) {
            let (kind, word) = match what {
                Used::Filter => (ErrorKind::UnknownFilter, "filter"),
                Used::Test => (ErrorKind::UnknownTest, "test"),
            };
            if e.kind() == kind {
                return Err(format!("line {line}: unknown {word} {name:?}"));
            }
        }
    }
    for sample in samples() {
        template
            .render(minijinja::Value::from(Serde(&sample)))
            .map_err(|e| describe(&e))?;
    }
    Ok(())
}

/// The line (from 1) where `word` first appears as a whole word in `source`.
fn first_line(source: &str, word: &str) -> usize {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(at) = source[from..].find(word) {
        let start = from + at;
        let end = start + word.len();
        let before = source[..start].chars().next_back();
        let after = source[end..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return line_of(source, start);
        }
        from = end;
    }
    1
}

/// The line (from 1) of byte offset `at`.
fn line_of(source: &str, at: usize) -> usize {
    source[..at].matches('\n').count() + 1
}

/// What a name after `|` or `is` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Used {
    /// `x | name`, `{% filter name %}`.
    Filter,
    /// `x is name`, `x is not name`.
    Test,
}

/// Every filter and test named in the tags of `source`, with its line: minijinja looks
/// them up only when the expression runs, so a branch the samples never take would hide
/// a misspelt one. String literals and comments are skipped.
fn names_used(source: &str) -> Vec<(usize, Used, String)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = source[rest..].find('{').map(|i| rest + i) {
        let close = match source.get(open + 1..open + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            Some("#") => {
                rest = source[open..]
                    .find("#}")
                    .map_or(source.len(), |i| open + i + 2);
                continue;
            }
            _ => {
                rest = open + 1;
                continue;
            }
        };
        let body_start = open + 2;
        let (words, end) = tag_words(source, body_start, close);
        let mut previous: Option<&str> = None;
        let mut after_is = false;
        for (i, (at, word)) in words.iter().enumerate() {
            let line = line_of(source, *at);
            match (previous, word.as_str()) {
                (Some("|"), w) if is_name(w) => out.push((line, Used::Filter, w.to_string())),
                (Some("filter"), w) if i == 1 && is_name(w) && close == "%}" => {
                    out.push((line, Used::Filter, w.to_string()))
                }
                (Some("is"), "not") => after_is = true,
                (Some("is"), w) if is_name(w) => out.push((line, Used::Test, w.to_string())),
                (Some("not"), w) if after_is && is_name(w) => {
                    out.push((line, Used::Test, w.to_string()))
                }
                _ => {}
            }
            if word != "not" {
                after_is = false;
            }
            previous = Some(word.as_str());
        }
        rest = end;
    }
    out
}

/// True for a name (not a symbol or a literal).
fn is_name(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The words (names, and each symbol on its own) of the tag whose body starts at `start`,
/// with their offsets, up to `close`; string literals are skipped. Also the offset past
/// the tag.
fn tag_words(source: &str, start: usize, close: &str) -> (Vec<(usize, String)>, usize) {
    let mut words: Vec<(usize, String)> = Vec::new();
    let mut chars = source[start..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = start + i;
        if source[at..].starts_with(close) {
            return (words, at + close.len());
        }
        if c == '"' || c == '\'' {
            let mut escaped = false;
            for (_, d) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == c {
                    break;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let mut word = c.to_string();
            while let Some((_, d)) = chars.peek() {
                if d.is_alphanumeric() || *d == '_' {
                    word.push(*d);
                    chars.next();
                } else {
                    break;
                }
            }
            words.push((at, word));
        } else if !c.is_whitespace() {
            words.push((at, c.to_string()));
        }
    }
    (words, source.len())
}

/// Notifications every template must render over: alerts firing and resolved (one with a
/// runbook link, one without), a reminder, and a test (no alert).
fn samples() -> Vec<Value> {
    let alert = |status: &str, name: &str, runbook: bool| {
        let mut annotations = json!({
            "summary": format!("{name} of \"Main DB\" (Main Warehouse)"),
            "description": "health_status.connectivity is \"unhealthy\"",
        });
        if runbook {
            annotations["runbook_url"] = json!("https://wiki.example.com/runbooks/x");
        }
        json!({
            "status": status,
            "labels": {
                "alertname": name,
                "severity": "critical",
                "profile_id": "42",
                "profile_name": "Main DB",
                "organization": "Main Warehouse",
            },
            "annotations": annotations,
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": if status == "resolved" { "2026-01-01T01:00:00Z" } else { "" },
            "fingerprint": "0123456789abcdef",
            "page_url": "https://monitor.example.com/profiles/42",
            "headline": format!("{}: {name} of \"Main DB\"", status.to_uppercase()),
        })
    };
    let notification = |status: &str, kind: &str, alerts: Vec<Value>| {
        let firing = alerts.iter().filter(|a| a["status"] == "firing").count();
        let total = alerts.len();
        json!({
            "status": status,
            "kind": kind,
            "receiver": "ops-chat",
            "title": "[FIRING:1] inventory-monitor",
            "alerts": alerts,
            "counts": {
                "firing": firing,
                "resolved": total - firing,
                "total": total,
                "truncated": 0,
            },
            "external_url": "https://monitor.example.com",
            "group_labels": {},
            "common_labels": { "severity": "critical" },
        })
    };
    vec![
        notification(
            "firing",
            "alerts",
            vec![
                alert("firing", "ProfileConnectivityDegraded", true),
                alert("resolved", "ProfileAuthenticationFailing", false),
            ],
        ),
        notification(
            "firing",
            "reminder",
            vec![alert("firing", "ProfileSyncStale", false)],
        ),
        notification("resolved", "test", Vec::new()),
    ]
}

/// The samples, for the test that compares their shape with the real context's.
#[cfg(test)]
pub(crate) fn sample_contexts() -> Vec<Value> {
    samples()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_template_passes() {
        let source = "{{ title }}\n{% for a in alerts %}{{ a.status | upper }} \
                      {{ a.labels.alertname }}{% if a.annotations.runbook_url %} \
                      {{ a.annotations.runbook_url }}{% endif %}\n{% endfor %}\
                      {% if counts.truncated %}and {{ counts.truncated }} more{% endif %}\
                      {{ \"a|b\" }}{# | nosuchfilter #}{{ alerts | length is not none }}";
        assert_eq!(check(source), Ok(()));
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let e = check("{{ title }}\n{% for a in alerts %}\n{{ a.status }").unwrap_err();
        assert!(e.starts_with("line 3: syntax error"), "{e}");
    }

    #[test]
    fn an_unknown_filter_is_found_in_a_branch_never_taken() {
        let e = check("{{ title }}\n{% if false %}\n{{ title | shout }}{% endif %}").unwrap_err();
        assert_eq!(e, "line 3: unknown filter \"shout\"");
        let e = check("{% filter shout %}x{% endfilter %}").unwrap_err();
        assert_eq!(e, "line 1: unknown filter \"shout\"");
    }

    #[test]
    fn an_unknown_test_is_found() {
        let e = check("\n{% if title is not loud %}x{% endif %}").unwrap_err();
        assert_eq!(e, "line 2: unknown test \"loud\"");
    }

    #[test]
    fn an_unknown_variable_is_named() {
        let e = check("{{ title }}\n\n{{ statuss }}").unwrap_err();
        assert!(e.starts_with("line 3: unknown variable \"statuss\""), "{e}");
    }

    #[test]
    fn an_unknown_key_is_found_by_rendering_the_samples() {
        let e = check("{% for a in alerts %}\n{{ a.lables.alertname }}{% endfor %}").unwrap_err();
        assert!(e.starts_with("line 2: "), "{e}");
    }
}

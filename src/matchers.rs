//! Label matchers in Alertmanager's syntax (README, Silences): `name="value"`, `name!="value"`,
//! `name=~"regex"`, `name!~"regex"`, regexes anchored at both ends. One parser for the
//! configuration (`[[alerting.maintenance]] matchers`), the Alertmanager API, the `silence`
//! command and every filter, so that a matcher means the same wherever it is written.
//!
//! A missing label has the value `""`, as in Alertmanager: `team=""` matches alerts without a
//! `team` label and `team!=""` those that have one.
//!
//! A leaf module: it imports nothing of the crate's.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The longest matcher value or regex accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// The compiled size limit of one matcher's regex (the `regex` crate's `size_limit`).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    /// `=`: equal.
    Equal,
    /// `!=`: not equal.
    NotEqual,
    /// `=~`: the anchored regex matches.
    Regex,
    /// `!~`: the anchored regex does not match.
    NotRegex,
}

impl MatchOp {
    /// The operator as written: `=`, `!=`, `=~` or `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// The operator of Alertmanager's API fields `isRegex` and `isEqual`.
    pub fn from_flags(is_regex: bool, is_equal: bool) -> Self {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }

    /// True for `=~` and `!~`.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    /// True for `=` and `=~`.
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

/// Why a matcher was refused. The message names the matcher as written and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matcher `{text}`: {problem}")]
pub struct MatcherError {
    /// The matcher as written (cut to 120 characters).
    pub text: String,
    /// What is wrong with it.
    pub problem: String,
}

impl MatcherError {
    fn new(text: &str, problem: impl Into<String>) -> Self {
        let text = if text.chars().count() > 120 {
            let cut: String = text.chars().take(117).collect();
            format!("{cut}...")
        } else {
            text.to_string()
        };
        Self {
            text,
            problem: problem.into(),
        }
    }
}

/// One label matcher.
#[derive(Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// The anchored regex of `=~` and `!~`.
    regex: Option<Regex>,
}

impl Matcher {
    /// A matcher from its parts (the Alertmanager API's `name`, `value`, `isRegex`, `isEqual`).
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, MatcherError> {
        let text = format!("{name}{}{}", op.as_str(), quote(value));
        if !is_label_name(name) {
            let problem = if name.is_empty() {
                "the label name is empty".to_string()
            } else {
                format!(
                    "`{name}` is not a label name (letters, digits and `_`, not starting with a digit)"
                )
            };
            return Err(MatcherError::new(&text, problem));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(MatcherError::new(
                &text,
                format!("the value is longer than {MAX_VALUE_BYTES} bytes"),
            ));
        }
        let regex = if op.is_regex() {
            let anchored = format!("^(?:{value})$");
            let compiled = regex::RegexBuilder::new(&anchored)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| MatcherError::new(&text, format!("bad regex: {}", first_line(&e))))?;
            Some(compiled)
        } else {
            None
        };
        Ok(Self {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// One matcher as written: `name="value"`, `name!="value"`, `name=~"re"`, `name!~"re"`.
    /// The value may be left unquoted when it holds no space, comma, quote or brace (as
    /// `amtool` accepts); quoted values take `\"`, `\\` and `\n` escapes.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(MatcherError::new(text, "the matcher is empty"));
        }
        let name_end = trimmed
            .find(|c: char| matches!(c, '=' | '!' | '~') || c.is_whitespace())
            .ok_or_else(|| {
                MatcherError::new(
                    text,
                    "no operator: write name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"",
                )
            })?;
        let name = &trimmed[..name_end];
        let rest = trimmed[name_end..].trim_start();
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchOp::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchOp::Equal, r)
        } else {
            return Err(MatcherError::new(
                text,
                "no operator: write name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"",
            ));
        };
        let rest = rest.trim();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (value, after) = unquote(quoted).map_err(|p| MatcherError::new(text, p))?;
            if !after.trim().is_empty() {
                return Err(MatcherError::new(
                    text,
                    format!("unexpected `{}` after the closing quote", after.trim()),
                ));
            }
            value
        } else {
            if let Some(bad) = rest
                .chars()
                .find(|c| matches!(c, '"' | ',' | '{' | '}') || c.is_whitespace())
            {
                return Err(MatcherError::new(
                    text,
                    format!("unquoted value holds `{bad}`: put the value in double quotes"),
                ));
            }
            rest.to_string()
        };
        Self::new(name, op, &value)
    }

    /// The label this matcher reads.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex as written (unanchored, unescaped).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// True when a label whose value is `value` (`None`: the label is missing, read as `""`)
    /// satisfies this matcher.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            // `new` compiles a regex for both regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

impl fmt::Display for Matcher {
    /// `name="value"` with the value quoted and escaped, so that the output parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), quote(&self.value))
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Serialize for Matcher {
    /// As written: `name="value"`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Matcher::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A matcher as Alertmanager's v2 API writes it (`{"name", "value", "isRegex", "isEqual"}`,
/// `isEqual` true when left out): what the API serves and reads, and what the `silence`
/// command reads back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    /// The label.
    pub name: String,
    /// The value or regex.
    pub value: String,
    /// `=~` or `!~`.
    pub is_regex: bool,
    /// `=` or `=~`.
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl From<&Matcher> for ApiMatcher {
    fn from(m: &Matcher) -> Self {
        ApiMatcher {
            name: m.name().to_string(),
            value: m.value().to_string(),
            is_regex: m.op().is_regex(),
            is_equal: m.op().is_equal(),
        }
    }
}

/// Matchers written as one string: `{a="b", c=~"d"}` (braces optional), separated by commas
/// outside quotes. An empty list is an error: a silence or window that matches everything is
/// written `alertname=~".+"` on purpose, never by accident.
pub fn parse_list(text: &str) -> Result<Vec<Matcher>, MatcherError> {
    let mut inner = text.trim();
    if let Some(rest) = inner.strip_prefix('{') {
        inner = rest
            .strip_suffix('}')
            .ok_or_else(|| MatcherError::new(text, "`{` without a closing `}`"))?;
    }
    let mut matchers = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                let part = &inner[start..i];
                if !part.trim().is_empty() {
                    matchers.push(Matcher::parse(part)?);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = &inner[start..];
    if !last.trim().is_empty() {
        matchers.push(Matcher::parse(last)?);
    }
    if matchers.is_empty() {
        return Err(MatcherError::new(text, "no matchers"));
    }
    Ok(matchers)
}

/// True when every matcher is satisfied by the labels `label` looks up (an empty list
/// matches everything; callers that forbid that check it themselves).
pub fn all_match<'a>(matchers: &[Matcher], label: impl Fn(&str) -> Option<&'a str>) -> bool {
    matchers.iter().all(|m| m.matches(label(m.name())))
}

/// Matchers joined as one string: `{a="b", c=~"d"}`.
pub fn display_list(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers.iter().map(Matcher::to_string).collect();
    format!("{{{}}}", parts.join(", "))
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value inside double quotes and what follows the closing quote.
fn unquote(quoted: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &quoted[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, 'n')) => value.push('\n'),
                // Regexes keep their own escapes (`\.`, `\d`): the backslash stays.
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => return Err("the value ends in a lone `\\`".to_string()),
            },
            other => value.push(other),
        }
    }
    Err("the value has no closing `\"`".to_string())
}

fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

fn first_line(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string())
        .unwrap_or_else(|| text.lines().next().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Matcher {
        Matcher::parse(text).expect(text)
    }

    #[test]
    fn the_four_operators() {
        assert!(m(r#"a="x""#).matches(Some("x")));
        assert!(!m(r#"a="x""#).matches(Some("xy")));
        assert!(m(r#"a!="x""#).matches(Some("y")));
        assert!(m(r#"a=~"leg.*""#).matches(Some("legacy-1")));
        assert!(
            !m(r#"a=~"leg""#).matches(Some("legacy")),
            "anchored at the end"
        );
        assert!(
            !m(r#"a=~"gacy""#).matches(Some("legacy")),
            "anchored at the start"
        );
        assert!(m(r#"a!~"leg.*""#).matches(Some("main")));
        assert!(!m(r#"a!~"leg.*""#).matches(Some("legacy")));
    }

    #[test]
    fn a_missing_label_is_empty() {
        assert!(m(r#"team="""#).matches(None));
        assert!(!m(r#"team!="""#).matches(None));
        assert!(m(r#"team=~".*""#).matches(None));
    }

    #[test]
    fn unquoted_values_and_spaces_around_the_operator() {
        assert_eq!(m("severity=critical").value(), "critical");
        assert_eq!(m(r#" severity = "critical" "#).value(), "critical");
        assert_eq!(m(r#"a=~"legacy-.*""#).op(), MatchOp::Regex);
    }

    #[test]
    fn escapes_round_trip() {
        let original = m(r#"a="say \"hi\" \\ there\nnow""#);
        assert_eq!(original.value(), "say \"hi\" \\ there\nnow");
        assert_eq!(m(&original.to_string()), original);
        assert!(m(r#"a=~"1\.2""#).matches(Some("1.2")));
        assert!(!m(r#"a=~"1\.2""#).matches(Some("1x2")));
    }

    #[test]
    fn errors_name_the_matcher_and_the_problem() {
        let cases = [
            ("", "empty"),
            ("alertname", "no operator"),
            (r#"="x""#, "label name is empty"),
            (r#"1a="x""#, "not a label name"),
            (r#"a=~"(""#, "bad regex"),
            (r#"a="x"#, "no closing"),
            (r#"a="x" b"#, "after the closing quote"),
            ("a=x y", "put the value in double quotes"),
            (r#"a=="x""#, "put the value in double quotes"),
        ];
        for (text, want) in cases {
            let err = Matcher::parse(text).expect_err(text);
            let message = err.to_string();
            assert!(message.contains(want), "{text:?}: {message}");
            assert!(message.starts_with("matcher `"), "{message}");
        }
    }

    #[test]
    fn lists_with_and_without_braces() {
        let list = parse_list(r#"{alertname="A", profile_name=~"x,y|z"}"#).expect("list");
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].value(), "x,y|z");
        assert_eq!(parse_list("a=b,c!=d").expect("list").len(), 2);
        assert!(parse_list("{}").is_err());
        assert!(parse_list("{a=b").is_err());
        assert_eq!(
            display_list(&list),
            r#"{alertname="A", profile_name=~"x,y|z"}"#
        );
    }

    #[test]
    fn all_match_reads_labels() {
        let list = parse_list(r#"organization="Legacy Systems",severity!="info""#).expect("list");
        let labels = [("organization", "Legacy Systems"), ("severity", "critical")];
        let look = |name: &str| labels.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        assert!(all_match(&list, look));
        let other = [("organization", "Main"), ("severity", "critical")];
        let look = |name: &str| other.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        assert!(!all_match(&list, look));
    }

    #[test]
    fn api_flags_map_to_operators() {
        for op in [
            MatchOp::Equal,
            MatchOp::NotEqual,
            MatchOp::Regex,
            MatchOp::NotRegex,
        ] {
            assert_eq!(MatchOp::from_flags(op.is_regex(), op.is_equal()), op);
        }
    }

    #[test]
    fn serde_as_text() {
        let matcher = m(r#"profile_name=~"legacy-.*""#);
        let json = serde_json::to_string(&matcher).expect("serialize");
        assert_eq!(json, r#""profile_name=~\"legacy-.*\"""#);
        let back: Matcher = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, matcher);
        assert!(serde_json::from_str::<Matcher>(r#""nope""#).is_err());
    }
}

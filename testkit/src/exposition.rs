//! A strict parser of the Prometheus text exposition format, version 0.0.4, for tests.
//!
//! Every test that looks at `/metrics` parses the body with [`parse`] and asserts on values,
//! so a malformed body fails loudly instead of being half-read. It follows what Prometheus'
//! own text parser accepts and rejects: one group of lines per metric family, at most one
//! `HELP` and `TYPE` each (before the samples), no duplicate series, only the `\\`, `\"` and
//! `\n` escapes in label values.

use std::collections::{HashMap, HashSet};

/// One metric family of a parsed body: its metadata and its samples, in body order.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name (from `HELP`/`TYPE`, or the first sample's name).
    pub name: String,
    /// The unescaped `# HELP` docstring, when there was one.
    pub help: Option<String>,
    /// The `# TYPE` keyword (`counter`, `gauge`, ...), when there was one.
    pub kind: Option<String>,
    /// The samples, in body order.
    pub samples: Vec<Sample>,
}

/// One sample line of a parsed body.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample name (for histograms and summaries it may carry a `_bucket`, `_sum` or
    /// `_count` suffix the family name does not).
    pub name: String,
    /// Label names and unescaped values, in body order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The optional timestamp, in milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when the sample carries every one of `labels` (it may carry more).
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

impl Family {
    /// The first sample carrying every one of `labels`.
    pub fn sample(&self, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples.iter().find(|s| s.has_labels(labels))
    }
}

/// Why a body is not valid text exposition format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number of the problem.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The family named `name`.
pub fn family<'a>(families: &'a [Family], name: &str) -> Option<&'a Family> {
    families.iter().find(|f| f.name == name)
}

/// Every sample whose own name is `name`, across families, in body order.
pub fn samples_named<'a>(families: &'a [Family], name: &str) -> Vec<&'a Sample> {
    families
        .iter()
        .flat_map(|f| f.samples.iter())
        .filter(|s| s.name == name)
        .collect()
}

/// Every sample named `name` that carries all of `labels` (and possibly more).
pub fn matching<'a>(
    families: &'a [Family],
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a Sample> {
    families
        .iter()
        .flat_map(|f| f.samples.iter())
        .filter(|s| s.name == name && s.has_labels(labels))
        .collect()
}

/// The value of the first sample named `name` that carries all of `labels` (and possibly
/// more); `None` when there is none. Use [`matching`] to check there is exactly one.
pub fn find(families: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families
        .iter()
        .flat_map(|f| f.samples.iter())
        .find(|s| s.name == name && s.has_labels(labels))
        .map(|s| s.value)
}

/// Parses a text exposition body strictly. Never panics, whatever the input.
pub fn parse(text: &str) -> Result<Vec<Family>, ParseError> {
    let mut parser = Parser::default();
    let line_count = text.split('\n').count();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(ParseError {
            line: line_count,
            message: "the body does not end with a newline (truncated?)".into(),
        });
    }
    for (i, line) in text.split('\n').enumerate() {
        parser.line(line).map_err(|message| ParseError {
            line: i + 1,
            message,
        })?;
    }
    Ok(parser.families)
}

/// Parser state: the families so far, and what is needed to spot repeats.
#[derive(Default)]
struct Parser {
    /// Families in body order.
    families: Vec<Family>,
    /// Index of each family name in `families`, to reject a family that reappears.
    by_name: HashMap<String, usize>,
    /// Every series so far (name and sorted labels), to reject duplicates.
    series: HashSet<(String, Vec<(String, String)>)>,
}

type LineResult = Result<(), String>;

impl Parser {
    fn line(&mut self, line: &str) -> LineResult {
        let trimmed = line.trim_matches(is_blank);
        if trimmed.is_empty() {
            return Ok(());
        }
        if let Some(comment) = line.trim_start_matches(is_blank).strip_prefix('#') {
            return self.comment(comment);
        }
        self.sample(line)
    }

    fn comment(&mut self, comment: &str) -> LineResult {
        let comment = comment.trim_start_matches(is_blank);
        let (keyword, rest) = split_blank(comment);
        if keyword != "HELP" && keyword != "TYPE" {
            // Any other comment is allowed and ignored.
            return Ok(());
        }
        let (name, rest) = split_blank(rest.trim_start_matches(is_blank));
        if name.is_empty() {
            return Err(format!("{keyword} line without a metric name"));
        }
        if !is_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        let family = self.family_for_metadata(name)?;
        if keyword == "HELP" {
            if family.help.is_some() {
                return Err(format!("second HELP line for {name}"));
            }
            family.help = Some(unescape_help(rest));
        } else {
            if family.kind.is_some() {
                return Err(format!("second TYPE line for {name}"));
            }
            let kind = rest.trim_matches(is_blank);
            if !matches!(
                kind,
                "counter" | "gauge" | "histogram" | "summary" | "untyped"
            ) {
                return Err(format!("unknown metric type {kind:?} for {name}"));
            }
            family.kind = Some(kind.to_owned());
        }
        Ok(())
    }

    /// The family a `HELP` or `TYPE` line for `name` belongs to: the current one if it is
    /// that family and has no samples yet, else a new one.
    fn family_for_metadata(&mut self, name: &str) -> Result<&mut Family, String> {
        let reuse =
            matches!(self.families.last(), Some(f) if f.name == name && f.samples.is_empty());
        if !reuse {
            if self.by_name.contains_key(name) {
                return Err(format!(
                    "metadata for {name} after its samples or apart from its family"
                ));
            }
            self.push_family(name);
        }
        let last = self.families.len() - 1;
        Ok(&mut self.families[last])
    }

    fn push_family(&mut self, name: &str) {
        self.by_name.insert(name.to_owned(), self.families.len());
        self.families.push(Family {
            name: name.to_owned(),
            help: None,
            kind: None,
            samples: Vec::new(),
        });
    }

    fn sample(&mut self, line: &str) -> LineResult {
        let mut cur = Cursor { rest: line };
        cur.skip_blank();
        let name = cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if !is_metric_name(name) {
            return Err(format!("invalid sample line {:?}", truncate(line)));
        }
        let mut blank_before_value = cur.rest.starts_with(is_blank);
        cur.skip_blank();
        let mut labels = Vec::new();
        if cur.eat('{') {
            labels = parse_labels(&mut cur)?;
            blank_before_value = cur.rest.starts_with(is_blank);
        }
        if !blank_before_value {
            return Err(format!("expected a blank before the value of {name}"));
        }
        cur.skip_blank();
        let value_text = cur.take_while(|c| !is_blank(c));
        let value =
            parse_value(value_text).ok_or_else(|| format!("invalid value {value_text:?}"))?;
        cur.skip_blank();
        let timestamp_ms = if cur.rest.is_empty() {
            None
        } else {
            let ts = cur.take_while(|c| !is_blank(c));
            Some(
                ts.parse::<i64>()
                    .map_err(|_| format!("invalid timestamp {:?}", truncate(ts)))?,
            )
        };
        cur.skip_blank();
        if !cur.rest.is_empty() {
            return Err(format!(
                "unexpected text after the sample: {:?}",
                truncate(cur.rest)
            ));
        }

        let mut key_labels = labels.clone();
        key_labels.sort();
        if !self.series.insert((name.to_owned(), key_labels)) {
            return Err(format!("duplicate series {}", truncate(line)));
        }
        let family = self.family_for_sample(name)?;
        family.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
            timestamp_ms,
        });
        Ok(())
    }

    /// The family a sample named `name` belongs to: the current one when the name is its
    /// name (or a histogram/summary suffix of it), else a new one. Samples of one family must
    /// be contiguous.
    fn family_for_sample(&mut self, name: &str) -> Result<&mut Family, String> {
        let belongs = match self.families.last() {
            Some(f) if f.name == name => true,
            Some(f) => {
                matches!(f.kind.as_deref(), Some("histogram") | Some("summary"))
                    && name
                        .strip_prefix(f.name.as_str())
                        .is_some_and(|suffix| matches!(suffix, "_bucket" | "_sum" | "_count"))
            }
            None => false,
        };
        if !belongs {
            if self.by_name.contains_key(name) {
                return Err(format!("samples of {name} are not grouped together"));
            }
            self.push_family(name);
        }
        let last = self.families.len() - 1;
        Ok(&mut self.families[last])
    }
}

/// A position in a line being parsed.
struct Cursor<'a> {
    /// What is left of the line.
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_blank(&mut self) {
        self.rest = self.rest.trim_start_matches(is_blank);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !f(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }
}

/// Parses the label set after its opening `{`, up to and including the closing `}`.
fn parse_labels(cur: &mut Cursor<'_>) -> Result<Vec<(String, String)>, String> {
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        cur.skip_blank();
        if cur.eat('}') {
            return Ok(labels);
        }
        let name = cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_label_name(name) {
            return Err(format!("invalid label name near {:?}", truncate(cur.rest)));
        }
        if name == "__name__" {
            return Err("the label name __name__ is reserved".into());
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(format!("label {name} appears twice"));
        }
        cur.skip_blank();
        if !cur.eat('=') {
            return Err(format!("expected = after label {name}"));
        }
        cur.skip_blank();
        if !cur.eat('"') {
            return Err(format!("expected a quoted value for label {name}"));
        }
        let value = unescape_label_value(cur)?;
        labels.push((name.to_owned(), value));
        cur.skip_blank();
        if cur.eat(',') {
            continue;
        }
        cur.skip_blank();
        if cur.eat('}') {
            return Ok(labels);
        }
        return Err(format!("expected , or }} after label {name}"));
    }
}

/// Reads a label value after its opening quote, up to and including the closing quote.
fn unescape_label_value(cur: &mut Cursor<'_>) -> Result<String, String> {
    let mut value = String::new();
    let mut chars = cur.rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                cur.rest = &cur.rest[i + 1..];
                return Ok(value);
            }
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => {
                    return Err(format!("invalid escape \\{other} in a label value"))
                }
                None => return Err("unterminated label value".into()),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value".into())
}

fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            // Prometheus keeps other backslashes in docstrings as they are.
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A sample value: a float as Go's `ParseFloat` reads it (`NaN`, `+Inf`, `-Inf`, `1e3`, ...).
fn parse_value(text: &str) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    text.parse::<f64>().ok()
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits at the first blank: the word before it and the text after that one blank.
fn split_blank(text: &str) -> (&str, &str) {
    match text.find(is_blank) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// At most 80 characters of `text`, for error messages.
fn truncate(text: &str) -> &str {
    match text.char_indices().nth(80) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_typical_body() {
        let body = "\
# HELP up Whether the target is up.
# TYPE up gauge
up{job=\"a\",instance=\"x:1\"} 1
up{job=\"b\",instance=\"y:2\",} 0 1700000000000
# a free comment
requests_total 42

# TYPE latency histogram
latency_bucket{le=\"0.5\"} 3
latency_bucket{le=\"+Inf\"} 4
latency_sum 1.5
latency_count 4
";
        let families = parse(body).unwrap();
        let names: Vec<_> = families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["up", "requests_total", "latency"]);
        assert_eq!(
            families[0].help.as_deref(),
            Some("Whether the target is up.")
        );
        assert_eq!(families[1].help, None);
        assert_eq!(families[1].kind, None);
        assert_eq!(families[2].samples.len(), 4);
        assert_eq!(find(&families, "up", &[("job", "b")]), Some(0.0));
        assert_eq!(find(&families, "up", &[("job", "c")]), None);
        assert_eq!(find(&families, "requests_total", &[]), Some(42.0));
        assert_eq!(samples_named(&families, "latency_bucket").len(), 2);
        assert_eq!(matching(&families, "up", &[]).len(), 2);
        assert_eq!(families[0].samples[1].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(
            family(&families, "up")
                .and_then(|f| f.sample(&[("instance", "y:2")]))
                .map(|s| s.value),
            Some(0.0)
        );
    }

    #[test]
    fn rejects_malformed_bodies_with_the_line_number() {
        let bad: &[(&str, usize)] = &[
            ("m 1", 1),                              // no final newline
            ("m\n", 1),                              // no value
            ("m one\n", 1),                          // not a number
            ("m{a=\"b\"}1\n", 1),                    // no blank before the value
            ("m{a=\"b\" 1\n", 1),                    // unclosed label set
            ("m{a=\"b} 1\n", 1),                     // unterminated value
            ("m{a=b} 1\n", 1),                       // unquoted value
            ("m{a=\"\\x\"} 1\n", 1),                 // bad escape
            ("m{1a=\"b\"} 1\n", 1),                  // bad label name
            ("m{a=\"b\",a=\"c\"} 1\n", 1),           // repeated label
            ("m{__name__=\"x\"} 1\n", 1),            // reserved label
            ("1m 1\n", 1),                           // bad metric name
            ("m 1 2 3\n", 1),                        // trailing text
            ("m 1 1.5\n", 1),                        // non-integer timestamp
            ("m{a=\"b\"} 1\nm{a=\"b\"} 2\n", 2),     // duplicate series
            ("m 1\nn 1\nm{a=\"c\"} 1\n", 3),         // family not contiguous
            ("# TYPE m gauge\n# TYPE m gauge\n", 2), // second TYPE
            ("# HELP m a\n# HELP m b\n", 2),         // second HELP
            ("m 1\n# TYPE m gauge\n", 2),            // TYPE after samples
            ("# TYPE m sometype\n", 1),              // unknown type
            ("# TYPE\n", 1),                         // no name
            ("# HELP 9x help\n", 1),                 // bad name
            ("m{a=\"b\"} 1\n\u{0}\n", 2),            // garbage
        ];
        for (body, line) in bad {
            match parse(body) {
                Ok(f) => panic!("accepted {body:?}: {f:?}"),
                Err(e) => assert_eq!(e.line, *line, "{body:?}: {e}"),
            }
        }
    }

    #[test]
    fn empty_body_has_no_families() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("\n\n# just a comment\n").unwrap(), vec![]);
    }
}

//! The Prometheus text exposition format, version 0.0.4: escaping and a small writer.
//!
//! The writer is deliberately low level (it appends to a `String` and never allocates on its
//! own) because [`crate::metrics`] writes a hundred thousand profiles' series per sweep with
//! it. Its other half, the strict parser every test reads `/metrics` with, lives in the test
//! kit (`testkit/`), since nothing in the daemon parses exposition text.

use std::fmt::Write as _;

/// The type of a metric family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A value that only goes up (and resets on restart).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A histogram (`_bucket`, `_sum`, `_count` samples).
    Histogram,
    /// A summary (quantile samples, `_sum`, `_count`).
    Summary,
    /// No type given.
    Untyped,
}

impl MetricType {
    /// The keyword of the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
        }
    }
}

/// Appends `v` escaped for use inside a label value's quotes: `\` → `\\`, `"` → `\"`,
/// newline → `\n`. Everything else (unicode, `}`, `,`, `=`) is kept as is: inside quotes it
/// is harmless.
pub fn escape_label_value(out: &mut String, v: &str) {
    escape(out, v, true);
}

/// Appends `v` escaped for a `# HELP` docstring: `\` → `\\`, newline → `\n`.
pub fn escape_help(out: &mut String, v: &str) {
    escape(out, v, false);
}

fn escape(out: &mut String, v: &str, quotes: bool) {
    // Copy runs of harmless bytes at once: most values have nothing to escape.
    let mut rest = v;
    while let Some(pos) = rest.find(|c| c == '\\' || c == '\n' || (quotes && c == '"')) {
        out.push_str(&rest[..pos]);
        out.push_str(match rest.as_bytes()[pos] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        rest = &rest[pos + 1..];
    }
    out.push_str(rest);
}

/// Appends the `# HELP` and `# TYPE` lines of family `name`.
pub fn write_help_type(out: &mut String, name: &str, help: &str, kind: MetricType) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(out, help);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// Appends one sample line: `name{l1="v1",...} value`. Label values are escaped; an empty
/// label list writes no braces. Only the round-trip tests write lines this generic way: the
/// renderers write theirs from pre-escaped label blocks.
#[cfg(test)]
fn write_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    out.push('\n');
}

/// Appends a sample value the way Prometheus spells it: `NaN`, `+Inf`, `-Inf`, integers
/// without a fraction (`1`, not `1.0`), other numbers in the shortest form that reads back
/// to the same `f64`.
pub fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // `Display` of f64 is the shortest round-trip form and never uses an exponent.
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory_monitor_testkit::exposition::parse;

    const HOSTILE: &[&str] = &[
        "",
        "plain",
        "a \"quoted\" word",
        "back\\slash",
        "trailing backslash\\",
        "\\\"",
        "\\n is not a newline",
        "line one\nline two\n",
        "\n",
        "naïve café 東京 🚀",
        "} 1\nfake_metric{a=\"b\"} 2",
        "a,b=c",
        "x=\"y\",z=\"w\"",
        "\t tabs and spaces \t",
        "# HELP not a comment",
    ];

    fn body_with_label(v: &str) -> String {
        let mut out = String::new();
        write_help_type(&mut out, "m", "help", MetricType::Gauge);
        write_sample(&mut out, "m", &[("a", v), ("b", "after")], 1.0);
        out
    }

    #[test]
    fn escaping_round_trips_hostile_label_values() {
        for v in HOSTILE {
            let body = body_with_label(v);
            let families = parse(&body).unwrap_or_else(|e| panic!("{v:?}: {e}\n{body}"));
            assert_eq!(families.len(), 1, "{v:?} split the family:\n{body}");
            let samples = &families[0].samples;
            assert_eq!(samples.len(), 1, "{v:?} forged a sample:\n{body}");
            assert_eq!(samples[0].label("a"), Some(*v));
            assert_eq!(samples[0].label("b"), Some("after"));
            assert_eq!(samples[0].value, 1.0);
        }
    }

    #[test]
    fn escapes_exactly_backslash_quote_and_newline() {
        let mut out = String::new();
        escape_label_value(&mut out, "a\\b\"c\nd}e,f=g");
        assert_eq!(out, r#"a\\b\"c\nd}e,f=g"#);
        let mut help = String::new();
        escape_help(&mut help, "say \"hi\"\\\n");
        assert_eq!(help, r#"say "hi"\\\n"#);
    }

    #[test]
    fn help_text_round_trips() {
        for v in HOSTILE {
            let mut out = String::new();
            write_help_type(&mut out, "m", v, MetricType::Counter);
            let families = parse(&out).unwrap_or_else(|e| panic!("{v:?}: {e}\n{out}"));
            assert_eq!(families[0].help.as_deref(), Some(*v));
            assert_eq!(families[0].kind.as_deref(), Some("counter"));
        }
    }

    #[test]
    fn values_are_written_the_prometheus_way() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.0, "0"),
            (-3.0, "-3"),
            (1_767_225_600.0, "1767225600"),
            (0.1, "0.1"),
            (1.5e-7, "0.00000015"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            let mut out = String::new();
            write_value(&mut out, *v);
            assert_eq!(out, *want);
        }
    }

    #[test]
    fn values_read_back_exactly() {
        for v in [
            0.1,
            1.0 / 3.0,
            f64::MAX,
            f64::MIN_POSITIVE,
            -2.5e-300,
            1_767_225_600.123_456,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut out = String::new();
            write_sample(&mut out, "v", &[], v);
            let families = parse(&out).unwrap();
            assert_eq!(families[0].samples[0].value, v, "{out}");
        }
        let families = parse("v NaN\n").unwrap();
        assert!(families[0].samples[0].value.is_nan());
    }

    #[test]
    fn never_panics_on_garbage() {
        // Every prefix and every single-byte corruption of a valid body.
        let mut good = String::new();
        write_help_type(
            &mut good,
            "m_total",
            "a \"help\"\\ text",
            MetricType::Counter,
        );
        write_sample(
            &mut good,
            "m_total",
            &[("a", "x\"y\\z\nw"), ("b", "東京")],
            1.25,
        );
        write_sample(&mut good, "m_total", &[("a", "2")], f64::NAN);
        for end in 0..=good.len() {
            if let Some(prefix) = good.get(..end) {
                let _ = parse(prefix);
            }
        }
        let bytes = good.as_bytes();
        for i in 0..bytes.len() {
            for b in [
                b'"', b'\\', b'\n', b'{', b'}', b',', b'=', b' ', b'#', b'x', b'9',
            ] {
                let mut v = bytes.to_vec();
                v[i] = b;
                if let Ok(s) = std::str::from_utf8(&v) {
                    let _ = parse(s);
                }
            }
        }
        assert!(parse(&good).is_ok());
    }
}

//! Django REST Framework's `LimitOffsetPagination`, to the letter: how `limit` and
//! `offset` are read, and how the absolute `next`/`previous` links are written.
//!
//! DRF rebuilds links with Python's `urllib.parse`: the query string is parsed
//! (`parse_qs(keep_blank_values=True)`), `limit`/`offset` replaced or removed, and the
//! result re-encoded with `urlencode(sorted(...), doseq=True)`: keys sorted, repeated
//! keys kept, `quote_plus` escaping. Clients that compare links textually see exactly
//! what a real deployment sends.

use std::collections::BTreeMap;

/// Limit when none (or an invalid one) is given.
pub(super) const DEFAULT_LIMIT: u64 = 20;
/// Largest limit served; larger ones are cut to it.
pub(super) const MAX_LIMIT: u64 = 100;

/// A list request's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListQuery {
    /// Every parameter as sent (decoded), grouped by key in first-seen order of values.
    params: BTreeMap<String, Vec<String>>,
    /// Page size.
    pub limit: u64,
    /// Index of the first item.
    pub offset: u64,
    /// Lower-cased `name` filter, when non-empty.
    pub name: Option<String>,
}

impl ListQuery {
    /// Reads a raw query string (without `?`).
    pub fn parse(raw: &str) -> Self {
        let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in parse_qsl(raw) {
            params.entry(key).or_default().push(value);
        }
        // Django's `QueryDict.__getitem__` answers the last value of a repeated key.
        let last = |key: &str| params.get(key).and_then(|v| v.last()).map(String::as_str);
        let limit = last("limit")
            .and_then(python_int)
            .filter(|&l| l > 0)
            .map_or(DEFAULT_LIMIT, |l| l.min(MAX_LIMIT as i128) as u64);
        let offset = last("offset")
            .and_then(python_int)
            .filter(|&o| o >= 0)
            .map_or(0, |o| o.min(u64::MAX as i128) as u64);
        let name = last("name")
            .filter(|n| !n.is_empty())
            .map(str::to_lowercase);
        Self {
            params,
            limit,
            offset,
            name,
        }
    }

    /// `next` for a result of `count` items: `None` on the last page, or when `looping`
    /// the first page again. `base` is the absolute URL without the query.
    pub fn next(&self, base: &str, count: u64, looping: bool) -> Option<String> {
        if self.offset.saturating_add(self.limit) >= count {
            return looping
                .then(|| self.link(base, Some(0)))
                .filter(|_| count > 0);
        }
        Some(self.link(base, Some(self.offset + self.limit)))
    }

    /// `previous`: `None` on the first page; without `offset` when it would be <= 0.
    pub fn previous(&self, base: &str) -> Option<String> {
        if self.offset == 0 {
            return None;
        }
        if self.offset <= self.limit {
            return Some(self.link(base, None));
        }
        Some(self.link(base, Some(self.offset - self.limit)))
    }

    /// `base` with this query, `limit` set to the effective limit and `offset` set (or
    /// removed when `None`).
    fn link(&self, base: &str, offset: Option<u64>) -> String {
        let mut params = self.params.clone();
        params.insert("limit".into(), vec![self.limit.to_string()]);
        match offset {
            Some(o) => {
                params.insert("offset".into(), vec![o.to_string()]);
            }
            None => {
                params.remove("offset");
            }
        }
        let query = urlencode(&params);
        if query.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{query}")
        }
    }
}

/// Python's `int(text)` for the values a query carries: surrounding whitespace, an
/// optional sign, ASCII digits (single underscores between digits allowed). Huge values
/// saturate, which is all that limits and offsets need.
fn python_int(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i128 = 0;
    for c in digits.chars() {
        match c {
            '0'..='9' => {
                value = value
                    .saturating_mul(10)
                    .saturating_add(i128::from(c as u8 - b'0'))
            }
            '_' => {}
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

/// Python's `parse_qsl(raw, keep_blank_values=True)`.
pub(super) fn parse_qsl(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (unquote_plus(key), unquote_plus(value))
        })
        .collect()
}

/// Python's `unquote_plus`: `+` is a space, `%XX` a byte, invalid escapes kept as they
/// are, bytes read as UTF-8 with replacement characters.
fn unquote_plus(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Python's `urlencode(sorted(params.items()), doseq=True)`.
fn urlencode(params: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    for (key, values) in params {
        for value in values {
            if !out.is_empty() {
                out.push('&');
            }
            quote_plus(key, &mut out);
            out.push('=');
            quote_plus(value, &mut out);
        }
    }
    out
}

/// Python's `quote_plus(text)`: letters, digits and `_.-~` kept, space as `+`, every
/// other UTF-8 byte as `%XX`.
fn quote_plus(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push_str(&format!("{b:02X}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://h:1/api/v1/inventory_connection_profile/";

    #[test]
    fn limit_defaults_clamps_and_falls_back() {
        assert_eq!(ListQuery::parse("").limit, 20);
        assert_eq!(ListQuery::parse("limit=7").limit, 7);
        assert_eq!(ListQuery::parse("limit=500").limit, 100);
        assert_eq!(
            ListQuery::parse("limit=99999999999999999999999999").limit,
            100
        );
        for bad in ["limit=0", "limit=-5", "limit=abc", "limit=", "limit=1.5"] {
            assert_eq!(ListQuery::parse(bad).limit, 20, "{bad}");
        }
        assert_eq!(ListQuery::parse("limit=+30").limit, 30);
        assert_eq!(ListQuery::parse("limit=%2030%20").limit, 30);
        assert_eq!(ListQuery::parse("limit=5&limit=9").limit, 9);
    }

    #[test]
    fn offset_defaults_to_zero() {
        assert_eq!(ListQuery::parse("offset=40").offset, 40);
        for bad in ["offset=-1", "offset=x", ""] {
            assert_eq!(ListQuery::parse(bad).offset, 0, "{bad}");
        }
    }

    #[test]
    fn links_are_rebuilt_like_drf() {
        let q = ListQuery::parse("offset=0&limit=100&name=Lisbon+DC&zeta=1");
        assert_eq!(
            q.next(BASE, 250, false).as_deref(),
            Some("http://h:1/api/v1/inventory_connection_profile/?limit=100&name=Lisbon+DC&offset=100&zeta=1")
        );
        assert_eq!(q.previous(BASE), None);
        let q = ListQuery::parse("limit=100&offset=100");
        assert_eq!(
            q.previous(BASE).as_deref(),
            Some("http://h:1/api/v1/inventory_connection_profile/?limit=100")
        );
        let q = ListQuery::parse("limit=100&offset=200");
        assert_eq!(
            q.previous(BASE).as_deref(),
            Some("http://h:1/api/v1/inventory_connection_profile/?limit=100&offset=100")
        );
        assert_eq!(q.next(BASE, 250, false), None);
        assert_eq!(
            q.next(BASE, 250, true).as_deref(),
            Some("http://h:1/api/v1/inventory_connection_profile/?limit=100&offset=0")
        );
    }

    #[test]
    fn queries_round_trip_with_python_escaping() {
        let q = ListQuery::parse("name=Z%C3%BCrich%20%22x%22&flag&limit=10");
        assert_eq!(q.name.as_deref(), Some("zürich \"x\""));
        assert_eq!(
            q.next(BASE, 30, false).as_deref(),
            Some("http://h:1/api/v1/inventory_connection_profile/?flag=&limit=10&name=Z%C3%BCrich+%22x%22&offset=10")
        );
    }

    #[test]
    fn unquoting_keeps_broken_escapes() {
        assert_eq!(unquote_plus("a%2"), "a%2");
        assert_eq!(unquote_plus("%zz%41"), "%zzA");
        assert_eq!(unquote_plus("%"), "%");
    }
}

//! The status page's query string (README, Status page): the parameters as sent
//! ([`Params`]), what they mean once read ([`Query`]: filters, sort, page), and the links
//! that change one of them.

use serde::Deserialize;

/// A profile whose detail could not be read in the last sweep.
pub(super) const UNREAD: u8 = 1;
/// A profile read, with connectivity or authentication known and bad.
pub(super) const UNHEALTHY: u8 = 2;
/// A profile with a pending or firing alert.
pub(super) const ALERTING: u8 = 4;
/// None of the above.
pub(super) const HEALTHY: u8 = 8;

/// The query parameters of `/`, as sent (README, Status page). Every field is text so
/// that a bad value gets a page saying what is wrong rather than a bare rejection.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Params {
    /// `state`: `alerting`, `unhealthy`, `unread`, `healthy` (empty: all).
    pub state: Option<String>,
    /// `org`: an organization, exactly as shown (case-insensitive).
    pub org: Option<String>,
    /// `q`: a part of the profile's name (case-insensitive).
    pub q: Option<String>,
    /// `alert`: an alertname; only profiles with that alert.
    pub alert: Option<String>,
    /// `sort`: a column ([`SortKey`]).
    pub sort: Option<String>,
    /// `dir`: `asc` or `desc`.
    pub dir: Option<String>,
    /// `page`: from 1.
    pub page: Option<String>,
}

/// Which profiles the fleet table shows, by health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// Every profile.
    All,
    /// Profiles with a pending or firing alert (suppressed or not).
    Alerting,
    /// Profiles read in the last sweep whose connectivity or authentication is known and bad.
    Unhealthy,
    /// Profiles whose detail could not be read in the last sweep.
    Unread,
    /// Read, connectivity and authentication not bad, and no alert.
    Healthy,
}

impl StateFilter {
    /// The choices, in the order the form offers them.
    pub const ALL: [StateFilter; 5] = [
        StateFilter::All,
        StateFilter::Alerting,
        StateFilter::Unhealthy,
        StateFilter::Unread,
        StateFilter::Healthy,
    ];

    /// The value in the query string ("" for all).
    pub fn as_str(self) -> &'static str {
        match self {
            StateFilter::All => "",
            StateFilter::Alerting => "alerting",
            StateFilter::Unhealthy => "unhealthy",
            StateFilter::Unread => "unread",
            StateFilter::Healthy => "healthy",
        }
    }

    /// What the form shows for it.
    pub fn label(self) -> &'static str {
        match self {
            StateFilter::All => "all",
            StateFilter::Alerting => "with alerts",
            StateFilter::Unhealthy => "unhealthy",
            StateFilter::Unread => "not read",
            StateFilter::Healthy => "healthy",
        }
    }

    pub(super) fn flag(self) -> u8 {
        match self {
            StateFilter::All => 0,
            StateFilter::Alerting => ALERTING,
            StateFilter::Unhealthy => UNHEALTHY,
            StateFilter::Unread => UNREAD,
            StateFilter::Healthy => HEALTHY,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A sortable column of the fleet table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Profile name.
    Name,
    /// Organization.
    Organization,
    /// Profile type.
    Type,
    /// Connectivity.
    Connectivity,
    /// Authentication.
    Authentication,
    /// Last sync.
    LastSync,
    /// Errors in 24 h.
    Errors,
    /// Number of alerts.
    Alerts,
}

impl SortKey {
    /// Every column, in table order.
    pub const ALL: [SortKey; 8] = [
        SortKey::Name,
        SortKey::Organization,
        SortKey::Type,
        SortKey::Connectivity,
        SortKey::Authentication,
        SortKey::LastSync,
        SortKey::Errors,
        SortKey::Alerts,
    ];

    /// The value in the query string.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Organization => "organization",
            SortKey::Type => "type",
            SortKey::Connectivity => "connectivity",
            SortKey::Authentication => "authentication",
            SortKey::LastSync => "last_sync",
            SortKey::Errors => "errors",
            SortKey::Alerts => "alerts",
        }
    }

    /// The column's heading.
    pub fn heading(self) -> &'static str {
        match self {
            SortKey::Name => "Name",
            SortKey::Organization => "Organization",
            SortKey::Type => "Type",
            SortKey::Connectivity => "Connectivity",
            SortKey::Authentication => "Authentication",
            SortKey::LastSync => "Last sync",
            SortKey::Errors => "Errors 24 h",
            SortKey::Alerts => "Alerts",
        }
    }

    /// The direction a click on the heading sorts first: worst first for counts and
    /// most recent first for times.
    pub fn natural(self) -> Dir {
        match self {
            SortKey::LastSync | SortKey::Errors | SortKey::Alerts => Dir::Desc,
            _ => Dir::Asc,
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Ascending (unknown values last).
    Asc,
    /// Descending (unknown values first).
    Desc,
}

impl Dir {
    /// The value in the query string.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Asc => "asc",
            Dir::Desc => "desc",
        }
    }

    /// The other direction.
    pub fn flip(self) -> Dir {
        match self {
            Dir::Asc => Dir::Desc,
            Dir::Desc => Dir::Asc,
        }
    }
}

/// The fleet table's filters, sort and page, read from [`Params`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// By health.
    pub state: StateFilter,
    /// By organization ("" for any).
    pub org: String,
    /// By a part of the name ("" for any).
    pub q: String,
    /// By alertname ("" for any).
    pub alert: String,
    /// The column sorted on.
    pub sort: SortKey,
    /// Its direction.
    pub dir: Dir,
    /// The page, from 1.
    pub page: usize,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            state: StateFilter::All,
            org: String::new(),
            q: String::new(),
            alert: String::new(),
            sort: SortKey::Name,
            dir: Dir::Asc,
            page: 1,
        }
    }
}

/// Longest filter text taken from a query string.
pub const MAX_FILTER_LEN: usize = 200;

impl Query {
    /// Reads the parameters; a bad value is an error naming the parameter and what it
    /// takes. Empty values mean "any" (what a GET form sends for an empty field).
    pub fn parse(params: &Params) -> Result<Query, String> {
        let mut query = Query::default();
        let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_string();
        let state = text(&params.state);
        query.state = StateFilter::parse(&state).ok_or_else(|| {
            format!(
                "unknown state `{}`; expected one of: alerting, unhealthy, unread, healthy (or none)",
                cut(&state, 40)
            )
        })?;
        for (name, value, into) in [
            ("org", &params.org, &mut query.org),
            ("q", &params.q, &mut query.q),
            ("alert", &params.alert, &mut query.alert),
        ] {
            let value = text(value);
            if value.chars().count() > MAX_FILTER_LEN {
                return Err(format!(
                    "`{name}` is longer than {MAX_FILTER_LEN} characters"
                ));
            }
            *into = value;
        }
        let sort = text(&params.sort);
        if !sort.is_empty() {
            query.sort = SortKey::parse(&sort).ok_or_else(|| {
                let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown sort `{}`; expected one of: {}",
                    cut(&sort, 40),
                    names.join(", ")
                )
            })?;
        }
        query.dir = match text(&params.dir).as_str() {
            "" => query.sort.natural(),
            "asc" => Dir::Asc,
            "desc" => Dir::Desc,
            other => {
                return Err(format!(
                    "unknown dir `{}`; expected asc or desc",
                    cut(other, 40)
                ))
            }
        };
        let page = text(&params.page);
        if !page.is_empty() {
            query.page = page
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| format!("page `{}` is not a number from 1", cut(&page, 40)))?;
        }
        Ok(query)
    }

    /// True when a filter narrows the table.
    pub fn is_filtered(&self) -> bool {
        self.state != StateFilter::All
            || !self.org.is_empty()
            || !self.q.is_empty()
            || !self.alert.is_empty()
    }

    /// The query string of this view (`?state=unhealthy&page=2`, or `?` alone for the
    /// default one), with only the parameters that differ from the default.
    pub fn href(&self) -> String {
        let mut parts: Vec<(&str, String)> = Vec::new();
        if self.state != StateFilter::All {
            parts.push(("state", self.state.as_str().to_string()));
        }
        for (name, value) in [("org", &self.org), ("q", &self.q), ("alert", &self.alert)] {
            if !value.is_empty() {
                parts.push((name, value.clone()));
            }
        }
        if self.sort != SortKey::Name || self.dir != Dir::Asc {
            parts.push(("sort", self.sort.as_str().to_string()));
            parts.push(("dir", self.dir.as_str().to_string()));
        }
        if self.page > 1 {
            parts.push(("page", self.page.to_string()));
        }
        let mut out = String::from("?");
        for (i, (name, value)) in parts.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(name);
            out.push('=');
            encode_component(value, &mut out);
        }
        out
    }

    /// This view on another page.
    pub fn at_page(&self, page: usize) -> Query {
        Query {
            page,
            ..self.clone()
        }
    }

    /// This view sorted by `key`: a click on the column sorted now flips it, on another
    /// sorts it its natural way; back to page 1.
    pub fn sorted_by(&self, key: SortKey) -> Query {
        let dir = if key == self.sort {
            self.dir.flip()
        } else {
            key.natural()
        };
        Query {
            sort: key,
            dir,
            page: 1,
            ..self.clone()
        }
    }
}

/// Percent-encodes a query-string value: unreserved characters kept, everything else as
/// UTF-8 bytes in `%XX`.
pub fn encode_component(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// `text` cut to `max` characters, with "…" when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

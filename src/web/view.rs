//! The view model of the status page (README, Status page): what the templates show, built
//! from one published sweep ([`StatusSource`]) and nothing else.
//!
//! [`FleetView::build`] runs once per snapshot (on a blocking thread started when the sweep
//! is published): it orders the fleet by every sortable column, tallies the filters'
//! counts and groups the alerts. A request then walks one precomputed order, keeps the rows
//! that pass its filters and copies out only the hundred of its page ([`FleetView::page`]):
//! no sorting and no allocation per profile, so a filtered page of 100,000 profiles costs a
//! few milliseconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::clock::from_unix_seconds;
use crate::rules::{Alert, AlertState};
use crate::snapshot::ProfileEntry;
use crate::status::StatusSource;

/// Rows of the fleet table on one page.
pub const PAGE_SIZE: usize = 100;

/// Alerts listed per alertname in each section of `/`; the rest are a link to the fleet
/// filtered by that alert.
pub const ALERTS_PER_GROUP: usize = 20;

/// Characters of a last error shown in a table cell; the profile's page shows all of it.
pub const ERROR_CUT: usize = 240;

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

    fn flag(self) -> u8 {
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

    fn index(self) -> usize {
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

const UNREAD: u8 = 1;
const UNHEALTHY: u8 = 2;
const ALERTING: u8 = 4;
const HEALTHY: u8 = 8;
const NO_ORG: u32 = u32::MAX;

/// One profile, as the filters see it.
#[derive(Debug)]
struct Row {
    /// Its entry in the snapshot's `profiles`.
    entry: u32,
    /// Its name in lower case, for the search.
    name_lower: Box<str>,
    /// Its organization's index in [`FleetView::orgs`], or [`NO_ORG`].
    org: u32,
    /// [`UNREAD`], [`UNHEALTHY`], [`ALERTING`], [`HEALTHY`].
    flags: u8,
    /// Its alerts, one bit per index in [`FleetView::alertnames`].
    alert_bits: u32,
    /// How many alerts.
    alerts: u16,
}

/// How the alerts are split on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Firing and not suppressed: people are being told.
    Firing,
    /// Pending and not suppressed.
    Pending,
    /// Pending or firing, held back by a silence, a maintenance window or flapping.
    Suppressed,
}

impl Section {
    /// In page order.
    pub const ALL: [Section; 3] = [Section::Firing, Section::Pending, Section::Suppressed];

    /// The section's heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::Firing => "Firing",
            Section::Pending => "Pending",
            Section::Suppressed => "Suppressed",
        }
    }

    fn of(alert: &Alert) -> Section {
        if !alert.suppressed_by.is_empty() {
            Section::Suppressed
        } else if alert.state == AlertState::Firing {
            Section::Firing
        } else {
            Section::Pending
        }
    }
}

/// The alerts of one alertname in one section.
#[derive(Debug, Clone)]
pub struct AlertGroup {
    /// The alertname.
    pub alertname: &'static str,
    /// How many alerts the group has.
    pub total: usize,
    /// The first [`ALERTS_PER_GROUP`] of them (indices into the source's alerts), oldest first.
    pub shown: Vec<usize>,
}

/// Profiles per state, for the summary and the form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every profile.
    pub all: usize,
    /// With an alert.
    pub alerting: usize,
    /// Unhealthy.
    pub unhealthy: usize,
    /// Not read.
    pub unread: usize,
    /// Healthy.
    pub healthy: usize,
}

impl Counts {
    /// The count of one filter.
    pub fn of(&self, state: StateFilter) -> usize {
        match state {
            StateFilter::All => self.all,
            StateFilter::Alerting => self.alerting,
            StateFilter::Unhealthy => self.unhealthy,
            StateFilter::Unread => self.unread,
            StateFilter::Healthy => self.healthy,
        }
    }
}

/// Everything `/` shows of one sweep, indexed for its filters and sorts.
pub struct FleetView {
    /// The sweep.
    pub source: Arc<StatusSource>,
    /// One per profile, in name order (case-insensitive, then id).
    rows: Vec<Row>,
    /// For each [`SortKey`], the rows in its ascending order (name order breaking ties).
    orders: Vec<Vec<u32>>,
    /// Distinct organizations, sorted, with their profile counts.
    pub orgs: Vec<(String, usize)>,
    /// Distinct alertnames of the profiles' alerts, sorted.
    pub alertnames: Vec<&'static str>,
    /// Profiles per state.
    pub counts: Counts,
    /// The alert sections, in [`Section::ALL`] order, each grouped by alertname.
    pub sections: Vec<(Section, usize, Vec<AlertGroup>)>,
    /// Alert indices per profile id.
    alerts_of: BTreeMap<u64, Vec<usize>>,
}

/// One page of the fleet table.
pub struct FleetPage<'a> {
    /// The rows of the page.
    pub rows: Vec<RowView<'a>>,
    /// Profiles that pass the filters.
    pub total: usize,
    /// The page shown (the last one when the query asked past it).
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
}

/// One row of the fleet table.
pub struct RowView<'a> {
    /// The profile.
    pub entry: &'a ProfileEntry,
    /// Its alerts' names.
    pub alerts: Vec<&'static str>,
}

impl RowView<'_> {
    /// Last sync, from this sweep's detail.
    pub fn last_sync(&self) -> Option<SystemTime> {
        self.entry
            .fresh()
            .and_then(|p| p.last_sync)
            .map(from_unix_seconds)
    }
}

/// The profile's connectivity and authentication, known and bad.
pub fn unhealthy(entry: &ProfileEntry) -> bool {
    entry.fresh().is_some_and(|p| {
        p.connectivity.as_deref().is_some_and(|c| c != "healthy")
            || p.authentication.as_deref().is_some_and(|a| a != "valid")
    })
}

/// The last error known of a profile: this sweep's `last_error`, else why its detail
/// could not be read.
pub fn last_error(entry: &ProfileEntry) -> Option<&str> {
    entry
        .fresh()
        .and_then(|p| p.last_error.as_deref())
        .or(entry.error.as_deref())
}

/// Ranks severities for ordering: critical first.
pub fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        "info" => 2,
        _ => 3,
    }
}

/// When an alert's time on the page starts: firing since, else active since.
pub fn since(alert: &Alert) -> SystemTime {
    alert.firing_since.unwrap_or(alert.active_since)
}

impl FleetView {
    /// Indexes one sweep: rows in name order, an order per column, counts, alert groups.
    pub fn build(source: Arc<StatusSource>) -> FleetView {
        let entries = &source.snapshot.profiles;
        let alerts = &source.alerts;

        let mut alerts_of: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut alertnames: Vec<&'static str> = Vec::new();
        for (i, a) in alerts.iter().enumerate() {
            if let Some(id) = a.key.profile_id {
                alerts_of.entry(id).or_default().push(i);
                let name = a.key.alertname.as_str();
                if !alertnames.contains(&name) {
                    alertnames.push(name);
                }
            }
        }
        alertnames.sort_unstable();
        alertnames.truncate(32);

        // Organizations, sorted, each profile pointing at its own.
        let mut org_names: Vec<&str> = entries
            .iter()
            .filter_map(|e| e.organization.as_deref())
            .collect();
        org_names.sort_unstable();
        org_names.dedup();

        let mut counts = Counts {
            all: entries.len(),
            ..Counts::default()
        };
        let mut org_counts = vec![0usize; org_names.len()];
        let mut rows: Vec<Row> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mine = alerts_of.get(&e.id).map_or(&[][..], Vec::as_slice);
                let mut alert_bits = 0u32;
                for &a in mine {
                    let name = alerts[a].key.alertname.as_str();
                    if let Ok(bit) = alertnames.binary_search(&name) {
                        alert_bits |= 1 << bit;
                    }
                }
                let mut flags = 0;
                if !e.up {
                    flags |= UNREAD;
                    counts.unread += 1;
                } else if unhealthy(e) {
                    flags |= UNHEALTHY;
                    counts.unhealthy += 1;
                }
                if !mine.is_empty() {
                    flags |= ALERTING;
                    counts.alerting += 1;
                }
                if flags == 0 {
                    flags = HEALTHY;
                    counts.healthy += 1;
                }
                let org = match e.organization.as_deref() {
                    Some(o) => match org_names.binary_search(&o) {
                        Ok(at) => {
                            org_counts[at] += 1;
                            at as u32
                        }
                        Err(_) => NO_ORG,
                    },
                    None => NO_ORG,
                };
                Row {
                    entry: i as u32,
                    name_lower: e.name.to_lowercase().into_boxed_str(),
                    org,
                    flags,
                    alert_bits,
                    alerts: mine.len().min(usize::from(u16::MAX)) as u16,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            a.name_lower.cmp(&b.name_lower).then_with(|| {
                entries[a.entry as usize]
                    .id
                    .cmp(&entries[b.entry as usize].id)
            })
        });

        let orders = SortKey::ALL
            .iter()
            .map(|&key| order_by(key, &rows, entries))
            .collect();

        let orgs = org_names
            .iter()
            .zip(org_counts)
            .map(|(name, count)| (name.to_string(), count))
            .collect();

        let sections = group_alerts(alerts);

        FleetView {
            source: source.clone(),
            rows,
            orders,
            orgs,
            alertnames,
            counts,
            sections,
            alerts_of,
        }
    }

    /// The alerts of profile `id` (indices into the source's alerts).
    pub fn alerts_of(&self, id: u64) -> &[usize] {
        self.alerts_of.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The alert at `index` of the source.
    pub fn alert(&self, index: usize) -> &Alert {
        &self.source.alerts[index]
    }

    /// The snapshot's entry of profile `id`.
    pub fn entry(&self, id: u64) -> Option<&ProfileEntry> {
        let profiles = &self.source.snapshot.profiles;
        profiles
            .binary_search_by_key(&id, |e| e.id)
            .ok()
            .map(|at| &profiles[at])
    }

    /// One page of the fleet table for `query`: the rows that pass its filters, in its
    /// order, the hundred of its page.
    pub fn page(&self, query: &Query) -> FleetPage<'_> {
        let entries = &self.source.snapshot.profiles;
        let empty = FleetPage {
            rows: Vec::new(),
            total: 0,
            page: 1,
            pages: 1,
        };
        let org =
            if query.org.is_empty() {
                None
            } else {
                match self.orgs.iter().position(|(name, _)| {
                    name.eq_ignore_ascii_case(&query.org) || *name == query.org
                }) {
                    Some(at) => Some(at as u32),
                    None => return empty,
                }
            };
        let alert_bit = if query.alert.is_empty() {
            None
        } else {
            match self.alertnames.iter().position(|n| *n == query.alert) {
                Some(bit) => Some(1u32 << bit),
                None => return empty,
            }
        };
        let needle = query.q.to_lowercase();
        let flag = query.state.flag();
        let passes = |row: &Row| {
            (flag == 0 || row.flags & flag != 0)
                && org.is_none_or(|o| row.org == o)
                && alert_bit.is_none_or(|b| row.alert_bits & b != 0)
                && (needle.is_empty() || row.name_lower.contains(needle.as_str()))
        };
        let order = &self.orders[query.sort.index()];
        let walk = |start: usize, picked: &mut Vec<u32>| -> usize {
            let mut total = 0;
            let mut visit = |&i: &u32| {
                let row = &self.rows[i as usize];
                if passes(row) {
                    if total >= start && picked.len() < PAGE_SIZE {
                        picked.push(i);
                    }
                    total += 1;
                }
            };
            match query.dir {
                Dir::Asc => order.iter().for_each(&mut visit),
                Dir::Desc => order.iter().rev().for_each(&mut visit),
            }
            total
        };
        let mut picked = Vec::with_capacity(PAGE_SIZE);
        let mut page = query.page;
        let total = walk((page - 1).saturating_mul(PAGE_SIZE), &mut picked);
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        if page > pages {
            page = pages;
            picked.clear();
            walk((page - 1) * PAGE_SIZE, &mut picked);
        }
        let rows = picked
            .into_iter()
            .map(|i| {
                let entry = &entries[self.rows[i as usize].entry as usize];
                RowView {
                    entry,
                    alerts: self
                        .alerts_of(entry.id)
                        .iter()
                        .map(|&a| self.alert(a).key.alertname.as_str())
                        .collect(),
                }
            })
            .collect();
        FleetPage {
            rows,
            total,
            page,
            pages,
        }
    }
}

/// The rows in `key`'s ascending order: unknown values last, name order breaking ties.
fn order_by(key: SortKey, rows: &[Row], entries: &[ProfileEntry]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    let entry = |i: u32| &entries[rows[i as usize].entry as usize];
    // `None` sorts after every value: compare (is unknown, value).
    fn text(v: Option<&str>) -> (bool, &str) {
        (v.is_none(), v.unwrap_or(""))
    }
    match key {
        SortKey::Name => {}
        SortKey::Organization => order.sort_by(|&a, &b| {
            let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
            // Org indices are in sorted name order; `NO_ORG` is the largest.
            ra.org.cmp(&rb.org).then(a.cmp(&b))
        }),
        SortKey::Type => order.sort_by(|&a, &b| {
            let t = |i| {
                text(
                    entry(i)
                        .profile
                        .as_deref()
                        .and_then(|p| p.profile_type.as_deref()),
                )
            };
            t(a).cmp(&t(b)).then(a.cmp(&b))
        }),
        SortKey::Connectivity => order.sort_by(|&a, &b| {
            let t = |i| text(entry(i).fresh().and_then(|p| p.connectivity.as_deref()));
            t(a).cmp(&t(b)).then(a.cmp(&b))
        }),
        SortKey::Authentication => order.sort_by(|&a, &b| {
            let t = |i| text(entry(i).fresh().and_then(|p| p.authentication.as_deref()));
            t(a).cmp(&t(b)).then(a.cmp(&b))
        }),
        SortKey::LastSync => order.sort_by(|&a, &b| {
            let t = |i| entry(i).fresh().and_then(|p| p.last_sync);
            match (t(a), t(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then(a.cmp(&b))
        }),
        SortKey::Errors => order.sort_by(|&a, &b| {
            let t = |i| {
                let v = entry(i).fresh().and_then(|p| p.error_count_24h);
                (v.is_none(), v.unwrap_or(0))
            };
            t(a).cmp(&t(b)).then(a.cmp(&b))
        }),
        SortKey::Alerts => order.sort_by(|&a, &b| {
            rows[a as usize]
                .alerts
                .cmp(&rows[b as usize].alerts)
                .then(a.cmp(&b))
        }),
    }
    order
}

/// The alerts split into [`Section`]s, each grouped by alertname (most severe group
/// first, then by name), each group oldest first.
fn group_alerts(alerts: &[Alert]) -> Vec<(Section, usize, Vec<AlertGroup>)> {
    Section::ALL
        .iter()
        .map(|&section| {
            let mut by_name: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
            for (i, a) in alerts.iter().enumerate() {
                if Section::of(a) == section {
                    by_name.entry(a.key.alertname.as_str()).or_default().push(i);
                }
            }
            let total = by_name.values().map(Vec::len).sum();
            let mut groups: Vec<(u8, AlertGroup)> = by_name
                .into_iter()
                .map(|(alertname, mut members)| {
                    members.sort_by(|&x, &y| {
                        let (a, b) = (&alerts[x], &alerts[y]);
                        since(a)
                            .cmp(&since(b))
                            .then_with(|| a.profile_name.cmp(&b.profile_name))
                            .then(x.cmp(&y))
                    });
                    let worst = members
                        .iter()
                        .map(|&i| severity_rank(&alerts[i].severity))
                        .min()
                        .unwrap_or(3);
                    let total = members.len();
                    members.truncate(ALERTS_PER_GROUP);
                    (
                        worst,
                        AlertGroup {
                            alertname,
                            total,
                            shown: members,
                        },
                    )
                })
                .collect();
            groups.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.alertname.cmp(b.1.alertname)));
            (section, total, groups.into_iter().map(|(_, g)| g).collect())
        })
        .collect()
}

/// "3 min ago", "2 h 5 min ago", "4 d 3 h ago", "in 20 s": `t` as seen from `now`.
pub fn relative(t: SystemTime, now: SystemTime) -> String {
    let (gap, future) = match now.duration_since(t) {
        Ok(gap) => (gap, false),
        Err(e) => (e.duration(), true),
    };
    let text = span(gap);
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A duration in at most two units: "45 s", "3 min 20 s", "2 h 5 min", "4 d 3 h".
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (d_, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d_ > 0 {
        format!("{d_} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {sec} s")
    } else {
        format!("{sec} s")
    }
}

/// `2026-12-03 06:12:00 UTC`: an absolute time, with its zone.
pub fn absolute(t: SystemTime) -> String {
    let text = crate::clock::rfc3339(t);
    // rfc3339 is `YYYY-MM-DDTHH:MM:SS[.fff]Z`: show it to the second, in words of the zone.
    let base = text.trim_end_matches('Z');
    let base = base.split('.').next().unwrap_or(base);
    format!("{} UTC", base.replacen('T', " ", 1))
}

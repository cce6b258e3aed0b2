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

use crate::clock::from_unix_seconds;
use crate::rules::{Alert, AlertState};
use crate::snapshot::ProfileEntry;
use crate::status::StatusSource;

pub use super::query::{cut, encode_component, Dir, Params, Query, SortKey, StateFilter};
use super::query::{ALERTING, HEALTHY, UNHEALTHY, UNREAD};

/// Rows of the fleet table on one page.
pub const PAGE_SIZE: usize = 100;

/// Alerts listed per alertname in each section of `/`; the rest are a link to the fleet
/// filtered by that alert.
pub const ALERTS_PER_GROUP: usize = 20;

/// Characters of a last error shown in a table cell; the profile's page shows all of it.
pub const ERROR_CUT: usize = 240;

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
    /// For each [`SortKey`], the rows in its ascending order (name order breaking ties,
    /// unknown values last).
    orders: Vec<Vec<u32>>,
    /// The same, descending: values reversed, unknown values still last, ties still in name
    /// order.
    orders_desc: Vec<Vec<u32>>,
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
            .map(|&key| order_by(key, false, &rows, entries))
            .collect();
        let orders_desc = SortKey::ALL
            .iter()
            .map(|&key| order_by(key, true, &rows, entries))
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
            orders_desc,
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
        let org = if query.org.is_empty() {
            None
        } else {
            let exact = self.orgs.iter().position(|(name, _)| *name == query.org);
            match exact.or_else(|| {
                self.orgs
                    .iter()
                    .position(|(name, _)| name.eq_ignore_ascii_case(&query.org))
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
        let order = match query.dir {
            Dir::Asc => &self.orders[query.sort.index()],
            Dir::Desc => &self.orders_desc[query.sort.index()],
        };
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
            order.iter().for_each(&mut visit);
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

/// The rows in `key`'s order, ascending or descending (`desc`): unknown values last either
/// way, name order breaking ties either way (rows are in name order, so their index is).
fn order_by(key: SortKey, desc: bool, rows: &[Row], entries: &[ProfileEntry]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    let entry = |i: u32| &entries[rows[i as usize].entry as usize];
    // Sorts by (unknown, value: ascending or descending, name order).
    fn by<K: Ord>(order: &mut [u32], desc: bool, key: impl Fn(u32) -> (bool, K)) {
        order.sort_by(|&a, &b| {
            let ((ua, va), (ub, vb)) = (key(a), key(b));
            let values = if desc { vb.cmp(&va) } else { va.cmp(&vb) };
            ua.cmp(&ub).then(values).then(a.cmp(&b))
        });
    }
    fn text(v: Option<&str>) -> (bool, &str) {
        (v.is_none(), v.unwrap_or(""))
    }
    match key {
        SortKey::Name => {
            if desc {
                order.reverse();
            }
        }
        // Org indices are in sorted name order; `NO_ORG` (none) stays last.
        SortKey::Organization => by(&mut order, desc, |i| {
            let org = rows[i as usize].org;
            (org == NO_ORG, org)
        }),
        SortKey::Type => by(&mut order, desc, |i| {
            text(
                entry(i)
                    .profile
                    .as_deref()
                    .and_then(|p| p.profile_type.as_deref()),
            )
        }),
        SortKey::Connectivity => by(&mut order, desc, |i| {
            text(entry(i).fresh().and_then(|p| p.connectivity.as_deref()))
        }),
        SortKey::Authentication => by(&mut order, desc, |i| {
            text(entry(i).fresh().and_then(|p| p.authentication.as_deref()))
        }),
        SortKey::LastSync => by(&mut order, desc, |i| {
            let v = entry(i).fresh().and_then(|p| p.last_sync);
            (v.is_none(), v.map_or(0, total_order_key))
        }),
        SortKey::Errors => by(&mut order, desc, |i| {
            let v = entry(i).fresh().and_then(|p| p.error_count_24h);
            (v.is_none(), v.unwrap_or(0))
        }),
        SortKey::Alerts => by(&mut order, desc, |i| (false, rows[i as usize].alerts)),
    }
    order
}

/// An integer that orders as `f64::total_cmp` orders `v`.
fn total_order_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// The alerts split into [`Section`]s, each grouped by alertname (most severe group
/// first, then by name), each group oldest first.
fn group_alerts(alerts: &[Arc<Alert>]) -> Vec<(Section, usize, Vec<AlertGroup>)> {
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

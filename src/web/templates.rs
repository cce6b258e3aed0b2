//! The pages' HTML, written with `maud`: every value is escaped by the template engine,
//! never assembled by hand. Text that came from the upstream (names, organizations,
//! errors) is wrapped in `<bdi>` so that right-to-left text cannot reorder the page around
//! it. Links are relative, so the pages work behind a reverse proxy's path prefix.

use std::time::{Duration, SystemTime};

use maud::{html, Markup, DOCTYPE};

use super::history::Change;
use super::view::{
    absolute, cut, last_error, relative, span, FleetPage, FleetView, Query, Section, SortKey,
    StateFilter, ERROR_CUT,
};
use crate::rules::AlertState;
use crate::snapshot::{ListOutcome, ProfileEntry};
use crate::suppress::InForce;

/// Organizations offered as suggestions in the filter form, at most.
const ORG_SUGGESTIONS: usize = 200;

/// Transitions listed on `/`.
const RECENT_SHOWN: usize = 15;

/// What [`index`] shows.
pub(super) struct IndexContext<'a> {
    pub view: &'a FleetView,
    pub query: &'a Query,
    pub page: &'a FleetPage<'a>,
    pub in_force: Vec<InForce>,
    pub recent: &'a [Change],
    pub interval: Option<Duration>,
}

fn layout(root: &str, title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) }
                link rel="stylesheet" href={ (root) "static/style.css?v=" (crate::VERSION) };
                link rel="icon" type="image/svg+xml" href={ (root) "static/favicon.svg" };
            }
            body {
                header.top {
                    a.brand href={ (root) "./" } { "inventory-monitor" }
                    nav aria-label="Endpoints" {
                        a href={ (root) "metrics" } { "/metrics" }
                        " "
                        a href={ (root) "api/v1/status" } { "/api/v1/status" }
                        " "
                        a href={ (root) "healthz" } { "/healthz" }
                        " "
                        a href={ (root) "readyz" } { "/readyz" }
                    }
                }
                main { (body) }
                footer {
                    "inventory-monitor " (crate::VERSION)
                    ". Everything on this page is as of the last sweep; reload for the next."
                }
            }
        }
    }
    .into_string()
}

/// Text from outside, isolated for bidirectional layout.
fn bdi(text: &str) -> Markup {
    html! { bdi { (text) } }
}

/// An optional value, or a dash for unknown.
fn maybe(text: Option<&str>) -> Markup {
    match text {
        Some(t) => bdi(t),
        None => html! { span.unknown title="unknown" { "—" } },
    }
}

/// A time, relative to `now` and absolute with its zone.
fn when(t: SystemTime, now: SystemTime) -> Markup {
    html! {
        time datetime=(crate::clock::rfc3339(t)) { (relative(t, now)) }
        " "
        small.abs { (absolute(t)) }
    }
}

/// A word a health value gets as its class: good, bad or neutral.
fn tone(value: Option<&str>, good: &str) -> &'static str {
    match value {
        Some(v) if v == good => "good",
        Some(_) => "bad",
        None => "",
    }
}

pub(super) fn waiting() -> String {
    layout(
        "",
        "inventory-monitor: waiting for the first sweep",
        html! {
            h1 { "Waiting for the first sweep" }
            p { "The monitor has started and has not finished its first sweep yet. This page shows the fleet once it has; reload in a moment." }
        },
    )
}

pub(super) fn bad_request(message: &str) -> String {
    layout(
        "",
        "inventory-monitor: bad filter",
        html! {
            h1 { "This link's filter is not understood" }
            p.problem { (message) }
            p { a href="./" { "Show the whole fleet" } " (README, Status page, lists the parameters)." }
        },
    )
}

pub(super) fn not_found(id: &str) -> String {
    layout(
        "../",
        "inventory-monitor: no such profile",
        html! {
            h1 { "No such profile" }
            p { "The last sweep has no profile with id " code { (cut(id, 40)) } ". It may have been deleted, or be watched by another shard." }
            p { a href="../" { "Back to the fleet" } }
        },
    )
}

fn monitor(ctx: &IndexContext<'_>) -> Markup {
    let source = &ctx.view.source;
    let snap = &source.snapshot;
    let now = source.now;
    let counts = &ctx.view.counts;
    html! {
        section aria-labelledby="monitor" {
            h2 #monitor { "Monitor" }
            dl.facts {
                div { dt { "Version" } dd { (crate::VERSION) } }
                div { dt { "Shard" } dd { (snap.shard.index) " of " (snap.shard.count) } }
                div {
                    dt { "Upstream" }
                    dd {
                        @match &snap.list {
                            ListOutcome::Complete => span.good { "up" },
                            ListOutcome::Incomplete { reason } => {
                                span.warn { "up, walk incomplete" } ": " (bdi(&cut(reason, ERROR_CUT)))
                            }
                            ListOutcome::Failed { kind, message } => {
                                span.bad { "down" } ": " (kind.describe()) " (" (bdi(&cut(message, ERROR_CUT))) ")"
                            }
                        }
                    }
                }
                div { dt { "Last sweep" } dd { (when(snap.started_at, now)) } }
                div { dt { "Took" } dd { (span_fine(snap.duration)) } }
                div {
                    dt { "Complete" }
                    dd { @if snap.walk_complete() { "yes" } @else { span.warn { "no" } } }
                }
                @if let Some(interval) = ctx.interval {
                    div { dt { "Next sweep" } dd { (when(snap.started_at + interval, now)) } }
                }
                div { dt { "Profiles watched" } dd { (counts.all) } }
            }
            ul.tiles aria-label="Profiles by state" {
                @for state in [StateFilter::Alerting, StateFilter::Unhealthy, StateFilter::Unread, StateFilter::Healthy] {
                    li class=(state.as_str()) {
                        a href=(Query { state, ..Query::default() }.href()) {
                            strong { (counts.of(state)) } " " (state.label())
                        }
                    }
                }
            }
        }
    }
}

/// A sweep's duration: milliseconds under a second.
fn span_fine(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        span(d)
    }
}

fn alerts(ctx: &IndexContext<'_>) -> Markup {
    let view = ctx.view;
    let now = view.source.now;
    let total: usize = view.sections.iter().map(|(_, n, _)| n).sum();
    html! {
        section aria-labelledby="alerts" {
            h2 #alerts { "Alerts" }
            @if total == 0 {
                p.calm { "No alert is pending or firing." }
            }
            @for (section, count, groups) in &view.sections {
                @if *count > 0 {
                    h3 class={ "section " (section.title().to_lowercase()) } { (section.title()) " (" (count) ")" }
                    @for group in groups {
                        div.scroll {
                            table.alerts {
                                caption { (group.alertname) " (" (group.total) ")" }
                                thead {
                                    tr {
                                        th scope="col" { "Profile" }
                                        th scope="col" { "Organization" }
                                        th scope="col" { "Severity" }
                                        th scope="col" { "Since" }
                                        th scope="col" { "Last error" }
                                        @if *section == Section::Suppressed { th scope="col" { "Suppressed by" } }
                                    }
                                }
                                tbody {
                                    @for &i in &group.shown {
                                        @let alert = view.alert(i);
                                        @let entry = alert.key.profile_id.and_then(|id| view.entry(id));
                                        tr {
                                            td {
                                                @match alert.key.profile_id {
                                                    Some(id) => a href={ "profiles/" (id) } { (bdi(&alert.profile_name)) },
                                                    None => "the inventory API",
                                                }
                                            }
                                            td { (maybe(Some(&*alert.organization).filter(|o| !o.is_empty()))) }
                                            td { span class={ "sev " (alert.severity) } { (alert.severity) } }
                                            td {
                                                @if alert.state == AlertState::Firing { "firing " } @else { "pending " }
                                                (when(super::view::since(alert), now))
                                            }
                                            td.err {
                                                @match (alert.key.profile_id, entry.and_then(last_error), &view.source.snapshot.list) {
                                                    (Some(_), Some(e), _) => (bdi(&cut(e, ERROR_CUT))),
                                                    (None, _, ListOutcome::Failed { message, .. }) => (bdi(&cut(message, ERROR_CUT))),
                                                    _ => span.unknown { "—" },
                                                }
                                            }
                                            @if *section == Section::Suppressed {
                                                td {
                                                    @for (n, s) in alert.suppressed_by.iter().enumerate() {
                                                        @if n > 0 { ", " }
                                                        (bdi(&s.to_string()))
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @if group.total > group.shown.len() {
                            p.more {
                                a href=(Query { alert: group.alertname.to_string(), ..Query::default() }.href()) {
                                    "All " (group.total) " profiles with " (group.alertname) " in the fleet table"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn in_force(list: &[InForce], now: SystemTime) -> Markup {
    html! {
        @if !list.is_empty() {
            section aria-labelledby="in-force" {
                h2 #in-force { "Silences and maintenance windows in force" }
                div.scroll {
                    table {
                        thead {
                            tr {
                                th scope="col" { "What" }
                                th scope="col" { "Matchers" }
                                th scope="col" { "From" }
                                th scope="col" { "Until" }
                                th scope="col" { "By" }
                                th scope="col" { "Comment" }
                            }
                        }
                        tbody {
                            @for f in list {
                                tr {
                                    td { (bdi(&f.what.to_string())) }
                                    td { code { (f.matchers) } }
                                    td { @match f.starts_at { Some(t) => (when(t, now)), None => span.unknown { "—" } } }
                                    td { @match f.ends_at { Some(t) => (when(t, now)), None => span.unknown { "—" } } }
                                    td { (maybe(Some(f.created_by.as_str()).filter(|s| !s.is_empty()))) }
                                    td { (maybe(Some(f.comment.as_str()).filter(|s| !s.is_empty()).map(|c| cut(c, ERROR_CUT)).as_deref())) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn changes_table(root: &str, list: &[Change], now: SystemTime, with_profile: bool) -> Markup {
    html! {
        div.scroll {
            table.changes {
                thead {
                    tr {
                        th scope="col" { "When" }
                        @if with_profile { th scope="col" { "Profile" } }
                        th scope="col" { "What changed" }
                    }
                }
                tbody {
                    @for c in list {
                        tr {
                            td { (when(c.at, now)) }
                            @if with_profile {
                                td { a href={ (root) "profiles/" (c.profile_id) } { (bdi(&c.profile_name)) } }
                            }
                            td { (bdi(&c.what)) }
                        }
                    }
                }
            }
        }
    }
}

fn fleet(ctx: &IndexContext<'_>) -> Markup {
    let view = ctx.view;
    let query = ctx.query;
    let page = ctx.page;
    let now = view.source.now;
    let first = (page.page - 1) * super::view::PAGE_SIZE + 1;
    let last = first + page.rows.len().saturating_sub(1);
    html! {
        section aria-labelledby="fleet" {
            h2 #fleet { "Fleet" }
            form.filters method="get" action="./" role="search" {
                div {
                    label for="f-q" { "Name contains" }
                    input #f-q type="search" name="q" value=(query.q) maxlength="200";
                }
                div {
                    label for="f-state" { "State" }
                    select #f-state name="state" {
                        @for s in StateFilter::ALL {
                            option value=(s.as_str()) selected[s == query.state] {
                                (s.label()) " (" (view.counts.of(s)) ")"
                            }
                        }
                    }
                }
                div {
                    label for="f-org" { "Organization" }
                    input #f-org type="text" name="org" value=(query.org) list="orgs" maxlength="200";
                    datalist #orgs {
                        @for (name, _) in view.orgs.iter().take(ORG_SUGGESTIONS) {
                            option value=(name) {}
                        }
                    }
                }
                @if !view.alertnames.is_empty() || !query.alert.is_empty() {
                    div {
                        label for="f-alert" { "Alert" }
                        select #f-alert name="alert" {
                            option value="" selected[query.alert.is_empty()] { "any" }
                            @for name in &view.alertnames {
                                option value=(name) selected[*name == query.alert] { (name) }
                            }
                        }
                    }
                }
                @if query.sort != SortKey::Name || query.dir != super::view::Dir::Asc {
                    input type="hidden" name="sort" value=(query.sort.as_str());
                    input type="hidden" name="dir" value=(query.dir.as_str());
                }
                div.buttons {
                    button type="submit" { "Filter" }
                    @if query.is_filtered() { " " a href="./" { "Clear" } }
                }
            }
            p.count role="status" {
                @if page.total == 0 {
                    "No profile matches."
                } @else {
                    "Profiles " (first) "–" (last) " of " (page.total)
                    @if query.is_filtered() { " matching (of " (view.counts.all) ")" }
                    "."
                }
            }
            div.scroll {
                table.fleet {
                    caption.sr { "Profiles, sorted by " (query.sort.heading()) ", " (if query.dir == super::view::Dir::Asc { "ascending" } else { "descending" }) }
                    thead {
                        tr {
                            @for key in SortKey::ALL {
                                @let sorted = key == query.sort;
                                th scope="col" aria-sort=[sorted.then(|| if query.dir == super::view::Dir::Asc { "ascending" } else { "descending" })] {
                                    a href=(query.sorted_by(key).href()) {
                                        (key.heading())
                                        @if sorted { @if query.dir == super::view::Dir::Asc { " ▲" } @else { " ▼" } }
                                    }
                                }
                            }
                        }
                    }
                    tbody {
                        @for row in &page.rows {
                            @let e = row.entry;
                            @let fresh = e.fresh();
                            @let conn = fresh.and_then(|p| p.connectivity.as_deref());
                            @let auth = fresh.and_then(|p| p.authentication.as_deref());
                            tr class=[(!e.up).then_some("unread")] {
                                th scope="row" { a href={ "profiles/" (e.id) } { (bdi(&e.name)) } }
                                td { (maybe(e.organization.as_deref())) }
                                td { (maybe(e.profile.as_deref().and_then(|p| p.profile_type.as_deref()))) }
                                td class=(tone(conn, "healthy")) {
                                    @if e.up { (maybe(conn)) } @else { span.bad title=(e.error.as_deref().unwrap_or("")) { "not read" } }
                                }
                                td class=(tone(auth, "valid")) { (maybe(auth)) }
                                td { @match row.last_sync() { Some(t) => (when(t, now)), None => span.unknown { "—" } } }
                                td.num { @match fresh.and_then(|p| p.error_count_24h) { Some(n) => (n), None => span.unknown { "—" } } }
                                td {
                                    @if row.alerts.is_empty() { span.unknown { "—" } }
                                    @for (n, a) in row.alerts.iter().enumerate() {
                                        @if n > 0 { ", " }
                                        (a)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if page.pages > 1 {
                nav.pages aria-label="Pages" {
                    @if page.page > 1 {
                        a rel="first" href=(query.at_page(1).href()) { "« first" }
                        " "
                        a rel="prev" href=(query.at_page(page.page - 1).href()) { "‹ previous" }
                        " "
                    }
                    span aria-current="page" { "page " (page.page) " of " (page.pages) }
                    @if page.page < page.pages {
                        " "
                        a rel="next" href=(query.at_page(page.page + 1).href()) { "next ›" }
                        " "
                        a rel="last" href=(query.at_page(page.pages).href()) { "last »" }
                    }
                }
            }
        }
    }
}

pub(super) fn index(ctx: &IndexContext<'_>) -> String {
    let now = ctx.view.source.now;
    let firing = ctx.view.sections.first().map(|(_, n, _)| *n).unwrap_or(0);
    let title = if firing > 0 {
        format!("inventory-monitor: {firing} firing")
    } else {
        "inventory-monitor".to_string()
    };
    layout(
        "",
        &title,
        html! {
            h1.sr { "inventory-monitor status" }
            (monitor(ctx))
            (alerts(ctx))
            (in_force(&ctx.in_force, now))
            @if !ctx.recent.is_empty() {
                section aria-labelledby="recent" {
                    h2 #recent { "Recent changes" }
                    (changes_table("", &ctx.recent[..ctx.recent.len().min(RECENT_SHOWN)], now, true))
                }
            }
            (fleet(ctx))
        },
    )
}

pub(super) fn profile(view: &FleetView, e: &ProfileEntry, transitions: &[Change]) -> String {
    let now = view.source.now;
    let p = e.profile.as_deref();
    let time = |v: Option<f64>| -> Markup {
        match v {
            Some(s) => when(crate::clock::from_unix_seconds(s), now),
            None => html! { span.unknown { "—" } },
        }
    };
    let number = |v: Option<u64>| -> Markup {
        match v {
            Some(n) => html! { (n) },
            None => html! { span.unknown { "—" } },
        }
    };
    let text = |f: fn(&crate::model::Profile) -> Option<&str>| maybe(p.and_then(f));
    let alerts = view.alerts_of(e.id);
    let title = format!("{} · inventory-monitor", cut(&e.name, 80));
    layout(
        "../",
        &title,
        html! {
            p.crumbs { a href="../" { "Fleet" } " › profile " (e.id) }
            h1 { (bdi(&e.name)) }
            @if !e.up {
                p.problem {
                    "The detail could not be read in the last sweep"
                    @if e.consecutive_failures > 0 { " (" (e.consecutive_failures) " in a row)" }
                    ": " (maybe(e.error.as_deref()))
                    @if p.is_some() { ". The fields below are from an earlier read." }
                }
            }
            section aria-labelledby="health" {
                h2 #health { "Health" }
                dl.facts {
                    div { dt { "Id" } dd { (e.id) } }
                    div { dt { "Organization" } dd { (maybe(e.organization.as_deref())) } }
                    div { dt { "Connectivity" } dd class=(tone(p.and_then(|p| p.connectivity.as_deref()), "healthy")) { (text(|p| p.connectivity.as_deref())) } }
                    div { dt { "Authentication" } dd class=(tone(p.and_then(|p| p.authentication.as_deref()), "valid")) { (text(|p| p.authentication.as_deref())) } }
                    div { dt { "Last error" } dd.err { (text(|p| p.last_error.as_deref())) } }
                    div { dt { "Errors in 24 h" } dd { (number(p.and_then(|p| p.error_count_24h))) } }
                    div { dt { "Last sync" } dd { (time(p.and_then(|p| p.last_sync))) } }
                    div { dt { "Last sync status" } dd class=(tone(p.and_then(|p| p.last_sync_status.as_deref()), "success")) { (text(|p| p.last_sync_status.as_deref())) } }
                    div { dt { "Records in last sync" } dd { (number(p.and_then(|p| p.sync_record_count))) } }
                    div { dt { "Sync frequency" } dd { (text(|p| p.sync_frequency.as_deref())) } }
                    div { dt { "Status" } dd { (text(|p| p.status.as_deref())) } }
                    div { dt { "Profile type" } dd { (text(|p| p.profile_type.as_deref())) } }
                    div { dt { "Authentication type" } dd { (text(|p| p.authentication_type.as_deref())) } }
                    div { dt { "Last tested (old API)" } dd { (time(p.and_then(|p| p.last_tested))) } }
                    div {
                        dt { "API revision" }
                        dd { @match p.map(|p| p.revision) { Some(crate::model::ApiRevision::Current) => "current", Some(crate::model::ApiRevision::Legacy) => "legacy", None => span.unknown { "—" } } }
                    }
                    div { dt { "Read in the last sweep" } dd { @if e.up { "yes" } @else { span.bad { "no" } } } }
                    @if let Some(p) = p {
                        @if !p.absurd.is_empty() {
                            div {
                                dt { "Values not believed" }
                                dd { @for (n, a) in p.absurd.iter().enumerate() { @if n > 0 { ", " } (a.to_string()) } }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="its-alerts" {
                h2 #its-alerts { "Alerts" }
                @if alerts.is_empty() {
                    p.calm { "No alert is pending or firing." }
                } @else {
                    div.scroll {
                        table {
                            thead {
                                tr {
                                    th scope="col" { "Alert" }
                                    th scope="col" { "State" }
                                    th scope="col" { "Severity" }
                                    th scope="col" { "Since" }
                                    th scope="col" { "Summary" }
                                    th scope="col" { "Suppressed by" }
                                }
                            }
                            tbody {
                                @for &i in alerts {
                                    @let a = view.alert(i);
                                    tr {
                                        td { (a.key.alertname.as_str()) }
                                        td { @if a.state == AlertState::Firing { span.bad { "firing" } } @else { "pending" } }
                                        td { span class={ "sev " (a.severity) } { (a.severity) } }
                                        td { (when(super::view::since(a), now)) }
                                        td { (bdi(&a.summary)) }
                                        td {
                                            @if a.suppressed_by.is_empty() { span.unknown { "—" } }
                                            @for (n, s) in a.suppressed_by.iter().enumerate() { @if n > 0 { ", " } (bdi(&s.to_string())) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="transitions" {
                h2 #transitions { "Last transitions" }
                @if transitions.is_empty() {
                    p.calm { "No change seen since the monitor started." }
                } @else {
                    (changes_table("../", transitions, now, false))
                }
            }
            p.more {
                "Raw data: " a href="../api/v1/status" { "/api/v1/status" } " and " a href="../metrics" { "/metrics" } "."
            }
        },
    )
}

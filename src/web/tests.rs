//! Unit tests of the status page: the view model (grouping, sorting, filters, pagination),
//! the query string, the history, and what the templates make of hostile text.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::view::{Dir, SortKey, StateFilter, ALERTS_PER_GROUP, PAGE_SIZE};
use super::*;
use crate::model::{intern, Profile};
use crate::rules::{Alert, AlertKey, AlertState};
use crate::shard::Shard;
use crate::snapshot::{ListOutcome, ProfileEntry, Snapshot};
use crate::suppress::{InForce, Labels, Suppressor};
use crate::vocabulary::{AlertName, Suppression};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

fn entry(id: u64, name: &str, org: &str, connectivity: &str, errors: u64) -> ProfileEntry {
    let mut p = Profile::unknown(id, "");
    p.connectivity = Some(intern(connectivity));
    p.authentication = Some(intern("valid"));
    p.profile_type = Some(intern("rest_api"));
    p.error_count_24h = Some(errors);
    p.last_sync = Some(crate::clock::unix_seconds(at(0)) - id as f64);
    ProfileEntry {
        id,
        name: name.into(),
        organization: Some(org.into()),
        profile: Some(Arc::new(p)),
        up: true,
        error: None,
        consecutive_failures: 0,
    }
}

fn alert(name: AlertName, id: u64, profile: &str, state: AlertState, since: u64) -> Alert {
    Alert {
        key: AlertKey::profile(name, id),
        severity: "warning".into(),
        profile_name: profile.into(),
        organization: "Acme".into(),
        summary: format!("{profile} is not well").into(),
        description: "".into(),
        state,
        active_since: at(since),
        firing_since: (state == AlertState::Firing).then(|| at(since)),
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

fn source(profiles: Vec<ProfileEntry>, alerts: Vec<Alert>) -> Arc<StatusSource> {
    let mut profiles = profiles;
    profiles.sort_by_key(|e| e.id);
    Arc::new(StatusSource {
        snapshot: Arc::new(Snapshot {
            started_at: at(0),
            duration: Duration::from_millis(420),
            list: ListOutcome::Complete,
            listed: Some(profiles.len()),
            profiles,
            gone: Vec::new(),
            shard: Shard::default(),
        }),
        alerts: alerts.into_iter().map(Arc::new).collect(),
        now: at(60),
    })
}

/// `n` profiles `p000`…, in orgs `Acme` and `Globex` alternately, errors = id % 7.
fn fleet(n: u64) -> Vec<ProfileEntry> {
    (0..n)
        .map(|i| {
            let org = if i % 2 == 0 { "Acme" } else { "Globex" };
            let conn = if i % 10 == 3 { "unhealthy" } else { "healthy" };
            entry(i, &format!("p{i:03}"), org, conn, i % 7)
        })
        .collect()
}

fn query(pairs: &[(&str, &str)]) -> Query {
    let mut p = Params::default();
    for (k, v) in pairs {
        let v = Some(v.to_string());
        match *k {
            "state" => p.state = v,
            "org" => p.org = v,
            "q" => p.q = v,
            "alert" => p.alert = v,
            "sort" => p.sort = v,
            "dir" => p.dir = v,
            "page" => p.page = v,
            _ => panic!("no parameter {k}"),
        }
    }
    Query::parse(&p).expect("query")
}

fn names(view: &FleetView, q: &Query) -> Vec<String> {
    view.page(q)
        .rows
        .iter()
        .map(|r| r.entry.name.to_string())
        .collect()
}

#[test]
fn alerts_are_firing_then_pending_then_suppressed_grouped_by_alertname_oldest_first() {
    let mut silenced = alert(AlertName::ProfileSyncStale, 3, "c", AlertState::Firing, 5);
    silenced.suppressed_by = vec![Suppression::Silence {
        id: "abc".to_string(),
    }];
    let alerts = vec![
        alert(AlertName::ProfileSyncStale, 1, "a", AlertState::Pending, 30),
        alert(AlertName::ProfileErrorsHigh, 2, "b", AlertState::Firing, 20),
        alert(AlertName::ProfileErrorsHigh, 1, "a", AlertState::Firing, 10),
        silenced,
        alert(AlertName::ProfileSyncStale, 2, "b", AlertState::Firing, 1),
    ];
    let view = FleetView::build(source(fleet(5), alerts));
    type Shape<'a> = Vec<(&'a str, usize, Vec<(&'a str, Vec<u64>)>)>;
    let shape: Shape<'_> = view
        .sections
        .iter()
        .map(|(section, total, groups)| {
            (
                section.title(),
                *total,
                groups
                    .iter()
                    .map(|g| {
                        (
                            g.alertname,
                            g.shown
                                .iter()
                                .map(|&i| view.alert(i).key.profile_id.unwrap_or(0))
                                .collect(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                "Firing",
                3,
                vec![
                    ("ProfileErrorsHigh", vec![1, 2]),
                    ("ProfileSyncStale", vec![2])
                ]
            ),
            ("Pending", 1, vec![("ProfileSyncStale", vec![1])]),
            ("Suppressed", 1, vec![("ProfileSyncStale", vec![3])]),
        ]
    );
}

#[test]
fn a_large_group_shows_its_oldest_and_counts_the_rest() {
    let alerts: Vec<Alert> = (0..50)
        .map(|i| {
            alert(
                AlertName::ProfileErrorsHigh,
                i,
                "x",
                AlertState::Firing,
                100 - i,
            )
        })
        .collect();
    let view = FleetView::build(source(fleet(50), alerts));
    let group = &view.sections[0].2[0];
    assert_eq!(group.total, 50);
    assert_eq!(group.shown.len(), ALERTS_PER_GROUP);
    assert_eq!(view.alert(group.shown[0]).key.profile_id, Some(49));
    let html = super::templates::index(&super::templates::IndexContext {
        view: &view,
        query: &Query::default(),
        page: &view.page(&Query::default()),
        in_force: Vec::new(),
        recent: &[],
        interval: None,
    });
    assert!(html.contains("All 50 profiles with ProfileErrorsHigh"));
    assert!(html.contains("href=\"?alert=ProfileErrorsHigh\""));
}

#[test]
fn the_fleet_is_in_name_order_by_default_case_insensitively() {
    let view = FleetView::build(source(
        vec![
            entry(1, "beta", "A", "healthy", 0),
            entry(2, "Alpha", "A", "healthy", 0),
            entry(3, "gamma", "A", "healthy", 0),
        ],
        Vec::new(),
    ));
    assert_eq!(names(&view, &Query::default()), ["Alpha", "beta", "gamma"]);
}

#[test]
fn sorting_by_a_column_and_flipping_it() {
    let view = FleetView::build(source(fleet(20), Vec::new()));
    let q = query(&[("sort", "errors")]);
    assert_eq!(q.dir, Dir::Desc, "counts sort worst first");
    let page = view.page(&q);
    let errors: Vec<u64> = page
        .rows
        .iter()
        .map(|r| {
            r.entry
                .fresh()
                .and_then(|p| p.error_count_24h)
                .unwrap_or(99)
        })
        .collect();
    let mut sorted = errors.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(errors, sorted);
    assert_eq!(errors[0], 6);
    let flipped = q.sorted_by(SortKey::Errors);
    assert_eq!(flipped.dir, Dir::Asc);
    let first = view.page(&flipped).rows[0]
        .entry
        .fresh()
        .and_then(|p| p.error_count_24h);
    assert_eq!(first, Some(0));
    // Ties keep name order.
    let zero: Vec<String> = view
        .page(&flipped)
        .rows
        .iter()
        .take(3)
        .map(|r| r.entry.name.to_string())
        .collect();
    assert_eq!(zero, ["p000", "p007", "p014"]);
}

#[test]
fn unknown_values_sort_last_ascending() {
    let mut unknown = entry(5, "zz-unknown", "A", "healthy", 0);
    unknown.up = false;
    unknown.error = Some("timed out".to_string());
    let view = FleetView::build(source(
        vec![
            unknown,
            entry(1, "a", "A", "unhealthy", 1),
            entry(2, "b", "A", "healthy", 2),
        ],
        Vec::new(),
    ));
    let q = query(&[("sort", "connectivity"), ("dir", "asc")]);
    assert_eq!(names(&view, &q), ["b", "a", "zz-unknown"]);
    let q = query(&[("sort", "last_sync"), ("dir", "asc")]);
    assert_eq!(
        names(&view, &q).last().map(String::as_str),
        Some("zz-unknown")
    );
}

#[test]
fn unknown_values_sort_last_descending_too_and_ties_keep_name_order() {
    let mut unknown = entry(5, "aa-unknown", "A", "healthy", 0);
    unknown.up = false;
    unknown.error = Some("timed out".to_string());
    let view = FleetView::build(source(
        vec![
            unknown,
            entry(1, "c", "A", "unhealthy", 7),
            entry(2, "b", "A", "healthy", 7),
            entry(3, "d", "A", "healthy", 2),
        ],
        Vec::new(),
    ));
    // The README's `/?sort=errors`: worst first, ties by name, the unread profile last.
    let q = query(&[("sort", "errors")]);
    assert_eq!(q.dir, Dir::Desc);
    assert_eq!(names(&view, &q), ["b", "c", "d", "aa-unknown"]);
    let q = query(&[("sort", "last_sync")]);
    assert_eq!(
        names(&view, &q).last().map(String::as_str),
        Some("aa-unknown")
    );
    let q = query(&[("sort", "connectivity"), ("dir", "desc")]);
    assert_eq!(names(&view, &q), ["c", "b", "d", "aa-unknown"]);
    let q = query(&[("sort", "name"), ("dir", "desc")]);
    assert_eq!(names(&view, &q), ["d", "c", "b", "aa-unknown"]);
}

#[test]
fn an_organization_is_picked_exactly_before_ignoring_case() {
    let view = FleetView::build(source(
        vec![
            entry(1, "upper", "ACME", "healthy", 0),
            entry(2, "lower", "Acme", "healthy", 0),
        ],
        Vec::new(),
    ));
    assert_eq!(names(&view, &query(&[("org", "Acme")])), ["lower"]);
    assert_eq!(names(&view, &query(&[("org", "ACME")])), ["upper"]);
    assert_eq!(names(&view, &query(&[("org", "acme")])).len(), 1);
}

#[test]
fn filters_by_state_organization_name_and_alert() {
    let mut fleet = fleet(30);
    fleet[4].up = false;
    fleet[4].error = Some("HTTP 500".to_string());
    let alerts = vec![
        alert(
            AlertName::ProfileErrorsHigh,
            6,
            "p006",
            AlertState::Firing,
            0,
        ),
        alert(
            AlertName::ProfileSyncStale,
            7,
            "p007",
            AlertState::Pending,
            0,
        ),
    ];
    let view = FleetView::build(source(fleet, alerts));
    assert_eq!(
        names(&view, &query(&[("state", "unhealthy")])),
        ["p003", "p013", "p023"]
    );
    assert_eq!(names(&view, &query(&[("state", "unread")])), ["p004"]);
    assert_eq!(
        names(&view, &query(&[("state", "alerting")])),
        ["p006", "p007"]
    );
    assert_eq!(view.counts.healthy, 30 - 3 - 1 - 2);
    assert_eq!(
        view.page(&query(&[("state", "healthy")])).total,
        view.counts.healthy
    );
    assert_eq!(view.page(&query(&[("org", "globex")])).total, 15);
    assert_eq!(
        names(&view, &query(&[("org", "Acme"), ("q", "01")])),
        ["p010", "p012", "p014", "p016", "p018"]
    );
    assert_eq!(
        names(&view, &query(&[("alert", "ProfileSyncStale")])),
        ["p007"]
    );
    assert_eq!(view.page(&query(&[("org", "Initech")])).total, 0);
    assert_eq!(view.page(&query(&[("alert", "NoSuchAlert")])).total, 0);
}

#[test]
fn pages_of_a_hundred_and_a_page_past_the_end_shows_the_last() {
    let view = FleetView::build(source(fleet(250), Vec::new()));
    let first = view.page(&Query::default());
    assert_eq!(
        (first.total, first.pages, first.rows.len()),
        (250, 3, PAGE_SIZE)
    );
    let third = view.page(&query(&[("page", "3")]));
    assert_eq!(third.rows.len(), 50);
    assert_eq!(&*third.rows[0].entry.name, "p200");
    let past = view.page(&query(&[("page", "9")]));
    assert_eq!(past.page, 3);
    assert_eq!(&*past.rows[0].entry.name, "p200");
    // Descending pages run backwards through the same order.
    let desc = view.page(&query(&[("sort", "name"), ("dir", "desc"), ("page", "3")]));
    assert_eq!(desc.rows.last().map(|r| &*r.entry.name), Some("p000"));
}

#[test]
fn bad_parameters_are_refused_with_what_they_take() {
    for (k, v, says) in [
        ("state", "broken", "unknown state `broken`"),
        ("sort", "colour", "unknown sort `colour`"),
        ("dir", "up", "unknown dir `up`"),
        ("page", "0", "page `0` is not a number from 1"),
        ("page", "two", "page `two`"),
    ] {
        let mut p = Params::default();
        match k {
            "state" => p.state = Some(v.to_string()),
            "sort" => p.sort = Some(v.to_string()),
            "dir" => p.dir = Some(v.to_string()),
            _ => p.page = Some(v.to_string()),
        }
        let err = Query::parse(&p).expect_err(k);
        assert!(err.contains(says), "{err}");
    }
    let long = Params {
        q: Some("x".repeat(500)),
        ..Params::default()
    };
    assert!(Query::parse(&long).is_err());
    // Empty values, as a GET form sends them, mean "any".
    let empty = Params {
        state: Some(String::new()),
        org: Some(String::new()),
        page: Some(String::new()),
        ..Params::default()
    };
    assert_eq!(Query::parse(&empty), Ok(Query::default()));
}

#[test]
fn links_encode_filters_and_read_back_the_same() {
    let q = query(&[
        ("state", "unhealthy"),
        ("org", "R&D \"West\" / ש"),
        ("q", "a b"),
        ("sort", "errors"),
        ("page", "2"),
    ]);
    let href = q.href();
    assert_eq!(
        href,
        "?state=unhealthy&org=R%26D%20%22West%22%20%2F%20%D7%A9&q=a%20b&sort=errors&dir=desc&page=2"
    );
    assert_eq!(Query::default().href(), "?");
    assert!(!q.at_page(1).href().contains("page="));
    let sorted = q.sorted_by(SortKey::Name);
    assert_eq!(
        (sorted.sort, sorted.dir, sorted.page),
        (SortKey::Name, Dir::Asc, 1)
    );
    assert_eq!(q.state, StateFilter::Unhealthy);
}

fn render_index(view: &FleetView, q: &Query, in_force: Vec<InForce>) -> String {
    super::templates::index(&super::templates::IndexContext {
        view,
        query: q,
        page: &view.page(q),
        in_force,
        recent: &[],
        interval: Some(Duration::from_secs(60)),
    })
}

const HOSTILE: &str = "<script>alert(\"x\")</script> & 'q' \u{202E}evil";

#[test]
fn hostile_names_and_errors_are_escaped_and_isolated() {
    let mut e = entry(1, HOSTILE, "O'Reilly & <Sons>", "healthy", 0);
    let mut p = Profile::clone(e.profile.as_deref().expect("profile"));
    p.last_error = Some(format!("{HOSTILE} {}", "long ".repeat(200)));
    e.profile = Some(Arc::new(p));
    let mut a = alert(
        AlertName::ProfileErrorsHigh,
        1,
        HOSTILE,
        AlertState::Firing,
        0,
    );
    a.organization = "O'Reilly & <Sons>".into();
    a.suppressed_by = vec![Suppression::Maintenance {
        name: "<b>window</b>".to_string(),
    }];
    let view = FleetView::build(source(vec![e], vec![a]));
    let html = render_index(&view, &query(&[("q", "\"><script>")]), Vec::new());
    let all = render_index(&view, &Query::default(), Vec::new());
    let profile = super::templates::profile(&view, view.entry(1).expect("entry"), &[]);
    for page in [&html, &all, &profile] {
        assert!(!page.contains("<script>"), "raw script tag");
        assert!(!page.contains("<b>window"), "raw markup");
    }
    assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""));
    assert!(all.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 'q'"));
    assert!(
        all.contains("<bdi>&lt;script&gt;"),
        "upstream text is isolated"
    );
    assert!(all.contains("O'Reilly &amp; &lt;Sons&gt;"));
    assert!(all.contains("maintenance &lt;b&gt;window&lt;/b&gt;"));
    // The table cuts a long error; the profile page shows it whole.
    assert!(all.contains("…</bdi>"));
    assert!(!all.contains(&"long ".repeat(199)));
    assert!(profile.contains(&"long ".repeat(199)));
    assert!(profile.contains("<title>&lt;script&gt;"));
}

#[test]
fn very_long_names_stay_in_the_document_and_the_page_stays_small() {
    let long = "ن".repeat(5000);
    let fleet: Vec<ProfileEntry> = (0..300)
        .map(|i| entry(i, &format!("{long}{i}"), "Acme", "healthy", 0))
        .collect();
    let view = FleetView::build(source(fleet, Vec::new()));
    let html = render_index(&view, &query(&[("q", "299")]), Vec::new());
    assert!(html.contains(&format!("{long}299")));
    assert!(html.contains("Profiles 1–1 of 1 matching"));
}

struct Window;

impl Suppressor for Window {
    fn suppressions(&self, _: &dyn Labels, _: SystemTime) -> Vec<Suppression> {
        Vec::new()
    }

    fn in_force(&self, now: SystemTime) -> Vec<InForce> {
        vec![InForce {
            what: Suppression::Silence {
                id: "s-1".to_string(),
            },
            matchers: r#"{organization="<Legacy>"}"#.to_string(),
            starts_at: Some(now - Duration::from_secs(600)),
            ends_at: Some(now + Duration::from_secs(3600)),
            created_by: "alice".to_string(),
            comment: "db migration & reindex".to_string(),
        }]
    }
}

#[test]
fn silences_and_windows_in_force_are_listed_when_there_are_some() {
    let state = PageState::default();
    let src = source(fleet(3), Vec::new());
    let none = index_page(&state, Some(&src), &[], &Params::default());
    assert_eq!(none.status, 200);
    assert!(!none.html.contains("in force"));
    let window: Arc<dyn Suppressor> = Arc::new(Window);
    let some = index_page(&state, Some(&src), &[window], &Params::default());
    assert!(some
        .html
        .contains("Silences and maintenance windows in force"));
    assert!(some.html.contains("silence s-1"));
    assert!(some
        .html
        .contains("{organization=&quot;&lt;Legacy&gt;&quot;}"));
    assert!(some.html.contains("10 min 0 s ago"));
    assert!(some.html.contains("in 1 h 0 min"));
    assert!(some.html.contains("db migration &amp; reindex"));
}

#[test]
fn the_index_shows_the_monitor_and_a_bad_filter_gets_a_400_page() {
    let state = PageState::default();
    let waiting = index_page(&state, None, &[], &Params::default());
    assert!(waiting.html.contains("Waiting for the first sweep"));
    let src = source(fleet(3), Vec::new());
    state.after_sweep(&src, Duration::from_secs(60));
    let page = index_page(&state, Some(&src), &[], &Params::default());
    for expected in [
        crate::VERSION,
        "0 of 1",
        ">up<",
        "420 ms",
        "1 min 0 s ago",
        "Next sweep",
        "in 0 s",
        "Profiles watched",
        "No alert is pending or firing.",
        "href=\"profiles/2\"",
        "href=\"metrics\"",
        "static/style.css",
    ] {
        assert!(page.html.contains(expected), "missing {expected}");
    }
    let bad = index_page(
        &state,
        Some(&src),
        &[],
        &Params {
            state: Some("<x>".to_string()),
            ..Params::default()
        },
    );
    assert_eq!(bad.status, 400);
    assert!(bad.html.contains("unknown state `&lt;x&gt;`"));
}

#[test]
fn the_view_is_built_once_per_sweep() {
    let state = PageState::default();
    let first = source(fleet(3), Vec::new());
    let a = state.view(&first);
    let b = state.view(&first);
    assert!(Arc::ptr_eq(&a, &b));
    let second = source(fleet(3), Vec::new());
    assert!(!Arc::ptr_eq(&a, &state.view(&second)));
    // A new sweep lets the last view (and its snapshot) go before anyone asks.
    let third = source(fleet(3), Vec::new());
    drop((a, b));
    let weak = Arc::downgrade(&second);
    drop(second);
    assert!(weak.upgrade().is_some(), "the cached view holds its sweep");
    state.after_sweep(&third, Duration::from_secs(60));
    assert!(weak.upgrade().is_none(), "released at the next sweep");
}

#[test]
fn views_are_built_ahead_only_while_the_pages_are_read() {
    let state = PageState::default();
    let now = std::time::Instant::now();
    assert!(!state.read_within(now, super::READ_RECENTLY), "never read");
    let src = source(fleet(3), Vec::new());
    let before = std::time::Instant::now();
    state.view(&src);
    let after = std::time::Instant::now();
    assert!(state.read_within(after, super::READ_RECENTLY));
    assert!(state.read_within(before + super::READ_RECENTLY, super::READ_RECENTLY));
    assert!(!state.read_within(
        after + super::READ_RECENTLY + Duration::from_secs(1),
        super::READ_RECENTLY
    ));
}

#[test]
fn a_profile_page_has_every_health_field_and_an_unknown_id_is_404() {
    let state = PageState::default();
    let src = source(fleet(3), Vec::new());
    let page = profile_page(&state, Some(&src), "1");
    assert_eq!(page.status, 200);
    for field in [
        "Connectivity",
        "Authentication",
        "Last error",
        "Errors in 24 h",
        "Last sync",
        "Last sync status",
        "Sync frequency",
        "Profile type",
        "Last transitions",
    ] {
        assert!(page.html.contains(field), "missing {field}");
    }
    assert!(page.html.contains("../static/style.css"));
    for id in ["99", "abc", "-1"] {
        let missing = profile_page(&state, Some(&src), id);
        assert_eq!(missing.status, 404, "{id}");
        assert!(missing.html.contains("No such profile"));
    }
    assert_eq!(profile_page(&state, None, "1").status, 404);
}

#[test]
fn history_memory_is_fixed_whatever_the_storm() {
    let n = (history::KEPT + 1_000) as u64;
    let fleet = |conn: &str, suffix: &str| {
        (1..=n)
            .map(|id| entry(id, &format!("p{id}{suffix}"), "A", conn, 0))
            .collect::<Vec<_>>()
    };
    let mut h = History::default();
    assert_eq!(h.footprint(), (0, 0));
    h.record(&source(fleet("healthy", ""), Vec::new()));
    // Nothing changed yet: nothing allocated.
    h.record(&source(fleet("healthy", ""), Vec::new()));
    assert_eq!(h.footprint(), (0, 0));
    for (conn, suffix) in [
        ("unhealthy", ""),
        ("healthy", "-renamed"),
        ("unhealthy", ""),
    ] {
        h.record(&source(fleet(conn, suffix), Vec::new()));
        let (len, capacity) = h.footprint();
        assert_eq!(len, history::KEPT);
        assert!(capacity < history::KEPT + 64, "{capacity}");
    }
    // The newest transitions are kept: the storm's last profiles, under their current name.
    let recent = h.recent();
    assert_eq!(recent.len(), history::RECENT);
    assert_eq!(recent[0].profile_id, n);
    assert_eq!(recent[0].profile_name, format!("p{n}"));
    assert_eq!(recent[0].what, "connectivity healthy → unhealthy");
    // The last storm's first 1,000 transitions were pushed out by its later ones.
    assert_eq!(h.of(n).len(), 1);
    assert_eq!(h.of(1_001).len(), 1);
    assert!(h.of(1_000).is_empty());
}

#[test]
fn history_keeps_each_profiles_last_twenty_transitions() {
    let mut history = History::default();
    let mut last = None;
    for sweep in 0..30u64 {
        let conn = if sweep % 2 == 0 {
            "healthy"
        } else {
            "unhealthy"
        };
        let mut profiles = vec![
            entry(1, "one", "A", conn, 0),
            entry(2, "two", "A", "healthy", 0),
        ];
        let alerts = if sweep == 5 {
            vec![alert(
                AlertName::ProfileSyncStale,
                2,
                "two",
                AlertState::Firing,
                0,
            )]
        } else {
            Vec::new()
        };
        if sweep == 29 {
            profiles.pop();
        }
        let mut src = StatusSource {
            snapshot: source(profiles, Vec::new()).snapshot.clone(),
            alerts: alerts.into_iter().map(Arc::new).collect(),
            now: at(sweep * 60),
        };
        src.now = at(sweep * 60);
        let src = Arc::new(src);
        history.record(&src);
        last = Some(src);
    }
    let one = history.of(1);
    assert_eq!(one.len(), history::PER_PROFILE);
    assert_eq!(one[0].what, "connectivity healthy → unhealthy");
    assert_eq!(one[0].at, at(29 * 60));
    assert_eq!(one[1].what, "connectivity unhealthy → healthy");
    // Profile 2 left the fleet: its transitions go with it.
    assert!(history.of(2).is_empty());
    assert_eq!(history.recent()[0].profile_id, 1);
    drop(last);

    let mut h = History::default();
    let base = source(vec![entry(2, "two", "A", "healthy", 0)], Vec::new());
    h.record(&base);
    let firing = source(
        vec![entry(2, "two", "A", "healthy", 0)],
        vec![alert(
            AlertName::ProfileSyncStale,
            2,
            "two",
            AlertState::Firing,
            0,
        )],
    );
    h.record(&firing);
    h.record(&base);
    let two: Vec<String> = h.of(2).into_iter().map(|c| c.what).collect();
    assert_eq!(
        two,
        ["ProfileSyncStale resolved", "ProfileSyncStale firing"]
    );

    // Two flapping conditions of one profile are two alerts, each with its change.
    let mut h = History::default();
    h.record(&base);
    let flapping = |condition: AlertName| {
        let mut a = alert(AlertName::ProfileFlapping, 2, "two", AlertState::Firing, 0);
        a.key.condition = Some(condition);
        a
    };
    let both = source(
        vec![entry(2, "two", "A", "healthy", 0)],
        vec![
            flapping(AlertName::ProfileConnectivityDegraded),
            flapping(AlertName::ProfileAuthenticationFailing),
        ],
    );
    h.record(&both);
    let mut two: Vec<String> = h.of(2).into_iter().map(|c| c.what).collect();
    two.sort();
    assert_eq!(
        two,
        [
            "ProfileFlapping (ProfileAuthenticationFailing) firing",
            "ProfileFlapping (ProfileConnectivityDegraded) firing",
        ]
    );
}

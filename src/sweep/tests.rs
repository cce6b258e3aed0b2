//! The sweep's unit tests: settling details, sharing with the previous sweep, entries, logs.

use super::*;
use crate::snapshot::ApiFailure;
use inventory_monitor_testkit::logs::CapturedLogs;

fn with_list(list: ListOutcome) -> Snapshot {
    Snapshot {
        started_at: std::time::SystemTime::UNIX_EPOCH,
        duration: std::time::Duration::ZERO,
        list,
        listed: None,
        profiles: Vec::new(),
        gone: Vec::new(),
        shard: Shard::default(),
    }
}

fn failed(kind: ApiFailure, message: &str) -> Snapshot {
    with_list(ListOutcome::Failed {
        kind,
        message: message.to_string(),
    })
}

/// The level and the message's start of each line.
fn levels(lines: &[String]) -> Vec<(&str, bool)> {
    lines
        .iter()
        .map(|l| {
            let level = ["ERROR", "WARN", "INFO"]
                .into_iter()
                .find(|level| l.contains(level))
                .unwrap_or("?");
            (level, l.contains("as in the sweep before"))
        })
        .collect()
}

#[test]
fn a_list_problem_is_loud_when_it_starts_or_changes_kind_and_its_end_is_told() {
    let log = CapturedLogs::default();
    let _guard = log.capture(tracing::Level::INFO);
    let api = crate::config::ApiConfig {
        base_url: "http://127.0.0.1:9/api/v1".to_string(),
        ..Default::default()
    };
    let counter = |labels: &[&str]| {
        prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), labels)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let client = UpstreamClient::new(
        &api,
        crate::config::Secret::new("t"),
        counter(&["endpoint", "code"]),
        counter(&["endpoint"]),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    tell_outcome(&client, &failed(ApiFailure::Unreachable, "HTTP 500 at a"));
    assert_eq!(levels(&log.take_lines()), [("ERROR", false)]);
    // The same kind, in other words: a quiet line per sweep.
    tell_outcome(&client, &failed(ApiFailure::Unreachable, "timed out at a"));
    tell_outcome(&client, &failed(ApiFailure::Unreachable, "HTTP 500 at a"));
    assert_eq!(levels(&log.take_lines()), [("INFO", true), ("INFO", true)]);
    // Another kind is news.
    tell_outcome(&client, &failed(ApiFailure::Unauthorized, "refused at a"));
    assert_eq!(levels(&log.take_lines()), [("ERROR", false)]);

    tell_outcome(&client, &with_list(ListOutcome::Complete));
    let lines = log.take_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("read completely again sweeps=4"),
        "{lines:?}"
    );
    assert!(lines[1].contains("sweep complete"), "{lines:?}");
    tell_outcome(&client, &with_list(ListOutcome::Complete));
    assert_eq!(log.take_lines().len(), 1, "only the sweep's own line");

    for reason in ["count 250 then 251", "count 251 then 252"] {
        tell_outcome(
            &client,
            &with_list(ListOutcome::Incomplete {
                reason: reason.to_string(),
            }),
        );
    }
    assert_eq!(levels(&log.take_lines()), [("WARN", false), ("INFO", true)]);
}

fn item(id: u64, name: &str, organization: Option<&str>) -> ListItem {
    ListItem {
        id,
        name: name.to_string(),
        organization: organization.map(str::to_string),
    }
}

fn read(profile: Profile) -> DetailResult {
    DetailResult::Ok(Arc::new(profile))
}

/// The sweep's clock in these tests: 2026-01-01T00:00:00Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600)
}

/// What the sweep makes of `result` for `item`: settled as it arrives, against the
/// previous entry's detail, then made an entry.
fn entry(
    item: ListItem,
    result: DetailResult,
    previous: Option<&ProfileEntry>,
) -> Option<ProfileEntry> {
    let fetched = settle(result, previous.and_then(|p| p.profile.as_ref()), now());
    entry_for(item, fetched, previous, &mut Organizations::default())
}

#[test]
fn a_read_detail_names_the_entry_and_keeps_name_and_organization_once() {
    let detail = Profile {
        organization: Some("Acme".to_string()),
        status: Some("active".into()),
        ..Profile::unknown(7, "Detail name")
    };
    let entry = entry(item(7, "List name", Some("List org")), read(detail), None);
    let Some(entry) = entry else {
        panic!("a read profile has an entry")
    };
    assert_eq!(&*entry.name, "Detail name");
    assert_eq!(entry.organization.as_deref(), Some("Acme"));
    assert!(entry.up);
    let Some(profile) = &entry.profile else {
        panic!("the detail is kept")
    };
    assert_eq!(profile.status.as_deref(), Some("active"));
    assert_eq!(profile.name, "", "the name lives in the entry only");
    assert_eq!(profile.organization, None, "the organization too");
}

#[test]
fn a_detail_without_name_or_organization_falls_back_to_the_list() {
    let entry = entry(
        item(7, "List name", Some("List org")),
        read(Profile::unknown(7, "")),
        None,
    );
    let Some(entry) = entry else {
        panic!("a read profile has an entry")
    };
    assert_eq!(&*entry.name, "List name");
    assert_eq!(entry.organization.as_deref(), Some("List org"));
}

#[test]
fn a_failed_read_keeps_the_last_detail_and_counts_the_failure() {
    let first = entry(
        item(7, "List name", None),
        read(Profile {
            organization: Some("Acme".to_string()),
            connectivity: Some("healthy".into()),
            ..Profile::unknown(7, "Detail name")
        }),
        None,
    );
    let Some(first) = first else {
        panic!("a read profile has an entry")
    };
    let failed = entry(
        item(7, "List name", None),
        DetailResult::Failed("HTTP 500".to_string()),
        Some(&first),
    );
    let Some(failed) = failed else {
        panic!("a failed read keeps the entry")
    };
    assert!(!failed.up);
    assert_eq!(failed.error.as_deref(), Some("HTTP 500"));
    assert_eq!(failed.consecutive_failures, 1);
    assert_eq!(&*failed.name, "List name");
    assert_eq!(
        failed.organization.as_deref(),
        Some("Acme"),
        "the organization last read, when the list gives none"
    );
    assert!(matches!(
        (&failed.profile, &first.profile),
        (Some(a), Some(b)) if Arc::ptr_eq(a, b)
    ));
    let again = entry(
        item(7, "List name", None),
        DetailResult::Failed("timeout".to_string()),
        Some(&failed),
    );
    assert_eq!(again.map(|e| e.consecutive_failures), Some(2));
}

#[test]
fn an_unchanged_detail_shares_the_previous_sweeps_allocation() {
    let detail = |errors| Profile {
        organization: Some("Acme".to_string()),
        status: Some("active".into()),
        error_count_24h: Some(errors),
        ..Profile::unknown(7, "Detail name")
    };
    let first = entry(item(7, "List name", None), read(detail(3)), None);
    let Some(first) = first else {
        panic!("a read profile has an entry")
    };
    let same = entry(item(7, "List name", None), read(detail(3)), Some(&first));
    let Some(same) = same else {
        panic!("a read profile has an entry")
    };
    assert!(matches!(
        (&same.profile, &first.profile),
        (Some(a), Some(b)) if Arc::ptr_eq(a, b)
    ));
    assert_eq!(&*same.name, "Detail name");
    assert!(
        Arc::ptr_eq(&same.name, &first.name),
        "an unchanged name is the previous sweep's very allocation"
    );
    assert!(matches!(
        (&same.organization, &first.organization),
        (Some(a), Some(b)) if Arc::ptr_eq(a, b)
    ));
    assert_eq!(same.organization.as_deref(), Some("Acme"));
    assert!(same.up);

    let changed = entry(item(7, "List name", None), read(detail(4)), Some(&same));
    let Some(changed) = changed else {
        panic!("a read profile has an entry")
    };
    let Some(profile) = &changed.profile else {
        panic!("the detail is kept")
    };
    assert_eq!(
        profile.error_count_24h,
        Some(4),
        "a changed detail is the new one"
    );
    assert!(matches!(
        (&changed.profile, &first.profile),
        (Some(a), Some(b)) if !Arc::ptr_eq(a, b)
    ));
    assert_eq!(profile.name, "", "the name lives in the entry only");
}

#[test]
fn a_slot_is_the_size_of_an_entry_so_the_entries_take_the_slots_place() {
    // The entries are collected in place from the slots only when both are the same
    // size: a larger slot would hold a second vector of 100,000 beside the first.
    assert_eq!(
        std::mem::size_of::<Slot>(),
        std::mem::size_of::<ProfileEntry>()
    );
    // 96 bytes with `String` names; `Arc<str>` shares them with the previous sweep.
    assert_eq!(std::mem::size_of::<ProfileEntry>(), 80);
}

#[test]
fn settling_an_equal_detail_gives_the_previous_sweeps_very_arc() {
    let detail = |errors| Profile {
        organization: Some("Acme".to_string()),
        status: Some("active".into()),
        error_count_24h: Some(errors),
        ..Profile::unknown(7, "Detail name")
    };
    let Fetched::Read {
        profile: previous, ..
    } = settle(read(detail(3)), None, now())
    else {
        panic!("a read detail is read")
    };
    let Fetched::Read {
        name,
        organization,
        profile,
    } = settle(read(detail(3)), Some(&previous), now())
    else {
        panic!("a read detail is read")
    };
    assert!(Arc::ptr_eq(&profile, &previous));
    assert_eq!(name, "Detail name", "the name is kept apart");
    assert_eq!(organization.as_deref(), Some("Acme"));

    let Fetched::Read { profile, .. } = settle(read(detail(4)), Some(&previous), now()) else {
        panic!("a read detail is read")
    };
    assert!(!Arc::ptr_eq(&profile, &previous), "a changed detail is new");
    assert_eq!(profile.error_count_24h, Some(4));
    assert_eq!(profile.name, "");
}

#[test]
fn settling_screens_future_timestamps_before_comparing() {
    let far = crate::clock::unix_seconds(now()) + 3.0 * 86_400.0;
    let detail = || Profile {
        last_sync: Some(far),
        ..Profile::unknown(7, "x")
    };
    let Fetched::Read {
        profile: previous, ..
    } = settle(read(detail()), None, now())
    else {
        panic!("a read detail is read")
    };
    assert_eq!(previous.last_sync, None);
    assert_eq!(previous.absurd.len(), 1);
    let Fetched::Read { profile, .. } = settle(read(detail()), Some(&previous), now()) else {
        panic!("a read detail is read")
    };
    assert!(Arc::ptr_eq(&profile, &previous));
}

#[test]
fn previous_details_are_found_by_id() {
    let entries: Vec<ProfileEntry> = [3, 5, 9]
        .into_iter()
        .filter_map(|id| entry(item(id, "n", None), read(Profile::unknown(id, "n")), None))
        .collect();
    let previous = PreviousDetails::of(&entries);
    for (i, id) in [3, 5, 9].into_iter().enumerate() {
        let found = previous.get(id).map(Arc::as_ptr);
        assert_eq!(found, entries[i].profile.as_ref().map(Arc::as_ptr), "{id}");
    }
    assert!(previous.get(4).is_none());
    assert!(previous.get(10).is_none());
}

#[test]
fn profiles_of_one_organization_share_one_allocation() {
    let mut organizations = Organizations::default();
    let entries: Vec<ProfileEntry> = (1..=3)
        .filter_map(|id| {
            let detail = Profile {
                organization: Some("Acme".to_string()),
                ..Profile::unknown(id, "n")
            };
            let fetched = settle(read(detail), None, now());
            entry_for(item(id, "n", None), fetched, None, &mut organizations)
        })
        .collect();
    let orgs: Vec<&Arc<str>> = entries
        .iter()
        .filter_map(|e| e.organization.as_ref())
        .collect();
    assert_eq!(orgs.len(), 3);
    assert!(orgs
        .iter()
        .all(|o| Arc::ptr_eq(o, orgs[0]) && &***o == "Acme"));
}

#[test]
fn a_gone_profile_has_no_entry() {
    assert!(entry(item(7, "x", None), DetailResult::Gone, None).is_none());
}

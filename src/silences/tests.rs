use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::matchers::parse_list;

const HOUR: Duration = Duration::from_secs(3600);

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_epoch_2026())
}

fn new_silence(clock: &ManualClock, matchers: &str, hours: u64) -> NewSilence {
    let now = clock.now();
    NewSilence {
        id: None,
        matchers: parse_list(matchers).unwrap(),
        starts_at: now,
        ends_at: now + HOUR * hours as u32,
        created_by: "alice".to_string(),
        comment: "migration".to_string(),
    }
}

fn legacy() -> Vec<(&'static str, &'static str)> {
    vec![
        ("alertname", "ProfileConnectivityDegraded"),
        ("profile_name", "legacy-7"),
    ]
}

#[test]
fn an_active_silence_mutes_matching_alerts_until_it_ends() {
    let c = clock();
    let store = Store::in_memory(c.clone());
    let id = store
        .upsert(new_silence(&c, r#"profile_name=~"legacy-.*""#, 2))
        .unwrap();
    assert_eq!(id.len(), 36);
    let found = store.suppressions(&legacy(), c.now());
    assert_eq!(found, vec![Suppression::Silence { id: id.clone() }]);
    let other = vec![("profile_name", "prod-legacy-7")];
    assert!(store.suppressions(&other, c.now()).is_empty(), "anchored");
    assert_eq!(store.in_force(c.now()).len(), 1);
    c.advance(HOUR * 2);
    assert!(store.suppressions(&legacy(), c.now()).is_empty());
    assert!(store.in_force(c.now()).is_empty());
    assert_eq!(
        store.get(&id).unwrap().state(c.now()),
        SilenceState::Expired
    );
}

#[test]
fn bad_silences_are_refused_and_change_nothing() {
    let c = clock();
    let store = Store::in_memory(c.clone());
    let mut cases = Vec::new();
    let mut s = new_silence(&c, "a=b", 1);
    s.matchers.clear();
    cases.push((s, "at least one matcher"));
    cases.push((new_silence(&c, r#"a=~".*""#, 1), "empty string"));
    let mut s = new_silence(&c, "a=b", 1);
    s.ends_at = s.starts_at;
    cases.push((s, "endsAt must be after startsAt"));
    let mut s = new_silence(&c, "a=b", 1);
    s.starts_at -= HOUR * 3;
    s.ends_at = c.now() - HOUR;
    cases.push((s, "in the past"));
    let mut s = new_silence(&c, "a=b", 1);
    s.comment = "x".repeat(MAX_COMMENT_BYTES + 1);
    cases.push((s, "comment is longer"));
    let mut s = new_silence(&c, "a=b", 1);
    s.created_by = " ".to_string();
    cases.push((s, "createdBy is empty"));
    let mut s = new_silence(&c, "a=b", 1);
    s.matchers = (0..=MAX_MATCHERS)
        .map(|i| Matcher::parse(&format!("l{i}=v")).unwrap())
        .collect();
    cases.push((s, "at most"));
    let mut s = new_silence(&c, "a=b", 1);
    s.id = Some("no-such-id".to_string());
    cases.push((s, "not found"));
    for (s, why) in cases {
        let e = store.upsert(s).unwrap_err().to_string();
        assert!(e.contains(why), "{e} / {why}");
    }
    assert!(store.list().is_empty());
}

#[test]
fn an_update_of_times_is_in_place_and_of_matchers_expires_the_old() {
    let c = clock();
    let store = Store::in_memory(c.clone());
    let id = store.upsert(new_silence(&c, "a=b", 1)).unwrap();
    let mut longer = new_silence(&c, "a=b", 3);
    longer.id = Some(id.clone());
    assert_eq!(store.upsert(longer).unwrap(), id, "in place");
    assert_eq!(store.get(&id).unwrap().ends_at, c.now() + HOUR * 3);
    c.advance(Duration::from_secs(60));
    let mut other = new_silence(&c, "a=c", 1);
    other.id = Some(id.clone());
    let new_id = store.upsert(other).unwrap();
    assert_ne!(new_id, id);
    assert_eq!(
        store.get(&id).unwrap().state(c.now()),
        SilenceState::Expired
    );
    assert_eq!(
        store.get(&new_id).unwrap().state(c.now()),
        SilenceState::Active
    );
}

#[test]
fn an_active_silence_extended_later_keeps_its_id_and_start() {
    // As amtool's `silence update` sends it: the silence as it is, with a new end, some time
    // after it started.
    let c = clock();
    let store = Store::in_memory(c.clone());
    let first = new_silence(&c, "a=b", 1);
    let started = first.starts_at;
    let id = store.upsert(first).unwrap();
    c.advance(Duration::from_secs(1800));
    let mut longer = new_silence(&c, "a=b", 3);
    longer.starts_at = started;
    longer.id = Some(id.clone());
    assert_eq!(store.upsert(longer).unwrap(), id, "in place");
    let kept = store.get(&id).unwrap();
    assert_eq!(kept.starts_at, started);
    assert_eq!(kept.ends_at, c.now() + HOUR * 3);
    assert_eq!(store.list().len(), 1);
    // Moving the start of an active silence is a new silence.
    let mut moved = new_silence(&c, "a=b", 3);
    moved.id = Some(id.clone());
    assert_ne!(store.upsert(moved).unwrap(), id);
}

#[test]
fn replacing_an_expired_silence_leaves_its_end_as_it_was() {
    let c = clock();
    let store = Store::in_memory(c.clone());
    let id = store.upsert(new_silence(&c, "a=b", 1)).unwrap();
    store.expire(&id).unwrap();
    let ended = store.get(&id).unwrap().ends_at;
    c.advance(Duration::from_secs(600));
    let mut again = new_silence(&c, "a=b", 1);
    again.id = Some(id.clone());
    let new_id = store.upsert(again).unwrap();
    assert_ne!(new_id, id);
    assert_eq!(store.get(&id).unwrap().ends_at, ended);
}

#[test]
fn silences_survive_a_reopen_and_expired_ones_are_forgotten_after_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let store = Store::open(dir.path(), c.clone(), None).unwrap();
    let kept = store.upsert(new_silence(&c, "a=b", 2)).unwrap();
    let ended = store.upsert(new_silence(&c, "a=c", 2)).unwrap();
    store.expire(&ended).unwrap();
    store.expire(&ended).unwrap();
    assert!(matches!(
        store.expire("nope"),
        Err(SilenceError::NotFound(_))
    ));
    drop(store);

    let store = Store::open(dir.path(), c.clone(), None).unwrap();
    assert_eq!(store.list().len(), 2);
    assert_eq!(
        store.get(&kept).unwrap().state(c.now()),
        SilenceState::Active
    );
    assert_eq!(
        store.get(&ended).unwrap().state(c.now()),
        SilenceState::Expired
    );
    c.advance(KEEP_EXPIRED + Duration::from_secs(1));
    store.sweep();
    assert!(store.get(&ended).is_none());
    assert!(store.get(&kept).is_some(), "ended an hour after: kept");
    let reopened = Store::open(dir.path(), c.clone(), None).unwrap();
    assert_eq!(reopened.list().len(), 1, "the forgetting was written");
    assert!(!dir.path().join("silences.json.new").exists());
}

#[test]
fn a_corrupt_file_is_an_error_naming_it_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(FILE_NAME);
    std::fs::write(&file, "{\"version\":1,\"silences\":[").unwrap();
    let e = Store::open(dir.path(), clock(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("silences.json"), "{e}");
    assert!(e.contains("not valid"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "{\"version\":1,\"silences\":["
    );
}

#[test]
fn the_gauges_count_silences_by_state() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let monitor = Arc::new(MonitorMetrics::new(
        crate::config::Config::default().shard(),
    ));
    let store = Store::open(dir.path(), c.clone(), Some(monitor.clone())).unwrap();
    store.upsert(new_silence(&c, "a=b", 2)).unwrap();
    let mut later = new_silence(&c, "a=c", 2);
    later.starts_at += HOUR;
    later.ends_at += HOUR;
    store.upsert(later).unwrap();
    let text = String::from_utf8(monitor.encode()).unwrap();
    assert!(
        text.contains("inventory_monitor_silences{state=\"active\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("inventory_monitor_silences{state=\"pending\"} 1"),
        "{text}"
    );
}

#[test]
fn ids_are_uuid_shaped_and_differ() {
    let a = new_id();
    let b = new_id();
    assert_ne!(a, b);
    let parts: Vec<usize> = a.split('-').map(str::len).collect();
    assert_eq!(parts, vec![8, 4, 4, 4, 12]);
    assert_eq!(&a[14..15], "4");
}

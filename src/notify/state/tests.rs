//! The state's unit tests: the snapshot format, the journal's replay after any cut, and
//! the store's writes.

use super::*;
use std::time::Duration;

fn parse(bytes: &[u8]) -> Result<Book, String> {
    snapshot::parse(bytes).map(|p| p.book)
}

use crate::receivers::Notification;
use crate::rules::AlertName;

fn firing(id: u64) -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
        severity: "critical".into(),
        profile_name: format!("p{id}").into(),
        organization: "North".into(),
        summary: "s".into(),
        description: "d".into(),
        state: AlertState::Firing,
        active_since: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        firing_since: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_250)),
        resolved_at: None,
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

/// Alert `id`, firing but muted by a silence.
fn held_alert(id: u64) -> Alert {
    Alert {
        suppressed_by: vec![crate::vocabulary::Suppression::Silence { id: "0f6c".into() }],
        ..firing(id)
    }
}

#[test]
fn a_state_file_of_before_suppression_reads_with_nothing_held() {
    let old = br#"{"version":1,"written_at":"2026-01-01T00:00:00Z","next_id":3,
        "alerts":[],"receivers":[{"name":"ops","last_notified":[]}],"outbox":[]}"#;
    let book = parse(old).expect("an older file parses");
    assert!(book.receivers["ops"].held.is_empty());
}

#[test]
fn a_book_survives_the_round_trip_through_the_file() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_767_225_600_123_456_789);
    let mut book = Book {
        alerts: vec![
            Arc::new(firing(1)),
            Arc::new(firing(2)),
            Arc::new(held_alert(3)),
        ],
        next_id: 8,
        ..Book::default()
    };
    let r = book.receivers.entry("ops".into()).or_default();
    r.last_notified.insert(firing(1).key, t);
    r.announced_since
        .insert(firing(1).key, t - Duration::from_secs(90));
    r.held.insert(firing(3).key, t - Duration::from_secs(30));
    r.resolved_to_push.insert(
        firing(2).key,
        PendingResolved {
            alert: firing(2).into(),
            pushes_left: 2,
        },
    );
    let mut entry = OutboxEntry::open(7, "ops", NotificationKind::Alerts, t, t);
    entry.notification = Notification {
        alerts: vec![firing(1).into()],
        ..entry.notification
    };
    entry.attempts = 3;
    entry.last_error = Some("HTTP 503".into());
    book.outbox.insert(entry);

    let bytes = StateStore::encode(&book, t);
    let back = parse(&bytes).expect("parses");
    assert_eq!(back, book);

    // Written as it is serialized (the daemon's snapshots), the file holds the same bytes.
    let mut streamed = Vec::new();
    let written = snapshot::write(&book, t, 0, &mut streamed).expect("writes");
    assert_eq!(written, bytes.len() as u64);
    assert_eq!(streamed, bytes);
    let mut continued = Vec::new();
    snapshot::write(&book, t, 5, &mut continued).expect("writes");
    assert_eq!(continued, snapshot::encode(&book, t, 5));
}

#[test]
fn next_id_never_reuses_an_id_of_the_outbox() {
    let t = SystemTime::UNIX_EPOCH;
    let mut book = Book::default();
    book.outbox
        .insert(OutboxEntry::open(41, "ops", NotificationKind::Alerts, t, t));
    book.next_id = 3;
    let back = parse(&StateStore::encode(&book, t)).expect("parses");
    assert_eq!(back.next_id, 42);
}

#[test]
fn another_format_version_is_named_as_such() {
    let err = parse(br#"{"version": 99, "whatever": true}"#).unwrap_err();
    assert!(err.contains("format version 99"), "{err}");
    let err = parse(b"{\"version\": 1, \"alerts\": [").unwrap_err();
    assert!(err.starts_with("not a state file"), "{err}");
}

// ---------------------------------------------------------------------------------------
// The journal.

use std::sync::Mutex;

use proptest::prelude::*;

use super::journal::{self as jr, Change};

/// An instant `s` seconds into the tests' day.
fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + s)
}

/// The book as the files can hold it: alerts in key order, nothing in flight, no
/// generation.
fn as_saved(book: &Book) -> Book {
    let mut b = book.clone();
    b.alerts.sort_by_key(|a| a.key);
    b.generation = 0;
    for id in b.outbox.iter().map(|e| e.id).collect::<Vec<_>>() {
        if let Some(e) = b.outbox.get_mut(id) {
            e.in_flight = false;
        }
    }
    b
}

/// What a store in `dir` loads, as saved.
fn loaded(dir: &std::path::Path) -> Book {
    let store = StateStore::open(dir).expect("store");
    let (book, moved) = store.load().expect("loads");
    assert!(moved.is_none());
    as_saved(&book)
}

/// The journal files of `dir`, by name.
fn journals(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(store::JOURNAL_PREFIX))
        .collect();
    names.sort();
    names
}

/// One thing that happens to the durable state, as the notifier does it.
#[derive(Debug, Clone)]
enum Op {
    /// The judge's alerts now: these profiles fire.
    Sweep(Vec<u8>),
    /// A notification about these profiles queued for receiver `r`.
    Enqueue(u8, Vec<u8>),
    /// The `n`th queued entry delivered.
    Deliver(u8),
    /// The `n`th queued entry refused for good.
    GiveUp(u8),
    /// The `n`th queued entry failed; retry later.
    Retry(u8),
    /// The `n`th queued entry taken by a worker (sealed, in flight), and something else
    /// changed (the worker itself does not touch the book: `sealed` alone is saved with the
    /// next change, and `in_flight` never).
    Take(u8),
    /// Receiver `r` holds profile `p` back.
    Hold(u8, u8),
    /// Receiver `r` forgets what it was told of profile `p`.
    Forget(u8, u8),
    /// Receiver `r` is no longer configured.
    DropReceiver(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let ids = || proptest::collection::vec(0u8..12, 0..6);
    prop_oneof![
        ids().prop_map(Op::Sweep),
        (0u8..3, ids()).prop_map(|(r, a)| Op::Enqueue(r, a)),
        (0u8..8).prop_map(Op::Deliver),
        (0u8..8).prop_map(Op::GiveUp),
        (0u8..8).prop_map(Op::Retry),
        (0u8..8).prop_map(Op::Take),
        (0u8..3, 0u8..12).prop_map(|(r, p)| Op::Hold(r, p)),
        (0u8..3, 0u8..12).prop_map(|(r, p)| Op::Forget(r, p)),
        (0u8..3).prop_map(Op::DropReceiver),
    ]
}

/// Applies `op` at step `step` the way the notifier's code does (touching the book).
fn apply(book: &mut Book, op: &Op, step: u64) {
    let now = at(step);
    let receiver = |r: u8| format!("r{r}");
    let nth = |book: &Book, n: u8| {
        let ids: Vec<u64> = book.outbox.iter().map(|e| e.id).collect();
        (!ids.is_empty()).then(|| ids[n as usize % ids.len()])
    };
    match op {
        Op::Sweep(ids) => {
            let mut alerts: Vec<Alert> = ids
                .iter()
                .map(|&p| Alert {
                    description: format!("since step {step}").into(),
                    ..firing(u64::from(p))
                })
                .collect();
            alerts.sort_by_key(|a| a.key);
            alerts.dedup_by_key(|a| a.key);
            // Unchanged alerts keep their text: only what changed is new.
            for a in &mut alerts {
                if let Some(old) = book.alerts.iter().find(|o| o.key == a.key) {
                    *a = Alert::clone(old);
                }
            }
            book.alerts = alerts.into_iter().map(Arc::new).collect();
            book.touch();
        }
        Op::Enqueue(r, ids) => {
            let id = book.take_id();
            let mut entry =
                OutboxEntry::open(id, &receiver(*r), NotificationKind::Alerts, now, now);
            entry.notification.alerts = ids.iter().map(|&p| firing(u64::from(p)).into()).collect();
            book.outbox.insert(entry);
            book.touch();
        }
        Op::Deliver(n) => {
            if let Some(id) = nth(book, *n) {
                book.delivered(id, now);
            }
        }
        Op::GiveUp(n) => {
            if let Some(id) = nth(book, *n) {
                book.given_up(id, now);
            }
        }
        Op::Retry(n) => {
            if let Some(id) = nth(book, *n) {
                book.retry_later(
                    id,
                    format!("HTTP 503 at step {step}"),
                    now + Duration::from_secs(5),
                );
            }
        }
        Op::Take(n) => {
            if let Some(e) = nth(book, *n).and_then(|id| book.outbox.get_mut(id)) {
                e.sealed = true;
                e.in_flight = true;
            }
            book.touch();
        }
        Op::Hold(r, p) => {
            let key = firing(u64::from(*p)).key;
            book.receivers
                .entry(receiver(*r))
                .or_default()
                .held
                .insert(key, now);
            book.touch();
        }
        Op::Forget(r, p) => {
            let key = firing(u64::from(*p)).key;
            if let Some(rb) = book.receivers.get_mut(&receiver(*r)) {
                rb.forget(&key);
                rb.release(&key);
            }
            book.touch();
        }
        Op::DropReceiver(r) => {
            let name = receiver(*r);
            book.outbox.retain(|e| e.receiver != name);
            book.receivers.remove(&name);
            book.touch();
        }
    }
}

/// Runs `ops` against a store in `dir`, saving after each; answers the journal's length
/// after each save with the state it then held (the first entry: the state written first).
fn run(dir: &std::path::Path, ops: &[Op], compact_min: u64) -> Vec<(u64, Book)> {
    let store = StateStore::open_with(dir, compact_min).expect("store");
    let (book, _) = store.load().expect("loads");
    let book = Mutex::new(book);
    book.lock().unwrap().touch();
    let journal = || {
        journals(dir)
            .last()
            .map(|n| std::fs::metadata(dir.join(n)).map(|m| m.len()).unwrap_or(0))
            .unwrap_or(0)
    };
    store.save(&book).expect("first write");
    let mut states = vec![(journal(), as_saved(&book.lock().unwrap()))];
    for (step, op) in ops.iter().enumerate() {
        apply(&mut book.lock().unwrap(), op, step as u64 + 1);
        store.save(&book).expect("written");
        states.push((journal(), as_saved(&book.lock().unwrap())));
    }
    store.finish();
    states
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any sequence of changes, the journal cut at any byte (a write a crash stopped after
    /// that many bytes): the state loaded is the state of the last whole record.
    #[test]
    fn a_journal_cut_anywhere_replays_to_its_last_whole_record(
        ops in proptest::collection::vec(op(), 1..24),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 8),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let states = run(dir.path(), &ops, u64::MAX);
        let names = journals(dir.path());
        prop_assert_eq!(names.len(), 1);
        let full = std::fs::read(dir.path().join(&names[0])).expect("journal");
        prop_assert_eq!(full.len() as u64, states.last().unwrap().0);
        prop_assert_eq!(&loaded(dir.path()), &states.last().unwrap().1);
        let snapshot = std::fs::read(dir.path().join(FILE_NAME)).expect("snapshot");
        for cut in cuts.iter().map(|i| i.index(full.len() + 1)) {
            let copy = tempfile::tempdir().expect("temp dir");
            std::fs::write(copy.path().join(FILE_NAME), &snapshot).expect("snapshot copy");
            std::fs::write(copy.path().join(&names[0]), &full[..cut]).expect("journal copy");
            let want = states
                .iter()
                .rev()
                .find(|(len, _)| *len <= cut as u64)
                .map(|(_, b)| b.clone())
                .unwrap_or_else(|| states[0].1.clone());
            prop_assert_eq!(loaded(copy.path()), want, "cut at {} of {}", cut, full.len());
        }
    }

    /// Any sequence of changes with compactions along the way: what loads is the last state.
    #[test]
    fn compactions_along_the_way_lose_nothing(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("temp dir");
        let states = run(dir.path(), &ops, 512);
        prop_assert_eq!(&loaded(dir.path()), &states.last().unwrap().1);
    }
}

/// Cuts of every record at every byte (sampled past the first ones), and flipped bytes:
/// never a panic, never a state that was not written.
#[test]
fn every_cut_and_every_flipped_byte_of_a_journal_loads_a_state_that_was_written() {
    let ops = vec![
        Op::Sweep(vec![1, 2, 3]),
        Op::Enqueue(0, vec![1, 2, 3]),
        Op::Take(0),
        Op::Retry(0),
        Op::Enqueue(1, vec![2]),
        Op::Deliver(0),
        Op::Hold(1, 7),
        Op::Sweep(vec![2, 3, 4]),
        Op::GiveUp(0),
        Op::DropReceiver(1),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let states = run(dir.path(), &ops, u64::MAX);
    let name = journals(dir.path()).remove(0);
    let full = std::fs::read(dir.path().join(&name)).expect("journal");
    let snapshot = std::fs::read(dir.path().join(FILE_NAME)).expect("snapshot");
    let written: Vec<&Book> = states.iter().map(|(_, b)| b).collect();
    let copy = tempfile::tempdir().expect("temp dir");
    std::fs::write(copy.path().join(FILE_NAME), &snapshot).expect("snapshot copy");
    // Every byte of the first records, then every 5th (a load costs milliseconds in a
    // debug build).
    for cut in (0..=full.len()).filter(|c| *c < 600 || c % 5 == 0) {
        std::fs::write(copy.path().join(&name), &full[..cut]).expect("journal copy");
        let want = &states
            .iter()
            .rev()
            .find(|(len, _)| *len <= cut as u64)
            .unwrap_or(&states[0])
            .1;
        assert_eq!(&loaded(copy.path()), want, "cut at {cut} of {}", full.len());
    }
    // Loading changes no file (the first write does), so the copy is reused as it is.
    for flip in (0..full.len()).step_by(7) {
        let mut bytes = full.clone();
        bytes[flip] ^= 0x5a;
        let read = jr::read(&bytes);
        let discarded = read.discarded.expect("a flipped byte is noticed");
        assert!(
            discarded.offset <= flip as u64,
            "flip at {flip}: {discarded:?}"
        );
        std::fs::write(copy.path().join(&name), &bytes).expect("journal copy");
        let got = loaded(copy.path());
        assert!(
            written.contains(&&got),
            "flip at {flip}: a state never written"
        );
    }
}

#[test]
fn a_cut_record_is_reported_with_its_offset_and_size() {
    let mut bytes = jr::header_record(3);
    let good = bytes.len() as u64;
    let payload = serde_json::to_vec(&jr::Batch {
        at: at(1),
        changes: vec![Change::NextId(9)],
    })
    .expect("serializes");
    let record = jr::frame(&payload);
    bytes.extend_from_slice(&record[..record.len() - 2]);
    let read = jr::read(&bytes);
    assert_eq!(read.header.map(|h| h.epoch), Some(3));
    assert!(read.batches.is_empty());
    assert_eq!(read.good_len, good);
    let d = read.discarded.expect("reported");
    assert_eq!((d.offset, d.bytes), (good, record.len() as u64 - 2));
    assert!(d.problem.contains("cut short"), "{}", d.problem);
    // Zeroes where a record should be (a file extended by a crash) are no record.
    let mut zeroes = jr::header_record(3);
    zeroes.extend_from_slice(&[0; 64]);
    assert!(jr::read(&zeroes).discarded.is_some_and(|d| d.bytes == 64));
}

/// A delivery outcome is written as itself: a few hundred bytes whatever the state holds.
#[test]
fn a_delivery_outcome_writes_in_proportion_to_the_change_not_the_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StateStore::open(dir.path()).expect("store");
    let mut book = Book {
        alerts: (1..=5_000).map(firing).map(Arc::new).collect(),
        ..Book::default()
    };
    let r = book.receivers.entry("ops".into()).or_default();
    for id in 1..=5_000 {
        r.last_notified.insert(firing(id).key, at(0));
    }
    let id = book.take_id();
    let mut entry = OutboxEntry::open(id, "ops", NotificationKind::Alerts, at(0), at(0));
    entry.notification.alerts = vec![firing(1).into()];
    book.outbox.insert(entry);
    book.touch();
    let book = Mutex::new(book);
    store.save(&book).expect("first write");
    let snapshot = std::fs::metadata(dir.path().join(FILE_NAME))
        .expect("snapshot")
        .len();
    let journal = dir.path().join(&journals(dir.path())[0]);
    let before = std::fs::metadata(&journal).expect("journal").len();
    book.lock().unwrap().delivered(id, at(5));
    assert!(store.save(&book).expect("written"));
    let grew = std::fs::metadata(&journal).expect("journal").len() - before;
    assert!(
        grew < 200,
        "{grew} bytes for one delivery (the snapshot: {snapshot})"
    );
    assert!(snapshot > 1_000_000, "{snapshot}");
    // A sweep that changes one alert of 5,000 writes that alert.
    {
        let mut b = book.lock().unwrap();
        Arc::make_mut(&mut b.alerts[17]).description = "changed".into();
        b.touch();
    }
    let before = std::fs::metadata(&journal).expect("journal").len();
    store.save(&book).expect("written");
    let grew = std::fs::metadata(&journal).expect("journal").len() - before;
    assert!(grew < 1_000, "{grew} bytes for one changed alert");
    drop(store);
    assert_eq!(loaded(dir.path()), as_saved(&book.lock().unwrap()));
}

/// A batch of a large entry taken by its receiver is written as itself, not as the rest of
/// the entry: a storm's 50 batches of 1,000 alerts would otherwise write the remaining
/// alerts again after each one. Replayed, it is the same state.
#[test]
fn a_delivered_batch_writes_in_proportion_to_the_batch_not_the_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StateStore::open(dir.path()).expect("store");
    let mut book = Book::default();
    let id = book.take_id();
    let mut entry = OutboxEntry::open(id, "ops", NotificationKind::Alerts, at(0), at(0));
    entry.notification.alerts = (1..=5_000).map(|i| firing(i).into()).collect();
    book.outbox.insert(entry);
    book.touch();
    let book = Mutex::new(book);
    store.save(&book).expect("first write");
    let journal = dir.path().join(&journals(dir.path())[0]);
    let before = std::fs::metadata(&journal).expect("journal").len();
    book.lock().unwrap().delivered_part(id, 1_000, at(5));
    assert!(store.save(&book).expect("written"));
    let grew = std::fs::metadata(&journal).expect("journal").len() - before;
    assert!(grew < 200, "{grew} bytes for one delivered batch");
    {
        let b = book.lock().unwrap();
        let rest = b.outbox.get(id).expect("the rest keeps its place");
        assert_eq!(rest.notification.alerts.len(), 4_000);
        assert_eq!(rest.notification.alerts[0].key, firing(1_001).key);
        assert!(b.receivers["ops"]
            .last_notified
            .contains_key(&firing(1_000).key));
        assert!(!b.receivers["ops"]
            .last_notified
            .contains_key(&firing(1_001).key));
    }
    drop(store);
    assert_eq!(loaded(dir.path()), as_saved(&book.lock().unwrap()));
}

/// A `state.json` of the version before the journal (no journal epoch) loads as before, and
/// the first write moves it to the journal without losing anything.
#[test]
fn a_state_file_of_the_previous_version_is_migrated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut book = Book {
        alerts: vec![Arc::new(firing(1)), Arc::new(held_alert(2))],
        next_id: 5,
        ..Book::default()
    };
    book.receivers
        .entry("ops".into())
        .or_default()
        .last_notified
        .insert(firing(1).key, at(3));
    book.outbox.insert(OutboxEntry::open(
        4,
        "ops",
        NotificationKind::Alerts,
        at(1),
        at(1),
    ));
    let old = StateStore::encode(&book, at(4));
    assert!(!String::from_utf8_lossy(&old).contains("journal_epoch"));
    std::fs::write(dir.path().join(FILE_NAME), &old).expect("old file");

    let store = StateStore::open(dir.path()).expect("store");
    let (back, moved) = store.load().expect("loads");
    assert!(moved.is_none());
    assert_eq!(as_saved(&back), as_saved(&book));
    let back = Mutex::new(back);
    back.lock().unwrap().touch();
    store.save(&back).expect("first write");
    back.lock().unwrap().delivered(4, at(9));
    store.save(&back).expect("written");
    drop(store);
    assert_eq!(journals(dir.path()), vec!["state.journal.1".to_string()]);
    let after = loaded(dir.path());
    assert!(after.outbox.is_empty());
    assert_eq!(after.alerts, as_saved(&book).alerts);
}

/// A compaction under way and the journals it leaves: the snapshot names the newest, the
/// older ones are gone, and a crash between its steps (the new journal started, the
/// snapshot not yet replaced) loses nothing.
#[test]
fn a_compaction_replaces_the_old_journals_and_a_crash_midway_loses_nothing() {
    let ops: Vec<Op> = (0..60)
        .map(|i| match i % 3 {
            0 => Op::Enqueue((i % 2) as u8, vec![(i % 11) as u8, 3]),
            1 => Op::Sweep(vec![(i % 12) as u8, 1]),
            _ => Op::Deliver(0),
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let states = run(dir.path(), &ops, 2_048);
    let names = journals(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert_ne!(names[0], "state.journal.1", "compacted at least once");
    let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).expect("snapshot");
    let epoch: u64 = names[0]
        .strip_prefix(store::JOURNAL_PREFIX)
        .and_then(|e| e.parse().ok())
        .expect("an epoch");
    assert!(
        text.contains(&format!("\"journal_epoch\":{epoch}")),
        "{text}"
    );
    assert_eq!(loaded(dir.path()), states.last().unwrap().1);

    // The crash midway: the old snapshot (epoch 1, empty) with the journals after it.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = StateStore::open_with(dir.path(), u64::MAX).expect("store");
    let book = Mutex::new(Book::default());
    book.lock().unwrap().touch();
    store.save(&book).expect("first");
    let old_snapshot = std::fs::read(dir.path().join(FILE_NAME)).expect("snapshot");
    drop(store);
    let states = run(dir.path(), &ops[..20], 2_048);
    let names = journals(dir.path());
    assert_eq!(names.len(), 1);
    // Rebuild what a crash before the snapshot's rename leaves: the old snapshot and every
    // journal from its epoch on. The newest journal continues one written before it.
    let copy = tempfile::tempdir().expect("temp dir");
    let store = StateStore::open_with(copy.path(), u64::MAX).expect("store");
    let book = Mutex::new(Book::default());
    book.lock().unwrap().touch();
    store.save(&book).expect("first");
    for (step, op) in ops[..20].iter().enumerate() {
        apply(&mut book.lock().unwrap(), op, step as u64 + 1);
        store.save(&book).expect("written");
    }
    drop(store);
    std::fs::write(copy.path().join(FILE_NAME), &old_snapshot).expect("old snapshot");
    assert_eq!(loaded(copy.path()), states.last().unwrap().1);
}

/// A streamed record holds its payload framed, at the place asked for: after what the
/// file held, over whatever a failed write had left beyond it.
#[test]
fn a_streamed_record_is_its_payload_framed_at_the_journal_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("journal");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("file");
    let head = jr::header_record(3);
    std::io::Write::write_all(&mut file, &head).expect("header");
    // A failed write's leftovers: the cursor beyond the end.
    std::io::Write::write_all(&mut file, b"partial").expect("junk");
    file.set_len(head.len() as u64).expect("cut back");
    let changes = vec![Change::Alert(Arc::new(firing(1))), Change::NextId(9)];
    let len = jr::write_batch(&mut file, head.len() as u64, at(1), &changes).expect("written");
    let payload = serde_json::to_vec(&jr::Batch {
        at: at(1),
        changes: changes.clone(),
    })
    .expect("serializes");
    let bytes = std::fs::read(&path).expect("read back");
    assert_eq!(&bytes[..head.len()], &head[..]);
    assert_eq!(&bytes[head.len()..], &jr::frame(&payload)[..]);
    assert_eq!(len, bytes.len() as u64 - head.len() as u64);
    let read = jr::read(&bytes);
    assert_eq!(read.batches.len(), 1);
    assert_eq!(read.batches[0].changes, changes);
    assert!(read.discarded.is_none());
}

/// The changes of a book are the same whether its alerts come in key order (the daemon's)
/// or not.
#[test]
fn the_diff_does_not_depend_on_the_order_of_the_alerts() {
    let mut was = Book {
        alerts: vec![firing(1), firing(2), firing(4)]
            .into_iter()
            .map(Arc::new)
            .collect(),
        ..Book::default()
    };
    let mut mirror = jr::Mirror::of(std::mem::take(&mut was));
    let mut changed = firing(2);
    changed.description = "changed".into();
    let sorted = Book {
        alerts: vec![firing(1), changed.clone(), firing(3)]
            .into_iter()
            .map(Arc::new)
            .collect(),
        ..Book::default()
    };
    let shuffled = Book {
        alerts: vec![firing(3), firing(1), changed.clone()]
            .into_iter()
            .map(Arc::new)
            .collect(),
        ..Book::default()
    };
    let expected = vec![
        Change::Alert(Arc::new(changed)),
        Change::Alert(Arc::new(firing(3))),
        Change::AlertGone(firing(4).key),
    ];
    assert_eq!(jr::diff(&mut mirror, &sorted), expected);
    assert_eq!(jr::diff(&mut mirror, &shuffled), expected);
}

/// The mirror holds the book's alerts, not copies: an unchanged alert is the same
/// allocation, one equal but held apart is taken from the book without a change written,
/// and a changed one is journalled as the book's and kept as it.
#[test]
fn the_mirror_takes_the_books_alerts_instead_of_holding_copies() {
    let kept = Arc::new(firing(1));
    let mut mirror = jr::Mirror::of(Book {
        alerts: vec![kept.clone(), Arc::new(firing(2)), Arc::new(firing(3))],
        ..Book::default()
    });
    let mut changed = firing(3);
    changed.description = "changed".into();
    let book = Book {
        // 1: the very alert; 2: an equal one held apart (a restored copy); 3: changed.
        alerts: vec![kept.clone(), Arc::new(firing(2)), Arc::new(changed)],
        ..Book::default()
    };
    let changes = jr::diff(&mut mirror, &book);
    assert_eq!(changes, vec![Change::Alert(book.alerts[2].clone())]);
    match &changes[0] {
        Change::Alert(a) => assert!(Arc::ptr_eq(a, &book.alerts[2])),
        other => panic!("not an alert: {other:?}"),
    }
    for change in changes {
        mirror.apply(change);
    }
    for a in &book.alerts {
        assert!(Arc::ptr_eq(&mirror.alerts[&a.key], a), "{:?}", a.key);
    }
    assert!(jr::diff(&mut mirror, &book).is_empty());
}

/// A shared alert is journalled as the alert itself: the record's bytes are those of the
/// alert's value.
#[test]
fn a_shared_alert_is_journalled_as_the_alert_itself() {
    let a = held_alert(1);
    let change = serde_json::to_string(&Change::Alert(Arc::new(a.clone()))).expect("change");
    let alert = serde_json::to_string(&a).expect("alert");
    assert_eq!(change, format!(r#"{{"alert":{alert}}}"#));
    let back: Change = serde_json::from_str(&change).expect("parses");
    assert_eq!(back, Change::Alert(Arc::new(a)));
}

#[test]
fn a_change_costs_no_more_than_a_told_record_in_a_writes_list() {
    // A storm's write lists one change per alert and receiver: an outbox entry or a
    // resolved alert rides behind a pointer, not inline in every change of the list.
    assert!(std::mem::size_of::<journal::Change>() <= 128);
    assert!(std::mem::size_of::<PendingResolved>() <= 16);
}

//! The state's unit tests: the snapshot format, the journal's replay after any cut, and
//! the store's writes.

use super::*;
use std::time::Duration;

fn parse(bytes: &[u8]) -> Result<Book, String> {
    snapshot::parse(bytes).map(|(book, _)| book)
}

use crate::receivers::Notification;
use crate::rules::AlertName;

fn firing(id: u64) -> Alert {
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
        severity: "critical".into(),
        profile_name: format!("p{id}"),
        organization: "North".into(),
        summary: "s".into(),
        description: "d".into(),
        state: AlertState::Firing,
        active_since: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        firing_since: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_250)),
        resolved_at: None,
        suppressed_by: Vec::new(),
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
        alerts: vec![firing(1), firing(2), held_alert(3)],
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
            alert: firing(2),
            pushes_left: 2,
        },
    );
    let mut entry = OutboxEntry::open(7, "ops", NotificationKind::Alerts, t, t);
    entry.notification = Notification {
        alerts: vec![firing(1)],
        ..entry.notification
    };
    entry.attempts = 3;
    entry.last_error = Some("HTTP 503".into());
    book.outbox.insert(entry);

    let bytes = StateStore::encode(&book, t);
    let back = parse(&bytes).expect("parses");
    assert_eq!(back, book);
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

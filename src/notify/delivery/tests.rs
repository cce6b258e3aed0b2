//! Unit tests of delivery: batches, backoff, scrubbing.

use super::*;
use crate::rules::{Alert, AlertKey, AlertName, AlertState};

fn alert(id: u64, state: AlertState) -> Alert {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    Alert {
        key: AlertKey::profile(AlertName::ProfileConnectivityDegraded, id),
        severity: "critical".into(),
        profile_name: format!("p{id}").into(),
        organization: "".into(),
        summary: "".into(),
        description: "".into(),
        state,
        active_since: t0,
        firing_since: Some(t0),
        resolved_at: (state == AlertState::Resolved).then_some(t0),
        suppressed_by: Vec::new(),
        runbook_url: String::new(),
    }
}

/// A book whose outbox holds one sealed entry for `hook`: 5 firing alerts, then 2
/// resolved (of alerts the receiver was told of).
fn book_with_seven() -> (Book, u64, SystemTime) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_229_200);
    let mut book = Book::default();
    let id = book.take_id();
    let mut entry = OutboxEntry::open(id, "hook", NotificationKind::Alerts, now, now);
    entry.notification.alerts = (1..=5)
        .map(|i| alert(i, AlertState::Firing))
        .chain((6..=7).map(|i| alert(i, AlertState::Resolved)))
        .map(Into::into)
        .collect();
    book.outbox.insert(entry);
    let told = book.receivers.entry("hook".into()).or_default();
    for i in 6..=7 {
        let a = alert(i, AlertState::Firing);
        told.last_notified.insert(a.key, now);
        told.announced_since.insert(a.key, a.active_since);
    }
    (book, id, now)
}

fn ids(alerts: &[std::sync::Arc<Alert>]) -> Vec<u64> {
    alerts.iter().filter_map(|a| a.key.profile_id).collect()
}

#[test]
fn a_batched_entry_goes_out_in_order_in_parts_within_the_limit() {
    let (mut book, id, now) = book_with_seven();
    let max_age = Duration::from_secs(86_400);
    let mut sent = Vec::new();
    loop {
        let (step, dropped) = next_step(&mut book, "hook", now, max_age, Some(3));
        assert!(dropped.is_empty());
        let Step::Attempt(part) = step else { break };
        assert_eq!(part.id, id, "one entry, one id: the batches share it");
        assert!(part.notification.alerts.len() <= 3);
        sent.push(ids(&part.notification.alerts));
        if part.left > 0 {
            book.delivered_part(part.id, part.notification.alerts.len(), now);
            let rest = book.outbox.get(id).expect("the rest waits, at the head");
            assert_eq!(rest.notification.alerts.len(), part.left);
            assert!(rest.in_flight, "the next batch follows at once");
        } else {
            book.delivered(part.id, now);
        }
    }
    assert_eq!(sent, vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    assert!(book.outbox.is_empty());
    let told = &book.receivers["hook"];
    assert_eq!(
        told.last_notified
            .keys()
            .filter_map(|k| k.profile_id)
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5],
        "the firing ones count as told, the resolved ones are forgotten"
    );
}

#[test]
fn a_failed_batch_is_retried_from_the_first_alert_not_yet_taken() {
    let (mut book, id, now) = book_with_seven();
    let max_age = Duration::from_secs(86_400);
    let (Step::Attempt(first), _) = next_step(&mut book, "hook", now, max_age, Some(3)) else {
        panic!("the entry is due");
    };
    book.delivered_part(first.id, first.notification.alerts.len(), now);
    // The first batch is recorded as told before the second is sent: a crash now
    // re-sends at most the batch in flight.
    assert!(book.receivers["hook"]
        .last_notified
        .contains_key(&alert(3, AlertState::Firing).key));
    let (Step::Attempt(second), _) = next_step(&mut book, "hook", now, max_age, Some(3)) else {
        panic!("the next batch is due at once");
    };
    book.retry_later(second.id, "HTTP 503".into(), now + Duration::from_secs(5));
    let (step, _) = next_step(&mut book, "hook", now, max_age, Some(3));
    assert!(matches!(step, Step::Wait(_)), "it waits for its backoff");
    let later = now + Duration::from_secs(5);
    let (Step::Attempt(again), _) = next_step(&mut book, "hook", later, max_age, Some(3)) else {
        panic!("due after the backoff");
    };
    assert_eq!(again.id, id);
    assert_eq!(ids(&again.notification.alerts), vec![4, 5, 6]);
    assert_eq!(again.attempts, 1);
}

#[test]
fn without_a_batch_size_one_request_carries_the_whole_entry() {
    let (mut book, _, now) = book_with_seven();
    let (Step::Attempt(all), _) =
        next_step(&mut book, "hook", now, Duration::from_secs(86_400), None)
    else {
        panic!("the entry is due");
    };
    assert_eq!(all.notification.alerts.len(), 7);
    assert_eq!(all.left, 0);
}

#[test]
fn the_default_backoff_never_waits_more_than_a_minute() {
    let t = DeliveryTuning::default();
    assert_eq!(t.backoff_cap, Duration::from_secs(60));
    for failures in [1, 5, 7, 30, u32::MAX] {
        assert!(backoff(failures, t.backoff_base, t.backoff_cap, 0.999_999) <= t.backoff_cap);
    }
    assert_eq!(
        backoff(30, t.backoff_base, t.backoff_cap, 1.0),
        t.backoff_cap
    );
}

#[test]
fn backoff_doubles_up_to_the_cap_and_jitters_below_the_ceiling() {
    let base = Duration::from_secs(1);
    let cap = Duration::from_secs(300);
    assert_eq!(backoff(1, base, cap, 0.999_999).as_secs(), 0);
    assert!(backoff(1, base, cap, 0.999_999) > Duration::from_millis(999));
    assert_eq!(backoff(4, base, cap, 0.5), Duration::from_secs(4));
    assert_eq!(backoff(30, base, cap, 1.0), cap);
    assert_eq!(backoff(u32::MAX, base, cap, 1.0), cap);
    assert_eq!(backoff(3, base, cap, 0.0), Duration::from_millis(100));
}

#[test]
fn scrubbing_removes_the_url_its_path_and_the_secrets() {
    let s = Scrubber::new(
        "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX?token=abcdef123",
        Some("hmac-key"),
        &["Bearer sekrit-value"],
    );
    let text = "bad url https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX?token=abcdef123 \
                and path XXXXXXXXXXXX and abcdef123 and hmac-key and Bearer sekrit-value";
    let out = s.scrub(text);
    for secret in ["XXXXXXXXXXXX", "abcdef123", "hmac-key", "sekrit-value"] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
    assert!(out.starts_with("bad url <redacted>"), "{out}");
}

#[test]
fn an_error_body_becomes_a_short_scrubbed_line() {
    let s = Scrubber::new("http://127.0.0.1:9/hook/abcdefgh", None, &[]);
    let body = format!("no such hook\n/hook/abcdefgh {}", "x".repeat(500));
    let text = describe_status(404, body.as_bytes(), &s);
    assert!(
        text.starts_with("HTTP 404 Not Found: no such hook /<redacted> xxx"),
        "{text}"
    );
    assert!(!text.contains("abcdefgh"));
    assert!(text.chars().count() < 240);
}

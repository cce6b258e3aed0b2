//! The journal: what changed since the snapshot, appended to `state.dir/state.journal.<epoch>`
//! one record per write, so that a write costs what changed, not what the state holds.
//!
//! A record is `length (u32, little-endian) | CRC-32 of the payload (u32, little-endian) |
//! payload`. The first record of a file is its [`Header`]; every other one is a *batch*: the
//! JSON list of [`Change`]s of one write, applied whole or not at all. Reading stops at the
//! first record that is cut short or whose checksum does not match (a write a crash
//! interrupted: it was never acknowledged); everything before it is the state.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Book, PendingResolved, ReceiverBook};
use crate::notify::outbox::OutboxEntry;
use crate::rules::{Alert, AlertKey};

/// The journal format this build writes and reads.
pub const JOURNAL_VERSION: u32 = 1;

/// Bytes before a record's payload: its length and its checksum.
const FRAME: usize = 8;

/// The first record of a journal file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`JOURNAL_VERSION`].
    pub journal: u32,
    /// The file's epoch (as in its name).
    pub epoch: u64,
}

/// One change to the durable state. Those of the delivery outcomes are the book's own
/// operations, replayed by calling them again (they are deterministic); the others set an
/// item to its new value, or remove it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// [`Book::delivered`].
    Delivered {
        /// The entry.
        id: u64,
        /// When.
        #[serde(with = "humantime_serde")]
        at: SystemTime,
    },
    /// [`Book::delivered_part`].
    DeliveredPart {
        /// The entry.
        id: u64,
        /// How many of its first alerts were taken.
        taken: usize,
        /// When.
        #[serde(with = "humantime_serde")]
        at: SystemTime,
    },
    /// [`Book::given_up`].
    GivenUp {
        /// The entry.
        id: u64,
        /// When.
        #[serde(with = "humantime_serde")]
        at: SystemTime,
    },
    /// [`Book::retry_later`].
    RetryLater {
        /// The entry.
        id: u64,
        /// Why the attempt failed.
        reason: String,
        /// When to try again.
        #[serde(with = "humantime_serde")]
        next_attempt_at: SystemTime,
    },
    /// The id the next notification gets.
    NextId(u64),
    /// A pending or firing alert of the judge, new or changed (the book's, shared: the
    /// mirror keeps it once written).
    Alert(Arc<Alert>),
    /// An alert the judge no longer holds.
    AlertGone(AlertKey),
    /// A receiver with nothing recorded yet.
    Receiver(String),
    /// A receiver no longer configured.
    ReceiverGone(String),
    /// Everything one receiver has recorded about one alert (absent: nothing).
    Told {
        /// The receiver.
        receiver: String,
        /// The alert.
        key: AlertKey,
        /// [`ReceiverBook::last_notified`].
        #[serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )]
        last_notified: Option<SystemTime>,
        /// [`ReceiverBook::announced_since`].
        #[serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )]
        since: Option<SystemTime>,
        /// [`ReceiverBook::held`].
        #[serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Option::is_none"
        )]
        held: Option<SystemTime>,
        /// [`ReceiverBook::resolved_to_push`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolved: Option<PendingResolved>,
    },
    /// An outbox entry, new or changed (as serde writes it: whatever fields it has). Boxed,
    /// as the resolved alert of `Told` is shared: a write's list of changes costs a pointer
    /// per entry, not an entry's size per change. Its alerts are the book's, shared.
    Entry(Box<OutboxEntry>),
    /// An outbox entry gone without a delivery outcome (a receiver no longer configured).
    EntryGone(u64),
}

/// The state as the journal has it so far: what a write compares the book against. The
/// alerts are kept by key, as the judge keeps them, and shared with the book (so with the
/// judge and the status document): the mirror holds no copy of its own.
#[derive(Debug, Clone, Default)]
pub struct Mirror {
    /// Everything but the alerts (`book.alerts` stays empty).
    pub book: Book,
    /// The judge's alerts, by key.
    pub alerts: BTreeMap<AlertKey, Arc<Alert>>,
}

impl Mirror {
    /// The mirror of `book`.
    pub fn of(mut book: Book) -> Self {
        let alerts = std::mem::take(&mut book.alerts)
            .into_iter()
            .map(|a| (a.key, a))
            .collect();
        book.unsaved.clear();
        Self { book, alerts }
    }

    /// The state as a book (alerts in key order).
    pub fn to_book(&self) -> Book {
        let mut book = self.book.clone();
        book.alerts = self.alerts.values().cloned().collect();
        book.generation = 0;
        book
    }

    /// The state as a book, consuming the mirror.
    pub fn into_book(self) -> Book {
        let mut book = self.book;
        book.alerts = self.alerts.into_values().collect();
        book.generation = 0;
        book
    }

    /// Applies one change.
    pub fn apply(&mut self, change: Change) {
        let book = &mut self.book;
        match change {
            Change::Delivered { id, at } => {
                book.delivered(id, at);
            }
            Change::DeliveredPart { id, taken, at } => book.delivered_part(id, taken, at),
            Change::GivenUp { id, at } => {
                book.given_up(id, at);
            }
            Change::RetryLater {
                id,
                reason,
                next_attempt_at,
            } => book.retry_later(id, reason, next_attempt_at),
            Change::NextId(n) => book.next_id = n,
            Change::Alert(alert) => {
                self.alerts.insert(alert.key, alert);
            }
            Change::AlertGone(key) => {
                self.alerts.remove(&key);
            }
            Change::Receiver(name) => {
                book.receivers.entry(name).or_default();
            }
            Change::ReceiverGone(name) => {
                book.receivers.remove(&name);
            }
            Change::Told {
                receiver,
                key,
                last_notified,
                since,
                held,
                resolved,
            } => {
                let r = book.receivers.entry(receiver).or_default();
                set(&mut r.last_notified, key, last_notified);
                set(&mut r.announced_since, key, since);
                set(&mut r.held, key, held);
                set(&mut r.resolved_to_push, key, resolved);
            }
            Change::Entry(entry) => book.outbox.insert(*entry),
            Change::EntryGone(id) => {
                book.outbox.remove(id);
            }
        }
        // The mirror records nothing of its own: it is what was written.
        book.unsaved.clear();
    }
}

/// Sets or removes `key` in `map`.
fn set<V>(map: &mut BTreeMap<AlertKey, V>, key: AlertKey, value: Option<V>) {
    match value {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

/// The changes that turn `mirror` into `book`. Costs a walk over both (in memory); what it
/// returns, and what is written, is only what differs.
///
/// Alerts are compared as the same allocation first (the judge's alert, unchanged since
/// the last write, shared by both), then by value. An alert equal in value but held apart
/// (the judge's restored copy after a restart, say) changes nothing on disk, and the
/// mirror takes the book's from then on: the two stop holding one alert twice.
pub fn diff(mirror: &mut Mirror, book: &Book) -> Vec<Change> {
    let mut out = Vec::new();
    if mirror.book.next_id != book.next_id {
        out.push(Change::NextId(book.next_id));
    }
    // Alerts, by key.
    let mut on_alert =
        |key: &AlertKey, was: Option<&mut Arc<Alert>>, is: Option<&Arc<Alert>>| match (was, is) {
            // The same alert: unchanged since it was written (the common case, no compare).
            (Some(was), Some(a)) if Arc::ptr_eq(was, a) => {}
            // Equal, held apart: nothing to write; the mirror keeps the book's from now on.
            (Some(was), Some(a)) if **was == **a => *was = a.clone(),
            (_, Some(a)) => out.push(Change::Alert(a.clone())),
            (Some(_), None) => out.push(Change::AlertGone(*key)),
            (None, None) => {}
        };
    // The daemon's alerts come in key order, each key once (the judge's): they are walked
    // as they are, without an index of a large fleet's alerts built every write.
    if book.alerts.windows(2).all(|w| w[0].key < w[1].key) {
        merge(
            mirror.alerts.iter_mut(),
            book.alerts.iter().map(|a| (&a.key, a)),
            &mut on_alert,
        );
    } else {
        let mut now: BTreeMap<&AlertKey, &Arc<Alert>> = BTreeMap::new();
        for a in &book.alerts {
            now.insert(&a.key, a);
        }
        merge(
            mirror.alerts.iter_mut(),
            now.iter().map(|(k, v)| (*k, *v)),
            &mut on_alert,
        );
    }
    // Receivers.
    for name in mirror.book.receivers.keys() {
        if !book.receivers.contains_key(name) {
            out.push(Change::ReceiverGone(name.clone()));
        }
    }
    let empty = ReceiverBook::default();
    for (name, r) in &book.receivers {
        let was = match mirror.book.receivers.get(name) {
            Some(was) => was,
            None => {
                out.push(Change::Receiver(name.clone()));
                &empty
            }
        };
        let mut keys = std::collections::BTreeSet::new();
        differing(&was.last_notified, &r.last_notified, &mut keys);
        differing(&was.announced_since, &r.announced_since, &mut keys);
        differing(&was.held, &r.held, &mut keys);
        differing(&was.resolved_to_push, &r.resolved_to_push, &mut keys);
        for key in keys {
            out.push(Change::Told {
                receiver: name.clone(),
                key,
                last_notified: r.last_notified.get(&key).copied(),
                since: r.announced_since.get(&key).copied(),
                held: r.held.get(&key).copied(),
                resolved: r.resolved_to_push.get(&key).cloned(),
            });
        }
    }
    // The outbox, by id.
    merge(
        mirror.book.outbox.iter().map(|e| (e.id, e)),
        book.outbox.iter().map(|e| (e.id, e)),
        |id, was, is| match (was, is) {
            (_, Some(e)) if !was.is_some_and(|w| same_entry(w, e)) => {
                out.push(Change::Entry(Box::new(e.clone())))
            }
            (Some(_), None) => out.push(Change::EntryGone(id)),
            _ => {}
        },
    );
    out
}

/// True when two entries are the same as saved (`in_flight` is not saved).
fn same_entry(a: &OutboxEntry, b: &OutboxEntry) -> bool {
    if a.in_flight == b.in_flight {
        return a == b;
    }
    let mut a = a.clone();
    a.in_flight = b.in_flight;
    a == *b
}

/// Collects the keys whose values differ between two maps.
fn differing<V: PartialEq>(
    was: &BTreeMap<AlertKey, V>,
    is: &BTreeMap<AlertKey, V>,
    keys: &mut std::collections::BTreeSet<AlertKey>,
) {
    if was == is {
        return;
    }
    merge(was.iter(), is.iter(), |key, a, b| {
        if a != b {
            keys.insert(*key);
        }
    });
}

/// Walks two key-ordered sequences together, calling `f` with each key and its value on
/// either side.
fn merge<K: Ord + Copy, V, W>(
    was: impl Iterator<Item = (K, V)>,
    is: impl Iterator<Item = (K, W)>,
    mut f: impl FnMut(K, Option<V>, Option<W>),
) {
    let mut was = was.peekable();
    let mut is = is.peekable();
    loop {
        let order = match (was.peek(), is.peek()) {
            (None, None) => return,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some((k, v)) = was.next() {
                    f(k, Some(v), None);
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((k, v)) = is.next() {
                    f(k, None, Some(v));
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((k, a)), Some((_, b))) = (was.next(), is.next()) {
                    f(k, Some(a), Some(b));
                }
            }
        }
    }
}

/// One record's bytes: frame and payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME + payload.len());
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The record of a header.
pub fn header_record(epoch: u64) -> Vec<u8> {
    let header = Header {
        journal: JOURNAL_VERSION,
        epoch,
    };
    frame(&serde_json::to_vec(&header).unwrap_or_default())
}

/// One write: its changes, applied whole or not at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// When it was written (for people reading the state, and tests waiting for writes).
    #[serde(with = "humantime_serde")]
    pub at: SystemTime,
    /// What changed.
    pub changes: Vec<Change>,
}

/// [`Batch`] borrowing its changes: the same serialized form.
#[derive(Serialize)]
struct BatchRef<'a> {
    #[serde(with = "humantime_serde")]
    at: SystemTime,
    changes: &'a [Change],
}

/// Writes the record of one batch of `changes` into `file` at `start` (the end of what it
/// holds) and returns the record's length: a zeroed frame, then the payload streamed
/// through a buffer as it is serialized, its CRC and length counted on the way, then the
/// frame filled in. The record of a storm's sweep (tens of MB) is never held in memory
/// whole. A crash before the frame is filled in leaves a record of length zero, which
/// [`read`] takes for a torn end; nothing is acknowledged before the caller's fsync.
pub fn write_batch(
    file: &mut File,
    start: u64,
    at: SystemTime,
    changes: &[Change],
) -> io::Result<u64> {
    file.seek(SeekFrom::Start(start))?;
    file.write_all(&[0; FRAME])?;
    let mut out = Summing {
        inner: BufWriter::with_capacity(64 * 1024, &mut *file),
        crc: flate2::Crc::new(),
        len: 0,
    };
    serde_json::to_writer(&mut out, &BatchRef { at, changes })?;
    out.inner.flush()?;
    let (sum, len) = (out.crc.sum(), out.len);
    drop(out);
    let len = u32::try_from(len).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a change too large for one record",
        )
    })?;
    let mut frame = [0; FRAME];
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame[4..].copy_from_slice(&sum.to_le_bytes());
    file.write_all_at(&frame, start)?;
    Ok(FRAME as u64 + u64::from(len))
}

/// A writer that counts the bytes it passes on and their CRC-32.
struct Summing<W> {
    inner: W,
    crc: flate2::Crc,
    len: u64,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// CRC-32 (IEEE) of `bytes`.
fn crc(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// What a journal file holds.
#[derive(Debug, Default)]
pub struct Read {
    /// Its header, when the first record is one.
    pub header: Option<Header>,
    /// Its batches, in order.
    pub batches: Vec<Batch>,
    /// The length of the part that was read (where a next record would start).
    pub good_len: u64,
    /// What was discarded after it, if anything.
    pub discarded: Option<Discarded>,
}

/// The end of a journal that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    /// How many bytes.
    pub bytes: u64,
    /// At which offset they start.
    pub offset: u64,
    /// Why.
    pub problem: String,
}

/// Reads a journal file's bytes up to the first record that is cut short or damaged.
pub fn read(bytes: &[u8]) -> Read {
    let mut out = Read::default();
    let mut at = 0usize;
    let problem = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break None;
        }
        if rest.len() < FRAME {
            break Some(format!("a record cut short ({} bytes)", rest.len()));
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let sum = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len == 0 {
            break Some("an empty record (zeroes)".to_string());
        }
        let Some(payload) = rest.get(FRAME..FRAME + len) else {
            break Some(format!(
                "a record cut short ({} of {} bytes)",
                rest.len() - FRAME,
                len
            ));
        };
        if crc(payload) != sum {
            break Some("a record whose checksum does not match".to_string());
        }
        if out.header.is_none() {
            match serde_json::from_slice::<Header>(payload) {
                Ok(h) if h.journal == JOURNAL_VERSION => out.header = Some(h),
                Ok(h) => {
                    break Some(format!(
                        "journal version {} is not {JOURNAL_VERSION}",
                        h.journal
                    ))
                }
                Err(e) => break Some(format!("no journal header: {e}")),
            }
        } else {
            match serde_json::from_slice::<Batch>(payload) {
                Ok(batch) => out.batches.push(batch),
                Err(e) => break Some(format!("a record that does not parse: {e}")),
            }
        }
        at += FRAME + len;
    };
    out.good_len = at as u64;
    out.discarded = problem.map(|problem| Discarded {
        bytes: (bytes.len() - at) as u64,
        offset: at as u64,
        problem,
    });
    out
}

//! The snapshot: the whole state in one JSON file, `state.dir/state.json`, in the format
//! every version of the daemon has written (version 1). A file written before the journal
//! existed names no journal epoch (0) and is read as it always was: that is the migration.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Book, PendingResolved, ReceiverBook};
use crate::notify::outbox::{Outbox, OutboxEntry};
use crate::rules::{Alert, AlertKey};

/// The version of the file format; a file of another version is not guessed at.
pub const FORMAT_VERSION: u32 = 1;

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile<'a> {
    /// [`FORMAT_VERSION`].
    version: u32,
    /// When it was written (for people reading it).
    #[serde(with = "humantime_serde")]
    written_at: SystemTime,
    /// The journal that continues this snapshot: `state.journal.<epoch>`, then the
    /// following epochs (README, Delivery guarantees). 0 in files written before the
    /// journal, which then has nothing to add.
    #[serde(default, skip_serializing_if = "is_zero")]
    journal_epoch: u64,
    /// The id the next notification gets.
    next_id: u64,
    /// The judge's pending and firing alerts (borrowed from the book when writing).
    alerts: Cow<'a, [Arc<Alert>]>,
    /// What each receiver has been told.
    receivers: Vec<ReceiverRecord>,
    /// Notifications waiting for delivery, in id order.
    outbox: Vec<OutboxEntry>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Only the version, read first so that a file of another version is named as such rather
/// than reported as a confusing parse error.
#[derive(Deserialize)]
struct VersionOnly {
    /// The format version.
    version: u32,
}

/// One receiver's [`ReceiverBook`] in the file (JSON maps need string keys, so keyed
/// records are lists).
#[derive(Debug, Serialize, Deserialize)]
struct ReceiverRecord {
    /// The receiver's configured name.
    name: String,
    /// When each alert was last announced.
    #[serde(default)]
    last_notified: Vec<Notified>,
    /// `alertmanager`: resolved alerts still to push.
    #[serde(default)]
    resolved_to_push: Vec<PendingResolved>,
    /// Suppressed alerts held back from this receiver (absent in files of earlier versions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    held: Vec<Held>,
}

/// One `held` record: a suppressed alert the receiver has not been told is firing.
#[derive(Debug, Serialize, Deserialize)]
struct Held {
    /// Which alert.
    key: AlertKey,
    /// The `active_since` of the episode held back.
    #[serde(with = "humantime_serde")]
    since: SystemTime,
}

/// One `last_notified` record.
#[derive(Debug, Serialize, Deserialize)]
struct Notified {
    /// Which alert.
    key: AlertKey,
    /// When it was last announced.
    #[serde(with = "humantime_serde")]
    at: SystemTime,
    /// The `active_since` of the episode announced (absent in files of earlier versions).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    since: Option<SystemTime>,
}

impl<'a> StateFile<'a> {
    fn from_book(book: &'a Book, now: SystemTime, journal_epoch: u64) -> Self {
        Self {
            version: FORMAT_VERSION,
            written_at: now,
            journal_epoch,
            next_id: book.next_id,
            alerts: Cow::Borrowed(&book.alerts),
            receivers: book
                .receivers
                .iter()
                .map(|(name, r)| ReceiverRecord {
                    name: name.clone(),
                    last_notified: r
                        .last_notified
                        .iter()
                        .map(|(key, at)| Notified {
                            key: *key,
                            at: *at,
                            since: r.announced_since.get(key).copied(),
                        })
                        .collect(),
                    resolved_to_push: r.resolved_to_push.values().cloned().collect(),
                    held: r
                        .held
                        .iter()
                        .map(|(key, since)| Held {
                            key: *key,
                            since: *since,
                        })
                        .collect(),
                })
                .collect(),
            outbox: book.outbox.iter().cloned().collect(),
        }
    }

    fn into_book(self) -> Book {
        let receivers = self
            .receivers
            .into_iter()
            .map(|r| {
                let book = ReceiverBook {
                    announced_since: r
                        .last_notified
                        .iter()
                        .filter_map(|n| Some((n.key, n.since?)))
                        .collect(),
                    last_notified: r.last_notified.into_iter().map(|n| (n.key, n.at)).collect(),
                    resolved_to_push: r
                        .resolved_to_push
                        .into_iter()
                        .map(|p| (p.alert.key, p))
                        .collect(),
                    held: r.held.into_iter().map(|h| (h.key, h.since)).collect(),
                };
                (r.name, book)
            })
            .collect();
        let outbox = Outbox::from_entries(self.outbox);
        let mut book = Book {
            alerts: self.alerts.into_owned(),
            receivers,
            outbox,
            next_id: self.next_id,
            ..Book::default()
        };
        book.fix_next_id();
        book
    }
}

/// The bytes of `book` as the snapshot holds them, written at `now`, continued by journal
/// `journal_epoch`.
pub fn encode(book: &Book, now: SystemTime, journal_epoch: u64) -> Vec<u8> {
    let file = StateFile::from_book(book, now, journal_epoch);
    // Serialising plain data (strings, numbers, RFC 3339 times) cannot fail; should it
    // ever, an empty object would be refused at load and reported, never taken as state.
    serde_json::to_vec(&file).unwrap_or_else(|_| b"{}".to_vec())
}

/// Writes the bytes [`encode`] gives to `out` as they are made, and answers how many: a
/// large fleet's snapshot (tens of MB) is never held whole in memory.
pub fn write(book: &Book, now: SystemTime, journal_epoch: u64, out: impl Write) -> io::Result<u64> {
    let file = StateFile::from_book(book, now, journal_epoch);
    let mut out = Counting {
        inner: io::BufWriter::with_capacity(64 * 1024, out),
        written: 0,
    };
    serde_json::to_writer(&mut out, &file).map_err(io::Error::from)?;
    out.inner.flush()?;
    Ok(out.written)
}

/// A writer that counts the bytes through it.
struct Counting<W> {
    /// Where the bytes go.
    inner: W,
    /// How many went.
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A snapshot as read.
#[derive(Debug)]
pub struct Parsed {
    /// The state.
    pub book: Book,
    /// The epoch of the journal that continues it.
    pub journal_epoch: u64,
    /// When it was written.
    pub written_at: SystemTime,
}

/// Parses a snapshot, or says what is wrong with it.
pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let version: VersionOnly =
        serde_json::from_slice(bytes).map_err(|e| format!("not a state file: {e}"))?;
    if version.version != FORMAT_VERSION {
        return Err(format!(
            "format version {} is not the version this build reads ({FORMAT_VERSION})",
            version.version
        ));
    }
    let file: StateFile =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid state file: {e}"))?;
    Ok(Parsed {
        journal_epoch: file.journal_epoch,
        written_at: file.written_at,
        book: file.into_book(),
    })
}

//! The durable state: what the daemon must remember across a restart, in one JSON file,
//! `state.dir/state.json`.
//!
//! It holds the judge's pending and firing alerts (with what suppresses them), per receiver
//! when each alert was last announced (for reminders, and to know what a "resolved" refers
//! to) and which suppressed alerts it was never told of (held back until their suppression
//! ends), the resolved alerts an Alertmanager has still to be told about, and the outbox.
//!
//! # Crash safety
//!
//! The file is replaced, never edited: the new text goes to `state.json.tmp`, which is
//! flushed to disk (`fsync`), then renamed over `state.json`, then the directory is flushed
//! so that the rename itself is durable. A crash at any instant leaves either the old or the
//! new file, whole. Writes are serialised, and each takes the newest in-memory state, so an
//! older state can never overwrite a newer one.
//!
//! A file that cannot be read or parsed is never silently discarded: it is reported (ERROR,
//! naming the file and the problem), moved aside to `state.json.corrupt-<unix-seconds>` for
//! a person to look at, and the daemon starts with an empty state.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::outbox::{Outbox, OutboxEntry};
use super::NotifyError;
use crate::receivers::NotificationKind;
use crate::rules::{Alert, AlertKey, AlertState};

/// The version of the file format; a file of another version is not guessed at.
pub const FORMAT_VERSION: u32 = 1;

/// The state file's name inside `state.dir`.
pub const FILE_NAME: &str = "state.json";

/// The temporary file a new state is written to before it replaces the old one.
pub const TMP_FILE_NAME: &str = "state.json.tmp";

/// What one receiver has been told.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceiverBook {
    /// When each firing alert was last announced (or given up on) to this receiver; an
    /// alert is forgotten once its resolution has been announced.
    pub last_notified: BTreeMap<AlertKey, SystemTime>,
    /// For each alert in `last_notified`, the `active_since` of the firing that was
    /// announced: which episode the receiver knows of. A resolution is announced only for
    /// that episode; a later one that fired and cleared unannounced stays unsaid even while
    /// the earlier episode's record lingers (its resolution still queued).
    pub announced_since: BTreeMap<AlertKey, SystemTime>,
    /// `alertmanager` receivers: resolved alerts still to ride along in successful pushes.
    pub resolved_to_push: BTreeMap<AlertKey, PendingResolved>,
    /// Alerts firing but suppressed (README, Suppression) that this receiver does not know
    /// as firing, with the `active_since` of the episode held back: announced as a normal
    /// firing notification when the suppression ends and they still fire; never resolved
    /// to the receiver if they clear while held.
    pub held: BTreeMap<AlertKey, SystemTime>,
}

/// A resolved alert an Alertmanager is still to be told about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingResolved {
    /// The alert, as it resolved.
    pub alert: Alert,
    /// In how many more successful pushes it is to be included.
    pub pushes_left: u32,
}

/// The in-memory durable state; [`StateStore::save_with`] writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Book {
    /// The judge's pending and firing alerts after the last sweep.
    pub alerts: Vec<Alert>,
    /// What each receiver has been told, by receiver name.
    pub receivers: BTreeMap<String, ReceiverBook>,
    /// Notifications waiting for delivery.
    pub outbox: Outbox,
    /// The id the next notification gets.
    pub next_id: u64,
    /// Bumped on every change, so that a write can tell whether the file is behind.
    pub generation: u64,
}

impl Book {
    /// Marks the state as changed (to be written).
    pub fn touch(&mut self) {
        self.generation += 1;
    }

    /// Takes a fresh notification id.
    pub fn take_id(&mut self) -> u64 {
        let id = self.next_id.max(1);
        self.next_id = id + 1;
        id
    }

    /// Records that entry `id` reached its receiver at `now`: its firing alerts count as
    /// announced now, its resolved ones are forgotten, and an Alertmanager's resolved
    /// alerts have one push fewer to go. Returns the entry.
    pub fn delivered(&mut self, id: u64, now: SystemTime) -> Option<OutboxEntry> {
        let entry = self.outbox.remove(id)?;
        let book = self.receivers.entry(entry.receiver.clone()).or_default();
        book.record_told(&entry, now);
        for alert in &entry.notification.alerts {
            if alert.state != AlertState::Resolved {
                continue;
            }
            if let Some(pending) = book.resolved_to_push.get_mut(&alert.key) {
                pending.pushes_left = pending.pushes_left.saturating_sub(1);
                if pending.pushes_left == 0 {
                    book.resolved_to_push.remove(&alert.key);
                }
            }
        }
        self.touch();
        Some(entry)
    }

    /// Records that entry `id` will never be delivered (refused, or too old). Its firing
    /// alerts count as announced at `now` all the same, so that the next reminder comes a
    /// `repeat_interval` later rather than at once: a receiver that refuses a message (a
    /// 404 from a deleted webhook) would otherwise be sent one, and log an error, every
    /// sweep. Returns the entry.
    pub fn given_up(&mut self, id: u64, now: SystemTime) -> Option<OutboxEntry> {
        let entry = self.outbox.remove(id)?;
        if entry.notification.kind != NotificationKind::Test {
            self.receivers
                .entry(entry.receiver.clone())
                .or_default()
                .record_told(&entry, now);
        }
        self.touch();
        Some(entry)
    }

    /// Records a failed attempt of entry `id`: one more attempt, the reason, and when to try
    /// again. Nothing is in flight any more.
    pub fn retry_later(&mut self, id: u64, reason: String, next_attempt_at: SystemTime) {
        if let Some(entry) = self.outbox.get_mut(id) {
            entry.attempts = entry.attempts.saturating_add(1);
            entry.last_error = Some(reason);
            entry.next_attempt_at = next_attempt_at;
            entry.in_flight = false;
        }
        self.touch();
    }
}

impl ReceiverBook {
    /// Forgets what the receiver was told about `key`.
    pub fn forget(&mut self, key: &AlertKey) {
        self.last_notified.remove(key);
        self.announced_since.remove(key);
    }

    /// Takes `key` out of the held records; true when it was held (never announced to
    /// this receiver in its current suppression).
    pub fn release(&mut self, key: &AlertKey) -> bool {
        self.held.remove(key).is_some()
    }

    /// True when the receiver was told that `alert`'s episode (the one that became active
    /// at its `active_since`) was firing. A record from a state file of an earlier version
    /// names no episode and counts for any.
    pub fn was_told_of(&self, alert: &Alert) -> bool {
        self.last_notified.contains_key(&alert.key)
            && self
                .announced_since
                .get(&alert.key)
                .is_none_or(|since| *since == alert.active_since)
    }

    /// Updates `last_notified` for what `entry` said.
    fn record_told(&mut self, entry: &OutboxEntry, now: SystemTime) {
        for alert in &entry.notification.alerts {
            match alert.state {
                AlertState::Resolved => {
                    self.forget(&alert.key);
                }
                AlertState::Firing | AlertState::Pending => {
                    self.last_notified.insert(alert.key, now);
                    self.announced_since.insert(alert.key, alert.active_since);
                }
            }
        }
    }
}

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    /// [`FORMAT_VERSION`].
    version: u32,
    /// When it was written (for people reading it).
    #[serde(with = "humantime_serde")]
    written_at: SystemTime,
    /// The id the next notification gets.
    next_id: u64,
    /// The judge's pending and firing alerts.
    alerts: Vec<Alert>,
    /// What each receiver has been told.
    receivers: Vec<ReceiverRecord>,
    /// Notifications waiting for delivery, in id order.
    outbox: Vec<OutboxEntry>,
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

impl StateFile {
    fn from_book(book: &Book, now: SystemTime) -> Self {
        Self {
            version: FORMAT_VERSION,
            written_at: now,
            next_id: book.next_id,
            alerts: book.alerts.clone(),
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
        // Never hand out an id the outbox already uses, whatever the file says.
        let next_id = outbox
            .iter()
            .map(|e| e.id + 1)
            .max()
            .unwrap_or(1)
            .max(self.next_id);
        Book {
            alerts: self.alerts,
            receivers,
            outbox,
            next_id,
            generation: 0,
        }
    }
}

/// Where a state file that could not be used was put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedAside {
    /// The new name of the file.
    pub to: PathBuf,
    /// Why it could not be used.
    pub problem: String,
}

/// The state file on disk: loading it, and writing it safely one writer at a time.
#[derive(Debug)]
pub struct StateStore {
    /// `state.dir`.
    dir: PathBuf,
    /// `state.dir/state.json`.
    path: PathBuf,
    /// Held for a whole write, so that writes never interleave; holds the generation last
    /// written, so that a write that has nothing new to say is skipped.
    /// `std::sync::Mutex`: writes are blocking I/O, run on a blocking thread or from the
    /// synchronous sweep hand-off, never across an `.await`.
    written: Mutex<Option<u64>>,
}

impl StateStore {
    /// The store of directory `dir`, created if missing.
    pub fn open(dir: &Path) -> Result<Self, NotifyError> {
        fs::create_dir_all(dir).map_err(|source| NotifyError::StateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            path: dir.join(FILE_NAME),
            written: Mutex::new(None),
        })
    }

    /// `state.dir/state.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state file. A missing file is an empty state; a file that cannot be read or
    /// parsed is logged, moved aside, and also gives an empty state (the move is returned).
    /// Only a file that can neither be used nor moved aside is an error: starting fresh
    /// would then overwrite it.
    pub fn load(&self) -> Result<(Book, Option<MovedAside>), NotifyError> {
        // A leftover of a write cut short by a crash: the rename never happened, so the
        // state it held is not the current one.
        let _ = fs::remove_file(self.dir.join(TMP_FILE_NAME));
        let problem = match fs::read(&self.path) {
            Ok(bytes) => match parse(&bytes) {
                Ok(book) => return Ok((book, None)),
                Err(problem) => problem,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Book::default(), None)),
            Err(e) => format!("cannot read it: {e}"),
        };
        let to = self
            .move_aside()
            .map_err(|source| NotifyError::StateUnusable {
                path: self.path.clone(),
                problem: problem.clone(),
                source,
            })?;
        tracing::error!(
            file = %self.path.display(),
            moved_to = %to.display(),
            problem = %problem,
            "the state file is unusable: {problem}; it was moved aside and the daemon starts \
             with no alert state and an empty outbox"
        );
        Ok((Book::default(), Some(MovedAside { to, problem })))
    }

    /// Renames the state file to `state.json.corrupt-<unix-seconds>` (with a counter when
    /// that name is taken).
    fn move_aside(&self) -> io::Result<PathBuf> {
        let seconds = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let base = format!("{FILE_NAME}.corrupt-{seconds}");
        let mut to = self.dir.join(&base);
        let mut n = 1;
        while to.exists() {
            to = self.dir.join(format!("{base}-{n}"));
            n += 1;
        }
        fs::rename(&self.path, &to)?;
        sync_dir(&self.dir);
        Ok(to)
    }

    /// Writes `book` if it is newer than what was last written. `snapshot` is called with
    /// the write lock held and must return the book's serialised state (see
    /// [`StateStore::encode`]) or `None` when nothing changed since `written`.
    pub fn save_with(
        &self,
        snapshot: impl FnOnce(Option<u64>) -> Option<(u64, Vec<u8>)>,
    ) -> io::Result<bool> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let Some((generation, bytes)) = snapshot(*written) else {
            return Ok(false);
        };
        self.write_atomically(&bytes)?;
        *written = Some(generation);
        Ok(true)
    }

    /// The bytes of `book` as the file holds them.
    pub fn encode(book: &Book, now: SystemTime) -> Vec<u8> {
        let file = StateFile::from_book(book, now);
        // Serialising plain data (strings, numbers, RFC 3339 times) cannot fail; should it
        // ever, an empty object would be refused at load and reported, never taken as state.
        serde_json::to_vec(&file).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Write new, fsync, rename, fsync the directory.
    fn write_atomically(&self, bytes: &[u8]) -> io::Result<()> {
        let tmp = self.dir.join(TMP_FILE_NAME);
        {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                // Alert descriptions may quote upstream error texts: owner-only.
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        sync_dir(&self.dir);
        Ok(())
    }
}

/// Parses a state file, or says what is wrong with it.
fn parse(bytes: &[u8]) -> Result<Book, String> {
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
    Ok(file.into_book())
}

/// Makes a rename in `dir` durable. Best effort: not every platform can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        if let Err(e) = d.sync_all() {
            tracing::debug!(error = %e, "cannot fsync the state directory");
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
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
}

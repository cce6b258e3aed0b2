//! The state on disk: loading a snapshot and its journals, appending each write's changes,
//! and compacting the journal into a new snapshot in the background.
//!
//! Files in `state.dir`:
//! - `state.json`: the snapshot; it names the journal epoch that continues it.
//! - `state.journal.<epoch>`: the changes since, one record per write. Loading replays the
//!   snapshot's epoch, then the next epochs while they exist (a compaction starts epoch
//!   `n + 1` before the snapshot that names it is in place).
//!
//! Every start writes a fresh snapshot and journal (so that what a crash cut short is gone
//! from the files once reported), and a compaction starts when the journal has grown past
//! twice the snapshot (and at least [`COMPACT_MIN`]): a new journal first, then, on a thread
//! of its own, the snapshot of what the old journals held; then the old journals go.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::journal::{self, Change, Discarded, Mirror};
use super::{snapshot, Book};
use crate::notify::NotifyError;

/// The snapshot's name inside `state.dir`.
pub const FILE_NAME: &str = "state.json";

/// The temporary file a new snapshot is written to before it replaces the old one.
pub const TMP_FILE_NAME: &str = "state.json.tmp";

/// The journals' names inside `state.dir`: this, then the epoch.
pub const JOURNAL_PREFIX: &str = "state.journal.";

/// No compaction before the journal holds this much.
pub const COMPACT_MIN: u64 = 1 << 20;

/// A compaction once the journal holds this many times the snapshot.
const COMPACT_FACTOR: u64 = 2;

/// Where a state file that could not be used was put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedAside {
    /// The new name of the file.
    pub to: PathBuf,
    /// Why it could not be used.
    pub problem: String,
}

/// The journal being appended to.
#[derive(Debug)]
struct Journal {
    /// Open for appending.
    file: File,
    /// Its epoch.
    epoch: u64,
    /// Its length: where the next record goes.
    len: u64,
    /// True when a failed write may have left bytes past `len` that could not be cut off:
    /// the next write starts a new journal.
    damaged: bool,
}

/// What the one writer keeps between writes.
#[derive(Debug, Default)]
struct Writer {
    /// The state as the files hold it.
    mirror: Mirror,
    /// The book's generation the files hold; `None` before the first write.
    generation: Option<u64>,
    /// True when the next write must compare the whole state (a write failed).
    full_diff: bool,
    /// `None` until the first write, which starts a fresh snapshot and journal.
    journal: Option<Journal>,
    /// The epoch the first write starts: past every journal found at load.
    first_epoch: u64,
    /// The size of the last snapshot written.
    snapshot_len: u64,
    /// The compaction under way, answering the new snapshot's size.
    compaction: Option<JoinHandle<io::Result<u64>>>,
    /// Journals that held something unusable: moved aside (not deleted) at the first write.
    damaged: Vec<PathBuf>,
}

/// The state files of one `state.dir`: loading them, and writing one writer at a time.
#[derive(Debug)]
pub struct StateStore {
    /// `state.dir`.
    dir: PathBuf,
    /// `state.dir/state.json`.
    path: PathBuf,
    /// No compaction before the journal holds this many bytes.
    compact_min: u64,
    /// Held for a whole write, so that writes never interleave. `std::sync::Mutex`: writes
    /// are blocking I/O, run on a blocking thread or from the synchronous sweep hand-off,
    /// never across an `.await`.
    writer: Mutex<Writer>,
}

impl StateStore {
    /// The store of directory `dir`, created if missing.
    pub fn open(dir: &Path) -> Result<Self, NotifyError> {
        Self::open_with(dir, COMPACT_MIN)
    }

    /// [`StateStore::open`] compacting once the journal holds `compact_min` bytes (and
    /// twice the snapshot): small, for tests.
    pub fn open_with(dir: &Path, compact_min: u64) -> Result<Self, NotifyError> {
        fs::create_dir_all(dir).map_err(|source| NotifyError::StateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            path: dir.join(FILE_NAME),
            compact_min,
            writer: Mutex::new(Writer::default()),
        })
    }

    /// `state.dir/state.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the snapshot and replays its journals. Missing files are an empty state; a
    /// snapshot that cannot be read or parsed is logged, moved aside (with its journals),
    /// and also gives an empty state (the move is returned). The end of a journal that a
    /// crash cut short (or that is damaged) is discarded and reported (WARN). Only a
    /// snapshot that can neither be used nor moved aside is an error: starting fresh would
    /// then overwrite it.
    pub fn load(&self) -> Result<(Book, Option<MovedAside>), NotifyError> {
        // A leftover of a snapshot cut short by a crash: the rename never happened, so the
        // state it held is not the current one.
        let _ = fs::remove_file(self.dir.join(TMP_FILE_NAME));
        let journals = journal_files(&self.dir);
        let mut writer = self.writer();
        writer.first_epoch = journals.keys().next_back().map_or(1, |e| e + 1);
        let parsed = match read_snapshot(&self.path) {
            Ok(found) => found,
            Err(problem) => {
                let to =
                    self.move_aside(&self.path)
                        .map_err(|source| NotifyError::StateUnusable {
                            path: self.path.clone(),
                            problem: problem.clone(),
                            source,
                        })?;
                for path in journals.values() {
                    if let Err(e) = self.move_aside(path) {
                        tracing::warn!(file = %path.display(), error = %e, "cannot move a journal aside");
                    }
                }
                tracing::error!(
                    file = %self.path.display(),
                    moved_to = %to.display(),
                    problem = %problem,
                    "the state file is unusable: {problem}; it was moved aside and the daemon \
                     starts with no alert state and an empty outbox"
                );
                return Ok((Book::default(), Some(MovedAside { to, problem })));
            }
        };
        let replayed = replay(parsed, &journals);
        for (path, d) in &replayed.discarded {
            tracing::warn!(
                file = %path.display(),
                offset = d.offset,
                discarded_bytes = d.bytes,
                problem = %d.problem,
                "the end of the state journal is unusable ({}): {} byte(s) from offset {} \
                 discarded (a write a crash cut short is never acknowledged); the state \
                 before it is kept",
                d.problem,
                d.bytes,
                d.offset
            );
            writer.damaged.push(path.clone());
        }
        Ok((replayed.book, None))
    }

    /// Renames `path` to `<name>.corrupt-<unix-seconds>` (with a counter when that name is
    /// taken).
    fn move_aside(&self, path: &Path) -> io::Result<PathBuf> {
        let seconds = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = format!("{name}.corrupt-{seconds}");
        let mut to = self.dir.join(&base);
        let mut n = 1;
        while to.exists() {
            to = self.dir.join(format!("{base}-{n}"));
            n += 1;
        }
        fs::rename(path, &to)?;
        sync_dir(&self.dir);
        Ok(to)
    }

    /// Writes what changed in `book` since the last write, if anything: one journal record,
    /// fsynced before this returns. The first write of a store writes a whole snapshot and
    /// starts a fresh journal. The book is locked only to find the changes, not for the I/O.
    pub fn save(&self, book: &Mutex<Book>) -> io::Result<bool> {
        let lock = || book.lock().unwrap_or_else(|e| e.into_inner());
        let mut w = self.writer();
        self.reap_compaction(&mut w, false);
        if w.journal.is_none() {
            let (generation, whole) = {
                let mut b = lock();
                if w.generation == Some(b.generation) {
                    return Ok(false);
                }
                b.unsaved.clear();
                (b.generation, b.clone())
            };
            self.start_fresh(&mut w, whole)?;
            w.generation = Some(generation);
            return Ok(true);
        }
        let (generation, changes) = {
            let mut b = lock();
            if w.generation == Some(b.generation) {
                return Ok(false);
            }
            let only_outcomes = !w.full_diff
                && w.generation
                    .is_some_and(|g| g + b.unsaved.len() as u64 == b.generation);
            let changes = if only_outcomes {
                std::mem::take(&mut b.unsaved)
            } else {
                b.unsaved.clear();
                journal::diff(&mut w.mirror, &b)
            };
            (b.generation, changes)
        };
        // Even with no change (a sweep that found the same alerts), a record says that the
        // state was written at this time.
        match self.append(&mut w, changes) {
            Ok(changes) => {
                for change in changes {
                    w.mirror.apply(change);
                }
                w.generation = Some(generation);
                w.full_diff = false;
                self.maybe_compact(&mut w);
                Ok(true)
            }
            Err(e) => {
                // The mirror still holds what the files hold: the next write compares the
                // whole state with it and so writes these changes too.
                w.full_diff = true;
                Err(e)
            }
        }
    }

    /// Appends one record of `changes` and fsyncs it (answering the changes); on failure,
    /// cuts the journal back to where it was.
    fn append(&self, w: &mut Writer, changes: Vec<Change>) -> io::Result<Vec<Change>> {
        if w.journal.as_ref().is_some_and(|j| j.damaged) {
            let epoch = w.journal.as_ref().map_or(w.first_epoch, |j| j.epoch + 1);
            w.journal = Some(self.new_journal(epoch)?);
        }
        let Some(j) = w.journal.as_mut() else {
            return Err(io::Error::other("no journal open"));
        };
        // At the journal's known end, wherever a failed write left the file's cursor.
        let written = journal::write_batch(&mut j.file, j.len, SystemTime::now(), &changes)
            .and_then(|len| j.file.sync_data().map(|()| len));
        match written {
            Ok(len) => {
                j.len += len;
                Ok(changes)
            }
            Err(e) => {
                if j.file
                    .set_len(j.len)
                    .and_then(|()| j.file.sync_data())
                    .is_err()
                {
                    j.damaged = true;
                }
                Err(e)
            }
        }
    }

    /// Creates journal `epoch` holding its header, durably.
    fn new_journal(&self, epoch: u64) -> io::Result<Journal> {
        let path = self.dir.join(format!("{JOURNAL_PREFIX}{epoch}"));
        let mut file = private_file(&path)?;
        let header = journal::header_record(epoch);
        file.write_all(&header)?;
        file.sync_all()?;
        sync_dir(&self.dir);
        Ok(Journal {
            file,
            epoch,
            len: header.len() as u64,
            damaged: false,
        })
    }

    /// The first write: a new journal, then the snapshot of `book` that it continues, then
    /// the old journals go (those that held something unusable are moved aside).
    fn start_fresh(&self, w: &mut Writer, book: Book) -> io::Result<()> {
        let epoch = w.first_epoch.max(1);
        let journal = self.new_journal(epoch)?;
        let written = write_atomically_with(&self.dir, &self.path, |file| {
            snapshot::write(&book, SystemTime::now(), epoch, file)
        })?;
        for path in std::mem::take(&mut w.damaged) {
            if let Err(e) = self.move_aside(&path) {
                tracing::warn!(file = %path.display(), error = %e, "cannot move a journal aside");
            }
        }
        remove_journals_before(&self.dir, epoch);
        w.snapshot_len = written;
        w.mirror = Mirror::of(book);
        w.journal = Some(journal);
        w.full_diff = false;
        Ok(())
    }

    /// Starts a compaction when the journal has outgrown the snapshot and none is under way.
    fn maybe_compact(&self, w: &mut Writer) {
        let Some(j) = w.journal.as_ref() else {
            return;
        };
        let limit = (w.snapshot_len.saturating_mul(COMPACT_FACTOR)).max(self.compact_min);
        if w.compaction.is_some() || j.len <= limit {
            return;
        }
        let epoch = j.epoch + 1;
        let journal = match self.new_journal(epoch) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a new state journal; compaction postponed");
                return;
            }
        };
        w.journal = Some(journal);
        let book = w.mirror.to_book();
        let dir = self.dir.clone();
        let path = self.path.clone();
        let spawned = std::thread::Builder::new()
            .name("state-compaction".into())
            .spawn(move || {
                let written = write_atomically_with(&dir, &path, |file| {
                    snapshot::write(&book, SystemTime::now(), epoch, file)
                })?;
                drop(book);
                remove_journals_before(&dir, epoch);
                Ok(written)
            });
        match spawned {
            Ok(handle) => w.compaction = Some(handle),
            // The new journal continues the old ones: nothing is lost, only not compacted.
            Err(e) => tracing::warn!(error = %e, "cannot start the state compaction"),
        }
    }

    /// Collects a compaction that ended (or, with `wait`, waits for it).
    fn reap_compaction(&self, w: &mut Writer, wait: bool) {
        if !wait && !w.compaction.as_ref().is_some_and(|h| h.is_finished()) {
            return;
        }
        let Some(handle) = w.compaction.take() else {
            return;
        };
        match handle.join() {
            Ok(Ok(len)) => w.snapshot_len = len,
            Ok(Err(e)) => {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot write the state snapshot; the journal keeps growing until it can");
            }
            Err(_) => tracing::warn!("the state compaction panicked"),
        }
    }

    /// Waits for a compaction under way, so that nothing writes to the directory after
    /// this returns.
    pub fn finish(&self) {
        let mut w = self.writer();
        self.reap_compaction(&mut w, true);
    }

    /// Writes `bytes` (from [`StateStore::encode`]) as the whole state: a snapshot no
    /// journal continues. For tests and tools; the daemon writes with [`StateStore::save`].
    pub fn save_with(
        &self,
        snapshot: impl FnOnce(Option<u64>) -> Option<(u64, Vec<u8>)>,
    ) -> io::Result<bool> {
        let mut w = self.writer();
        self.reap_compaction(&mut w, true);
        let Some((generation, bytes)) = snapshot(w.generation) else {
            return Ok(false);
        };
        write_atomically(&self.dir, &self.path, &bytes)?;
        remove_journals_before(&self.dir, u64::MAX);
        *w = Writer {
            generation: Some(generation),
            ..Writer::default()
        };
        Ok(true)
    }

    /// The bytes of a snapshot of `book` that no journal continues.
    pub fn encode(book: &Book, now: SystemTime) -> Vec<u8> {
        snapshot::encode(book, now, 0)
    }
}

impl Drop for StateStore {
    fn drop(&mut self) {
        let w = self.writer.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = w.compaction.take() {
            let _ = handle.join();
        }
    }
}

/// The state as replayed.
struct Replayed {
    /// The book.
    book: Book,
    /// When the last write replayed was made.
    written_at: SystemTime,
    /// Journal ends that could not be used.
    discarded: Vec<(PathBuf, Discarded)>,
}

/// Replays the journals of the snapshot's epoch on.
fn replay(snapshot: snapshot::Parsed, journals: &BTreeMap<u64, PathBuf>) -> Replayed {
    let mut mirror = Mirror::of(snapshot.book);
    let mut written_at = snapshot.written_at;
    let mut discarded = Vec::new();
    let mut epoch = snapshot.journal_epoch;
    while let Some(path) = journals.get(&epoch) {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                discarded.push((
                    path.clone(),
                    Discarded {
                        bytes: 0,
                        offset: 0,
                        problem: format!("cannot read it: {e}"),
                    },
                ));
                break;
            }
        };
        let read = journal::read(&bytes);
        if let Some(h) = &read.header {
            if h.epoch != epoch {
                discarded.push((
                    path.clone(),
                    Discarded {
                        bytes: bytes.len() as u64,
                        offset: 0,
                        problem: format!("its header says epoch {}", h.epoch),
                    },
                ));
                break;
            }
        }
        for batch in read.batches {
            written_at = written_at.max(batch.at);
            for change in batch.changes {
                mirror.apply(change);
            }
        }
        if let Some(d) = read.discarded {
            discarded.push((path.clone(), d));
        }
        epoch += 1;
    }
    let mut book = mirror.into_book();
    book.fix_next_id();
    Replayed {
        book,
        written_at,
        discarded,
    }
}

/// The state a directory holds (snapshot and journals replayed), as a snapshot's JSON:
/// what the daemon would load, read without changing anything. `None` when there is no
/// usable snapshot or journal.
pub fn read_state_json(dir: &Path) -> Option<serde_json::Value> {
    let journals = journal_files(dir);
    if journals.is_empty() && !dir.join(FILE_NAME).exists() {
        return None;
    }
    let parsed = read_snapshot(&dir.join(FILE_NAME)).ok()?;
    let replayed = replay(parsed, &journals);
    serde_json::from_slice(&snapshot::encode(&replayed.book, replayed.written_at, 0)).ok()
}

/// The snapshot; a missing file is an empty state continued by the first journal.
fn read_snapshot(path: &Path) -> Result<snapshot::Parsed, String> {
    match fs::read(path) {
        Ok(bytes) => snapshot::parse(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(snapshot::Parsed {
            book: Book::default(),
            journal_epoch: 1,
            written_at: SystemTime::UNIX_EPOCH,
        }),
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// The journals in `dir`, by epoch.
fn journal_files(dir: &Path) -> BTreeMap<u64, PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let epoch = name.to_str()?.strip_prefix(JOURNAL_PREFIX)?;
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((epoch.parse().ok()?, e.path()))
        })
        .collect()
}

/// Removes the journals of epochs before `epoch` (superseded by the snapshot).
fn remove_journals_before(dir: &Path, epoch: u64) {
    let mut removed = false;
    for (_, path) in journal_files(dir).range(..epoch) {
        match fs::remove_file(path) {
            Ok(()) => removed = true,
            Err(e) => {
                tracing::debug!(file = %path.display(), error = %e, "cannot remove an old state journal")
            }
        }
    }
    if removed {
        sync_dir(dir);
    }
}

/// A new file, owner-only: alert descriptions may quote upstream error texts.
fn private_file(path: &Path) -> io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// [`write_atomically`] with the bytes written by `write` as it makes them (answering
/// how many), so that they are never all in memory at once.
fn write_atomically_with(
    dir: &Path,
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<u64>,
) -> io::Result<u64> {
    let tmp = dir.join(TMP_FILE_NAME);
    let written = {
        let mut file = private_file(&tmp)?;
        let written = write(&mut file)?;
        file.sync_all()?;
        written
    };
    fs::rename(&tmp, path)?;
    sync_dir(dir);
    Ok(written)
}

/// Write new, fsync, rename, fsync the directory.
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(TMP_FILE_NAME);
    {
        let mut file = private_file(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename in `dir` durable. Best effort: not every platform can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        if let Err(e) = d.sync_all() {
            tracing::debug!(error = %e, "cannot fsync the state directory");
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

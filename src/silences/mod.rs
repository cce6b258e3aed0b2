//! Silences (README, Silences): made at run time through the Alertmanager v2 API subset
//! ([`crate::server`]) or the `silence` command ([`client`]), kept in
//! `state.dir/silences.json`, and asked about every alert as a [`Suppressor`].
//!
//! The [`Store`] writes its file atomically (write a new file, fsync it, rename it over the
//! old one, fsync the directory) before any change is answered, so a silence acknowledged to
//! its author survives SIGKILL. A file that cannot be read back is a startup error that
//! names it: silences are never dropped without a word. Expired silences are kept for a day
//! ([`KEEP_EXPIRED`]), then forgotten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::clock::SharedClock;
use crate::matchers::{all_match, display_list, Matcher};
use crate::metrics::MonitorMetrics;
use crate::suppress::{InForce, Labels, Suppressor};
use crate::vocabulary::Suppression;

pub mod client;
#[cfg(test)]
mod tests;

/// The file silences are kept in, under `state.dir`.
pub const FILE_NAME: &str = "silences.json";
/// How long an expired silence is kept (shown by `silence query --expired`, kept for the
/// record), then forgotten.
pub const KEEP_EXPIRED: Duration = Duration::from_secs(24 * 60 * 60);
/// The most silences kept at once (expired ones included).
pub const MAX_SILENCES: usize = 10_000;
/// The most matchers one silence may have.
pub const MAX_MATCHERS: usize = 64;
/// The longest comment, in bytes.
pub const MAX_COMMENT_BYTES: usize = 4096;
/// The longest author (`createdBy`), in bytes.
pub const MAX_AUTHOR_BYTES: usize = 256;

/// Where a silence is in its life, from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts later.
    Pending,
    /// Mutes matching alerts now.
    Active,
    /// Ended (or was expired by hand).
    Expired,
}

impl SilenceState {
    /// `pending`, `active`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

/// One silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// UUID-shaped, random.
    pub id: String,
    /// Every one must match for an alert to be muted.
    pub matchers: Vec<Matcher>,
    /// When it starts muting.
    #[serde(with = "humantime_serde")]
    pub starts_at: SystemTime,
    /// When it stops (set to the moment of expiry when expired by hand).
    #[serde(with = "humantime_serde")]
    pub ends_at: SystemTime,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// When it was made or last changed.
    #[serde(with = "humantime_serde")]
    pub updated_at: SystemTime,
}

impl Silence {
    /// Its state at `now`.
    pub fn state(&self, now: SystemTime) -> SilenceState {
        if now >= self.ends_at {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// True when it mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &dyn Labels, now: SystemTime) -> bool {
        self.state(now) == SilenceState::Active && all_match(&self.matchers, |n| labels.label(n))
    }
}

/// A silence as asked for (the API's `postableSilence`): checked by [`Store::upsert`].
#[derive(Debug, Clone)]
pub struct NewSilence {
    /// An existing silence to change, or `None` for a new one.
    pub id: Option<String>,
    /// Its matchers.
    pub matchers: Vec<Matcher>,
    /// When it starts (a time in the past means now).
    pub starts_at: SystemTime,
    /// When it ends.
    pub ends_at: SystemTime,
    /// Who asks.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// Why a change was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    /// The silence asked for is not acceptable (the message says why): a 400.
    #[error("{0}")]
    Invalid(String),
    /// No silence has this id: a 404.
    #[error("silence {0} not found")]
    NotFound(String),
    /// The file could not be written; the change was not made: a 500.
    #[error("cannot write {file}: {source}")]
    Write {
        /// The silences file.
        file: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file exists but cannot be read.
    #[error("cannot read the silences file {file}: {source}")]
    Read {
        /// The silences file.
        file: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a silences file this version understands; it is left as it is.
    #[error(
        "the silences file {file} is not valid ({reason}); fix or move it aside to start without its silences"
    )]
    Corrupt {
        /// The silences file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContent {
    /// The format's version: 1.
    version: u32,
    /// Every silence kept, in creation order.
    silences: Vec<Silence>,
}

/// The silences: in memory, and in their file when the store has one.
pub struct Store {
    /// `state.dir/silences.json`, or `None` for a store in memory only (tests, `once`).
    file: Option<PathBuf>,
    /// Injected time.
    clock: SharedClock,
    /// Where the `inventory_monitor_silences` gauges go.
    monitor: Option<Arc<MonitorMetrics>>,
    /// Id → silence. A `std` mutex: held for a lookup or a file write, never across `.await`.
    silences: Mutex<BTreeMap<String, Silence>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("file", &self.file).finish()
    }
}

impl Store {
    /// A store kept in memory only.
    pub fn in_memory(clock: SharedClock) -> Arc<Store> {
        Arc::new(Store {
            file: None,
            clock,
            monitor: None,
            silences: Mutex::new(BTreeMap::new()),
        })
    }

    /// Opens `dir/silences.json` (no file: no silences yet). A file that cannot be read or
    /// parsed is an error naming it; it is left untouched.
    pub fn open(
        dir: &Path,
        clock: SharedClock,
        monitor: Option<Arc<MonitorMetrics>>,
    ) -> Result<Arc<Store>, OpenError> {
        let file = dir.join(FILE_NAME);
        let silences = match std::fs::read(&file) {
            Ok(bytes) => {
                let content: FileContent =
                    serde_json::from_slice(&bytes).map_err(|e| OpenError::Corrupt {
                        file: file.clone(),
                        reason: e.to_string(),
                    })?;
                if content.version != 1 {
                    return Err(OpenError::Corrupt {
                        file,
                        reason: format!("version {} is not 1", content.version),
                    });
                }
                content
                    .silences
                    .into_iter()
                    .map(|s| (s.id.clone(), s))
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => return Err(OpenError::Read { file, source }),
        };
        let store = Arc::new(Store {
            file: Some(file),
            clock,
            monitor,
            silences: Mutex::new(silences),
        });
        store.sweep();
        Ok(store)
    }

    /// The file, when the store has one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Silence>> {
        self.silences.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every silence kept, oldest first by start.
    pub fn list(&self) -> Vec<Silence> {
        let mut all: Vec<Silence> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| a.starts_at.cmp(&b.starts_at).then(a.id.cmp(&b.id)));
        all
    }

    /// One silence.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.lock().get(id).cloned()
    }

    /// The time now, by the store's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Creates a silence, or changes the one `new.id` names as Alertmanager does: in place
    /// when only its times or comment change and it has not expired, otherwise by expiring
    /// it and creating a new one. Returns the id of the silence now in force.
    pub fn upsert(&self, new: NewSilence) -> Result<String, SilenceError> {
        let now = self.clock.now();
        check(&new, now)?;
        let starts_at = new.starts_at.max(now);
        let mut silences = self.lock();
        let mut next = silences.clone();
        let id = match new.id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => {
                let old = next
                    .get_mut(id)
                    .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
                let in_place = old.state(now) != SilenceState::Expired
                    && old.matchers == new.matchers
                    // An active silence keeps its start: the update must repeat it as it is
                    // (amtool's `silence update` does), compared before a past start is
                    // raised to now.
                    && (old.state(now) == SilenceState::Pending || old.starts_at == new.starts_at);
                if in_place {
                    old.starts_at = if old.state(now) == SilenceState::Pending {
                        starts_at
                    } else {
                        old.starts_at
                    };
                    old.ends_at = new.ends_at;
                    old.comment = new.comment;
                    old.created_by = new.created_by;
                    old.updated_at = now;
                    id.to_string()
                } else {
                    // An expired silence keeps its end (and its day of being kept).
                    if old.state(now) != SilenceState::Expired {
                        expire_at(old, now);
                    }
                    insert_new(&mut next, new, starts_at, now)?
                }
            }
            None => insert_new(&mut next, new, starts_at, now)?,
        };
        self.write(&next)?;
        *silences = next;
        drop(silences);
        self.count();
        Ok(id)
    }

    /// Ends silence `id` now. Expiring one already expired changes nothing and is no error
    /// (Alertmanager answers the same).
    pub fn expire(&self, id: &str) -> Result<(), SilenceError> {
        let now = self.clock.now();
        let mut silences = self.lock();
        let silence = silences
            .get(id)
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        if silence.state(now) == SilenceState::Expired {
            return Ok(());
        }
        let mut next = silences.clone();
        if let Some(s) = next.get_mut(id) {
            expire_at(s, now);
        }
        self.write(&next)?;
        *silences = next;
        drop(silences);
        self.count();
        Ok(())
    }

    /// Forgets silences expired more than [`KEEP_EXPIRED`] ago (writing the file when any
    /// went) and sets the `inventory_monitor_silences` gauges. The daemon calls it every
    /// minute.
    pub fn sweep(&self) {
        let now = self.clock.now();
        {
            let mut silences = self.lock();
            let keep = |s: &Silence| {
                now.duration_since(s.ends_at)
                    .map_or(true, |past| past <= KEEP_EXPIRED)
            };
            if !silences.values().all(keep) {
                let next: BTreeMap<String, Silence> = silences
                    .iter()
                    .filter(|(_, s)| keep(s))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                match self.write(&next) {
                    Ok(()) => *silences = next,
                    Err(e) => tracing::warn!(error = %e, "cannot forget old silences"),
                }
            }
        }
        self.count();
    }

    /// Counts by state into the gauges.
    fn count(&self) {
        let Some(monitor) = &self.monitor else {
            return;
        };
        let now = self.clock.now();
        let (mut active, mut pending, mut expired) = (0, 0, 0);
        for s in self.lock().values() {
            match s.state(now) {
                SilenceState::Active => active += 1,
                SilenceState::Pending => pending += 1,
                SilenceState::Expired => expired += 1,
            }
        }
        monitor.set_silences(active, pending, expired);
    }

    /// Writes `silences` to the file: a new file, fsynced, renamed over the old, then the
    /// directory fsynced, so that a crash at any instant leaves the old or the new file.
    fn write(&self, silences: &BTreeMap<String, Silence>) -> Result<(), SilenceError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut list: Vec<Silence> = silences.values().cloned().collect();
        list.sort_by(|a, b| a.updated_at.cmp(&b.updated_at).then(a.id.cmp(&b.id)));
        let content = FileContent {
            version: 1,
            silences: list,
        };
        write_atomically(file, &content).map_err(|source| SilenceError::Write {
            file: file.clone(),
            source,
        })
    }
}

/// Serialises `content` to `file` through a temporary file beside it.
fn write_atomically(file: &Path, content: &FileContent) -> std::io::Result<()> {
    use std::io::Write;
    let dir = file.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = file.with_extension("json.new");
    let bytes = serde_json::to_vec_pretty(content).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, file)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Ends `silence` at `now` (a pending one never starts).
fn expire_at(silence: &mut Silence, now: SystemTime) {
    if silence.starts_at > now {
        silence.starts_at = now;
    }
    silence.ends_at = now;
    silence.updated_at = now;
}

/// Adds `new` under a fresh id, unless the store is full.
fn insert_new(
    silences: &mut BTreeMap<String, Silence>,
    new: NewSilence,
    starts_at: SystemTime,
    now: SystemTime,
) -> Result<String, SilenceError> {
    if silences.len() >= MAX_SILENCES {
        return Err(SilenceError::Invalid(format!(
            "too many silences: {MAX_SILENCES} are kept already (expired ones are forgotten a day after they end)"
        )));
    }
    let id = new_id();
    silences.insert(
        id.clone(),
        Silence {
            id: id.clone(),
            matchers: new.matchers,
            starts_at,
            ends_at: new.ends_at,
            created_by: new.created_by,
            comment: new.comment,
            updated_at: now,
        },
    );
    Ok(id)
}

/// A random id shaped like a version-4 UUID.
pub fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Alertmanager's checks of a silence, and our limits.
fn check(new: &NewSilence, now: SystemTime) -> Result<(), SilenceError> {
    let invalid = |m: String| Err(SilenceError::Invalid(m));
    if new.matchers.is_empty() {
        return invalid("a silence needs at least one matcher".to_string());
    }
    if new.matchers.len() > MAX_MATCHERS {
        return invalid(format!(
            "a silence may have at most {MAX_MATCHERS} matchers, not {}",
            new.matchers.len()
        ));
    }
    if new.matchers.iter().all(|m| m.matches(Some(""))) {
        return invalid(format!(
            "at least one matcher must not match the empty string: {} would silence every alert",
            display_list(&new.matchers)
        ));
    }
    if new.ends_at <= new.starts_at {
        return invalid("endsAt must be after startsAt".to_string());
    }
    if new.ends_at <= now {
        return invalid("endsAt is in the past".to_string());
    }
    if new.created_by.trim().is_empty() {
        return invalid("createdBy is empty: say who makes the silence".to_string());
    }
    if new.created_by.len() > MAX_AUTHOR_BYTES {
        return invalid(format!("createdBy is longer than {MAX_AUTHOR_BYTES} bytes"));
    }
    if new.comment.trim().is_empty() {
        return invalid("comment is empty: say why".to_string());
    }
    if new.comment.len() > MAX_COMMENT_BYTES {
        return invalid(format!("comment is longer than {MAX_COMMENT_BYTES} bytes"));
    }
    Ok(())
}

impl Suppressor for Store {
    fn suppressions(&self, labels: &dyn Labels, now: SystemTime) -> Vec<Suppression> {
        self.lock()
            .values()
            .filter(|s| s.mutes(labels, now))
            .map(|s| Suppression::Silence { id: s.id.clone() })
            .collect()
    }

    fn in_force(&self, now: SystemTime) -> Vec<InForce> {
        let mut active: Vec<InForce> = self
            .lock()
            .values()
            .filter(|s| s.state(now) == SilenceState::Active)
            .map(|s| InForce {
                what: Suppression::Silence { id: s.id.clone() },
                matchers: display_list(&s.matchers),
                starts_at: Some(s.starts_at),
                ends_at: Some(s.ends_at),
                created_by: s.created_by.clone(),
                comment: s.comment.clone(),
            })
            .collect();
        active.sort_by_key(|f| f.ends_at);
        active
    }
}

//! `state.dir/flapping.json`: the flap histories (README, Flapping), kept across restarts
//! beside the state file, so that a condition flapping before a restart is still flapping
//! after it and its `ProfileFlapping` alert is not announced again.
//!
//! Written like the state file: new text to `flapping.json.tmp`, `fsync`, rename over
//! `flapping.json`, `fsync` of the directory; a crash leaves the old file or the new one,
//! whole. Only written when the histories changed, so a steady fleet writes nothing. A file
//! that cannot be read is reported and set aside: flap detection then starts afresh, which
//! costs at most a window of sweeps before a flapping condition is recognised again.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::flap::FlapRecord;

/// The file's name inside `state.dir`.
pub const FILE_NAME: &str = "flapping.json";

/// The temporary file a new version is written to before it replaces the old one.
pub const TMP_FILE_NAME: &str = "flapping.json.tmp";

/// The version of the file format; a file of another version is not guessed at.
const FORMAT_VERSION: u32 = 1;

/// What the file holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlapFileBody {
    /// [`FORMAT_VERSION`].
    version: u32,
    /// Every history that says more than "never held".
    histories: Vec<FlapRecord>,
}

/// The flap histories' file in one state directory.
#[derive(Debug)]
pub struct FlapFile {
    /// `state.dir`.
    dir: PathBuf,
    /// `state.dir/flapping.json`.
    path: PathBuf,
    /// The SHA-256 of what was last written or read, so that unchanged histories are not
    /// written again (the text itself is megabytes for a large fleet, not kept for this).
    last: Option<[u8; 32]>,
}

impl FlapFile {
    /// The file in `dir` (not read yet).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            path: dir.join(FILE_NAME),
            last: None,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved histories: none when there is no file yet. A file that cannot be read or
    /// parsed is logged (ERROR, naming the file and the problem), moved aside to
    /// `flapping.json.corrupt-<unix-seconds>`, and counts as none.
    pub fn load(&mut self) -> Vec<FlapRecord> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                self.set_aside(&e.to_string());
                return Vec::new();
            }
        };
        match serde_json::from_slice::<FlapFileBody>(&bytes) {
            Ok(body) if body.version == FORMAT_VERSION => {
                self.last = Some(Sha256::digest(&bytes).into());
                body.histories
            }
            Ok(body) => {
                self.set_aside(&format!(
                    "format version {} is not the version this build reads ({FORMAT_VERSION})",
                    body.version
                ));
                Vec::new()
            }
            Err(e) => {
                self.set_aside(&format!("not a flap history file: {e}"));
                Vec::new()
            }
        }
    }

    /// Writes `histories` unless they are what the file already holds.
    pub fn save(&mut self, histories: Vec<FlapRecord>) -> io::Result<()> {
        let body = FlapFileBody {
            version: FORMAT_VERSION,
            histories,
        };
        // Serialized twice when changed (once into the digest, once into the file), so that
        // the text is never held whole.
        let mut digest = Hashing(Sha256::new());
        serde_json::to_writer(&mut digest, &body).map_err(io::Error::other)?;
        let digest: [u8; 32] = digest.0.finalize().into();
        if self.last == Some(digest) {
            return Ok(());
        }
        self.write_atomically(|file| {
            let mut out = BufWriter::with_capacity(64 * 1024, file);
            serde_json::to_writer(&mut out, &body).map_err(io::Error::other)?;
            out.flush()
        })?;
        self.last = Some(digest);
        Ok(())
    }

    /// Reports an unreadable file and moves it aside for a person to look at.
    fn set_aside(&self, problem: &str) {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let to = self.dir.join(format!("{FILE_NAME}.corrupt-{secs}"));
        let moved = fs::rename(&self.path, &to);
        tracing::error!(
            file = %self.path.display(),
            problem,
            moved_to = %moved.as_ref().map_or_else(|e| format!("(not moved: {e})"), |()| to.display().to_string()),
            "the flap history file cannot be read; flap detection starts afresh (README, Flapping)"
        );
    }

    /// Write new (with `write`), fsync, rename, fsync the directory.
    fn write_atomically(
        &self,
        write: impl FnOnce(&mut fs::File) -> io::Result<()>,
    ) -> io::Result<()> {
        let tmp = self.dir.join(TMP_FILE_NAME);
        {
            let mut file = fs::File::create(&tmp)?;
            write(&mut file)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        #[cfg(unix)]
        if let Ok(d) = fs::File::open(&self.dir) {
            // Best effort: the rename is durable once the directory is flushed.
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// A writer into a digest.
struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

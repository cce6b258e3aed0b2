//! One daemon per `state.dir`: an exclusive `flock` on `state.dir/inventory-monitor.lock`,
//! held for the life of the process (the kernel releases it when the process ends, however
//! it ends: no stale lock after a crash). The file holds the owner's pid, so that a second
//! daemon can say which process holds the directory. Commands that only read (`check`,
//! `notify-test`) never take it.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside `state.dir`.
pub const LOCK_FILE_NAME: &str = "inventory-monitor.lock";

/// Why `state.dir` cannot be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "state.dir {dir} is in use by another inventory-monitor ({holder}); each daemon needs \
         a state.dir of its own (README, Delivery guarantees)"
    )]
    InUse {
        /// The directory.
        dir: PathBuf,
        /// "pid 1234", or what is known of the holder.
        holder: String,
    },
    /// The directory cannot be created.
    #[error("state.dir: cannot create {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// The lock file cannot be created or locked.
    #[error("state.dir: cannot lock {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
}

/// The lock on a `state.dir`; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateDirLock {
    /// The open, locked file: closing it releases the lock.
    _file: File,
    /// The lock file.
    path: PathBuf,
}

impl StateDirLock {
    /// Creates `dir` if missing and takes its lock, writing this process's pid in it; fails
    /// at once (never waits) when another process holds it, naming that process.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE_NAME);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(dir).map_err(|source| LockError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        if let Err(e) = try_lock(&file) {
            if e.kind() != io::ErrorKind::WouldBlock {
                return Err(io_err(e));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "a process whose pid is not written yet".to_string(),
            };
            return Err(LockError::InUse {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        let write_pid = |file: &mut File| -> io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_data()
        };
        write_pid(&mut file).map_err(io_err)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An exclusive, non-blocking `flock`.
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor this `File` owns and keeps open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Err(io::Error::new(io::ErrorKind::WouldBlock, e))
        } else {
            Err(e)
        }
    }
}

/// Elsewhere, no lock: one daemon per directory is then the operator's to keep.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_fails_naming_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = StateDirLock::acquire(dir.path()).expect("first lock");
        let err = StateDirLock::acquire(dir.path()).expect_err("second lock refused");
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(
            text.contains("in use by another inventory-monitor"),
            "{text}"
        );
        drop(first);
        StateDirLock::acquire(dir.path()).expect("free again once released");
    }
}

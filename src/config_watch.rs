//! Where reloads come from (README, Running it): SIGHUP, `POST /-/reload` (README,
//! Silences), and with `run --auto-reload-interval DUR` the config file's content, read
//! every DUR. All go through one task and one channel to the daemon, so a signal and a
//! change arriving together are applied one after the other, never at once.
//!
//! The watch compares content, not modification times: a Kubernetes ConfigMap volume
//! changes a file by swapping a `..data` symlink, which leaves the file's own mtime alone.
//! A file is tried once per distinct content: a refused file is logged and counted once,
//! not on every tick, and the next different content (a fix, or the old file back) is
//! tried again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config;
use crate::daemon::{self, Reload};

/// The shortest `--auto-reload-interval`: reading a small file more often buys nothing.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The channel the daemon takes reloads from.
pub type Reloads = mpsc::UnboundedSender<Result<Reload, daemon::Error>>;

/// Reads and validates the config file at `path` for a reload; a file with problems is
/// refused (each problem logged).
pub fn load(path: &Path) -> Result<Reload, daemon::Error> {
    read(path).map_err(|(e, _)| e)
}

/// [`load`], and on refusal the problems as text too (for `POST /-/reload`'s answer).
fn read(path: &Path) -> Result<Reload, (daemon::Error, String)> {
    let config = config::load(path).map_err(|e| {
        let mut text = format!("{} has {} problem(s):", path.display(), e.problems.len());
        for p in &e.problems {
            tracing::error!(problem = %p, "configuration problem");
            text.push_str(&format!("\n  {p}"));
        }
        (
            daemon::Error::Refused(format!(
                "{} has {} problem(s)",
                path.display(),
                e.problems.len()
            )),
            text,
        )
    })?;
    let token = config.api.token().map_err(|p| {
        (
            daemon::Error::Refused(p.to_string()),
            format!("{}: {p}", path.display()),
        )
    })?;
    Ok(Reload {
        config,
        token,
        done: None,
    })
}

/// What the watch remembers of the file: the content last loaded or tried, and the last
/// read error (so that a file that stays unreadable is reported once).
#[derive(Debug, Default)]
pub struct Watch {
    seen: Option<Vec<u8>>,
    unreadable: Option<String>,
}

impl Watch {
    /// A watch that takes `content` (the file as the daemon started with it) as loaded.
    pub fn new(content: Option<Vec<u8>>) -> Watch {
        Watch {
            seen: content,
            unreadable: None,
        }
    }

    /// Notes `content` as loaded or tried (by SIGHUP, say); true when it differs from what
    /// was seen before.
    pub fn note(&mut self, content: Vec<u8>) -> bool {
        self.unreadable = None;
        if self.seen.as_deref() == Some(content.as_slice()) {
            return false;
        }
        self.seen = Some(content);
        true
    }

    /// Reads `path`; true when its content is new, i.e. due for a reload. A read error is
    /// logged once until the file reads again, and does not count as a reload: the file
    /// may be between two versions.
    pub fn changed(&mut self, path: &Path) -> bool {
        match std::fs::read(path) {
            Ok(content) => self.note(content),
            Err(e) => {
                let e = e.to_string();
                if self.unreadable.as_deref() != Some(e.as_str()) {
                    tracing::warn!(file = %path.display(), error = %e,
                        "cannot read the configuration file to check it for changes");
                    self.unreadable = Some(e);
                }
                false
            }
        }
    }
}

/// Reloads asked for over HTTP (`POST /-/reload`): each is answered with the outcome.
pub type HttpReloads = mpsc::UnboundedReceiver<tokio::sync::oneshot::Sender<Result<(), String>>>;

/// Takes SIGHUP over from now on (its default ends the process), for [`reloads`]; `None`,
/// logged, when it cannot be listened for.
pub fn listen_for_hangups() -> Option<tokio::signal::unix::Signal> {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; reload needs a restart");
            None
        }
    }
}

/// Sends a reload on every SIGHUP (`hangups`, from [`listen_for_hangups`]), on every request of `http`, and, with `every`, whenever
/// the file's content changes; `started_with` is the file's content when the daemon loaded
/// it. Ends when the daemon stops taking reloads.
pub async fn reloads(
    path: PathBuf,
    every: Option<Duration>,
    started_with: Option<Vec<u8>>,
    mut hangups: Option<tokio::signal::unix::Signal>,
    reloads: Reloads,
    mut http: Option<HttpReloads>,
) {
    let mut ticks = every.map(|every| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut watch = Watch::new(started_with);
    loop {
        let reload = tokio::select! {
            Some(()) = next_hangup(&mut hangups) => {
                tracing::info!(file = %path.display(), "SIGHUP received, reloading the configuration");
                // What SIGHUP loads, the watch need not load again.
                if let Ok(content) = std::fs::read(&path) {
                    watch.note(content);
                }
                load(&path)
            }
            Some(done) = next_http(&mut http) => {
                tracing::info!(file = %path.display(), "reload asked for over HTTP, reloading the configuration");
                if let Ok(content) = std::fs::read(&path) {
                    watch.note(content);
                }
                match read(&path) {
                    Ok(mut reload) => {
                        reload.done = Some(done);
                        Ok(reload)
                    }
                    Err((e, problems)) => {
                        let _ = done.send(Err(problems));
                        Err(e)
                    }
                }
            }
            () = next_tick(&mut ticks) => {
                if !watch.changed(&path) {
                    continue;
                }
                tracing::info!(file = %path.display(), "configuration file changed, reloading it");
                load(&path)
            }
        };
        if reloads.send(reload).is_err() {
            return;
        }
    }
}

async fn next_hangup(hangups: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hangups {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// The next HTTP reload request; never resolves without a channel (or once it closed).
async fn next_http(
    http: &mut Option<HttpReloads>,
) -> Option<tokio::sync::oneshot::Sender<Result<(), String>>> {
    if let Some(rx) = http {
        if let Some(done) = rx.recv().await {
            return Some(done);
        }
        *http = None;
    }
    std::future::pending().await
}

async fn next_tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_that_differs_from_the_last_seen_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "a").unwrap();
        let mut w = Watch::new(Some(b"a".to_vec()));
        assert!(!w.changed(&file), "the content started with");
        std::fs::write(&file, "b").unwrap();
        assert!(w.changed(&file));
        assert!(!w.changed(&file), "tried once per distinct content");
        std::fs::write(&file, "a").unwrap();
        assert!(w.changed(&file), "the old content back is a change");
        assert!(!w.note(b"a".to_vec()), "SIGHUP of the same content");
        assert!(w.note(b"c".to_vec()));
    }

    #[test]
    fn an_unreadable_file_is_no_change_and_reads_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let mut w = Watch::new(Some(b"a".to_vec()));
        assert!(!w.changed(&file));
        assert!(w.unreadable.is_some());
        std::fs::write(&file, "a").unwrap();
        assert!(!w.changed(&file));
        assert!(w.unreadable.is_none());
    }

    #[test]
    fn a_symlink_swap_is_seen_though_the_file_path_never_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("..v1")).unwrap();
        std::fs::write(d.join("..v1/config.toml"), "one").unwrap();
        std::os::unix::fs::symlink("..v1", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/config.toml", d.join("config.toml")).unwrap();
        let file = d.join("config.toml");
        let mut w = Watch::new(Some(b"one".to_vec()));
        assert!(!w.changed(&file));
        std::fs::create_dir(d.join("..v2")).unwrap();
        std::fs::write(d.join("..v2/config.toml"), "two").unwrap();
        std::os::unix::fs::symlink("..v2", d.join("..tmp")).unwrap();
        std::fs::rename(d.join("..tmp"), d.join("..data")).unwrap();
        assert!(w.changed(&file));
    }
}

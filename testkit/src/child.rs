//! A program under test as a child process: spawned with its output captured (in memory or
//! appended to a log file that outlives restarts), signalled through `libc::kill` (no `kill`
//! program), waited on with deadlines, and killed when dropped.
//!
//! The binary's path is the caller's: `env!("CARGO_BIN_EXE_inventory-monitor")` exists
//! only in the tests and benchmarks themselves.

use std::ffi::OsStr;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::wait::wait_until;

/// A signal a test sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// `SIGHUP`: reload the configuration.
    Hup,
    /// `SIGINT`: Ctrl-C.
    Int,
    /// `SIGTERM`: shut down gracefully.
    Term,
    /// `SIGKILL`: die now, saving nothing.
    Kill,
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Hup => libc::SIGHUP,
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

/// One of a child's output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Its standard output.
    Stdout,
    /// Its standard error (where the daemon logs).
    Stderr,
}

/// Called with each line a stream prints, as it arrives (without its newline).
type Tap = Box<dyn FnMut(&str) + Send>;

/// Where one output stream goes.
enum Capture {
    /// Discarded.
    Null,
    /// Kept in memory.
    Memory,
    /// Appended to this file (created if missing).
    File(PathBuf),
}

/// What one captured stream has printed so far, where the test can read it.
#[derive(Clone)]
enum Captured {
    /// Nothing is kept.
    Null,
    /// In memory.
    Memory(Arc<Mutex<Vec<u8>>>),
    /// In a file.
    File(PathBuf),
}

impl Captured {
    /// What was printed so far (lossy text).
    fn text(&self) -> String {
        match self {
            Captured::Null => String::new(),
            Captured::Memory(buf) => {
                let buf = buf.lock().unwrap_or_else(|e| e.into_inner());
                String::from_utf8_lossy(&buf).into_owned()
            }
            Captured::File(path) => std::fs::read(path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
        }
    }
}

/// How to start a child: the program, its arguments and environment, where its output goes.
pub struct Launch {
    /// The command, with `kill_on_drop` set.
    command: Command,
    /// Where stdout goes (memory unless told).
    stdout: Capture,
    /// Where stderr goes (memory unless told).
    stderr: Capture,
    /// Sees each stderr line.
    stderr_tap: Option<Tap>,
}

impl fmt::Debug for Launch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launch")
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl Launch {
    /// `program`, with stdin closed, stdout and stderr kept in memory, and the test's
    /// `RUST_LOG` removed (a child logs what the test asks for, not what the developer's
    /// shell says).
    pub fn new(program: impl AsRef<OsStr>) -> Launch {
        let mut command = Command::new(program);
        command.env_remove("RUST_LOG").kill_on_drop(true);
        Launch {
            command,
            stdout: Capture::Memory,
            stderr: Capture::Memory,
            stderr_tap: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Launch {
        self.command.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launch {
        self.command.env(key, value);
        self
    }

    /// Runs it in `dir` instead of the test's working directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Launch {
        self.command.current_dir(dir);
        self
    }

    /// Appends stderr to `path` (kept across restarts of the same program).
    pub fn stderr_to(mut self, path: impl Into<PathBuf>) -> Launch {
        self.stderr = Capture::File(path.into());
        self
    }

    /// Appends stdout to `path`.
    pub fn stdout_to(mut self, path: impl Into<PathBuf>) -> Launch {
        self.stdout = Capture::File(path.into());
        self
    }

    /// Discards stdout.
    pub fn stdout_null(mut self) -> Launch {
        self.stdout = Capture::Null;
        self
    }

    /// Discards stderr (a tap still sees it).
    pub fn stderr_null(mut self) -> Launch {
        self.stderr = Capture::Null;
        self
    }

    /// Calls `tap` with each stderr line as it arrives (for logs read live: sweep lines).
    pub fn on_stderr_line(mut self, tap: impl FnMut(&str) + Send + 'static) -> Launch {
        self.stderr_tap = Some(Box::new(tap));
        self
    }

    /// Starts the program.
    pub fn spawn(mut self) -> std::io::Result<Child> {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("the child has no pid"))?;
        let (stdout, stdout_reader) = match child.stdout.take() {
            Some(pipe) => capture(pipe, self.stdout, None)?,
            None => (Captured::Null, None),
        };
        let (stderr, stderr_reader) = match child.stderr.take() {
            Some(pipe) => capture(pipe, self.stderr, self.stderr_tap)?,
            None => (Captured::Null, None),
        };
        Ok(Child {
            child,
            pid,
            stdout,
            stderr,
            readers: [stdout_reader, stderr_reader]
                .into_iter()
                .flatten()
                .collect(),
            status: None,
        })
    }
}

impl Launch {
    /// Runs the program to its end: exit code (-1 when a signal ended it), stdout, stderr.
    /// Panics if it cannot start or does not end within `deadline` (then it is killed).
    pub async fn output(self, deadline: Duration) -> (i32, String, String) {
        let program = format!("{:?}", self.command.as_std().get_program());
        let mut child = self
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let Some(status) = child.wait(deadline).await else {
            panic!(
                "{program} did not end within {deadline:?}\nstderr:\n{}",
                child.stderr_text()
            );
        };
        (
            status.code().unwrap_or(-1),
            child.stdout_text(),
            child.stderr_text(),
        )
    }
}

/// Starts a task copying `pipe` to where `to` says, line by line, through `tap`.
fn capture(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    to: Capture,
    mut tap: Option<Tap>,
) -> std::io::Result<(Captured, Option<JoinHandle<()>>)> {
    let (captured, mut file) = match to {
        Capture::Null => (Captured::Null, None),
        Capture::Memory => (Captured::Memory(Arc::default()), None),
        Capture::File(path) => {
            let file = OpenOptions::new().create(true).append(true).open(&path)?;
            (Captured::File(path), Some(file))
        }
    };
    let memory = match &captured {
        Captured::Memory(buf) => Some(buf.clone()),
        _ => None,
    };
    let task = tokio::spawn(async move {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Some(file) = file.as_mut() {
                let _ = file.write_all(&line);
            }
            if let Some(buf) = &memory {
                buf.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&line);
            }
            if let Some(tap) = tap.as_mut() {
                let text = String::from_utf8_lossy(&line);
                tap(text.trim_end_matches(['\n', '\r']));
            }
        }
    });
    Ok((captured, Some(task)))
}

/// A running (or exited) child; killed when dropped.
pub struct Child {
    /// The process.
    child: tokio::process::Child,
    /// Its pid, kept: tokio forgets it once the process has been reaped.
    pid: u32,
    /// Its stdout so far.
    stdout: Captured,
    /// Its stderr so far.
    stderr: Captured,
    /// The tasks copying its output; done once it exited and the pipes closed.
    readers: Vec<JoinHandle<()>>,
    /// How it exited, once it did.
    status: Option<ExitStatus>,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Child {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` with `kill(2)`.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        if self.status.is_some() {
            return Err(std::io::Error::other(format!(
                "process {} has exited already",
                self.pid
            )));
        }
        let pid = libc::pid_t::try_from(self.pid).map_err(std::io::Error::other)?;
        // SAFETY: kill(2) takes two integers and touches no memory of ours; the pid is our
        // own child's, not yet reaped (checked above), so it cannot name another process.
        let rc = unsafe { libc::kill(pid, signal.number()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// True while it has not exited.
    pub fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// How it exited, if it has (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.is_running() {
            None
        } else {
            self.status
        }
    }

    /// Waits for it to exit and its output to be read to the end; `None` if `deadline`
    /// passes first (it keeps running).
    pub async fn wait(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let end = tokio::time::Instant::now() + deadline;
        if self.status.is_none() {
            let status = tokio::time::timeout_at(end, self.child.wait())
                .await
                .ok()?
                .ok()?;
            self.status = Some(status);
        }
        for reader in &mut self.readers {
            // A grandchild holding the pipe open must not hold the test: past the deadline
            // the output read so far is what there is.
            let _ = tokio::time::timeout_at(end, reader).await;
        }
        self.status
    }

    /// Sends `signal` and waits for the exit; panics (with its stderr) if the signal cannot
    /// be sent or it does not exit within `deadline`.
    pub async fn stop(&mut self, signal: Signal, deadline: Duration) -> ExitStatus {
        self.signal(signal)
            .unwrap_or_else(|e| panic!("cannot send {signal:?} to {}: {e}", self.pid));
        match self.wait(deadline).await {
            Some(status) => status,
            None => panic!(
                "process {} did not exit within {deadline:?} of {signal:?}\nstderr:\n{}",
                self.pid,
                self.stderr_text()
            ),
        }
    }

    /// `SIGTERM`, then its exit code (-1 when it died of a signal); panics past `deadline`.
    pub async fn terminate(&mut self, deadline: Duration) -> i32 {
        self.stop(Signal::Term, deadline).await.code().unwrap_or(-1)
    }

    /// `SIGKILL`, then waits for it to be reaped; panics past 10 s.
    pub async fn kill(&mut self) -> ExitStatus {
        self.stop(Signal::Kill, Duration::from_secs(10)).await
    }

    /// Everything it printed on stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.text()
    }

    /// Everything it printed on stderr (its log) so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Waits until a line of `stream` satisfies `pred`; answers it, or `None` past
    /// `deadline`.
    pub async fn wait_line(
        &self,
        stream: Stream,
        deadline: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let captured = match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        };
        let mut found = None;
        wait_until(deadline, || {
            found = captured
                .text()
                .lines()
                .find(|l| pred(l))
                .map(str::to_string);
            found.is_some()
        })
        .await;
        found
    }

    /// [`Child::wait_line`] on stderr, where the daemon logs.
    pub async fn wait_stderr_line(
        &self,
        deadline: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        self.wait_line(Stream::Stderr, deadline, pred).await
    }

    /// The path of the file stderr goes to, if it goes to one.
    pub fn stderr_path(&self) -> Option<&Path> {
        match &self.stderr {
            Captured::File(path) => Some(path),
            _ => None,
        }
    }
}

/// A memory figure of process `pid` in KiB, read from `/proc/PID/status` (`"VmRSS"` for the
/// resident set now, `"VmHWM"` for its peak); `None` when the process is gone or the field
/// is missing (or off Linux).
pub fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;

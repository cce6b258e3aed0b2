//! The daemon under soak: the real binary as a child process (the test kit's), its
//! configuration, what its JSON log says, and its memory.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use inventory_monitor_testkit::audit::{Sweep, Walk};
use inventory_monitor_testkit::child::{Child, Launch};
use serde_json::Value;

use crate::{
    lock, parse_time, AUTHENTICATION_FOR, BIN, CONNECTIVITY_FOR, GROUP_WAIT, POLL_INTERVAL, TOKEN,
};

/// What the daemons' logs said.
pub(crate) struct Logs {
    /// Every sweep line, in arrival order.
    pub(crate) sweeps: Mutex<Vec<Sweep>>,
    /// Every ERROR line.
    pub(crate) errors: Mutex<Vec<String>>,
    /// `configuration reloaded` lines.
    pub(crate) reloaded: AtomicU64,
    /// `configuration reload failed` lines.
    pub(crate) reload_failed: AtomicU64,
    /// `target/soak/daemon.log`: every line, prefixed with its process.
    pub(crate) file: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl Logs {
    /// Logs written to `path` (created afresh).
    pub(crate) fn create(path: &Path) -> anyhow::Result<Logs> {
        Ok(Logs {
            sweeps: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
            reloaded: AtomicU64::new(0),
            reload_failed: AtomicU64::new(0),
            file: Mutex::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("create {}", path.display()))?,
            )),
        })
    }

    /// Takes one line of process `proc`'s log.
    fn record(&self, proc: usize, line: &str) {
        let _ = writeln!(lock(&self.file), "[{proc}] {line}");
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let fields = &v["fields"];
        let message = fields["message"].as_str().unwrap_or("");
        let walk = if message == "sweep complete" {
            Some(Walk::Complete)
        } else if message.starts_with("sweep incomplete") {
            Some(Walk::Incomplete)
        } else if message.starts_with("sweep failed") {
            Some(Walk::Failed)
        } else {
            None
        };
        if let Some(walk) = walk {
            let ts = v["timestamp"].as_str().and_then(parse_time);
            let seconds = fields["seconds"].as_f64();
            if let (Some(ts), Some(seconds)) = (ts, seconds) {
                lock(&self.sweeps).push(Sweep {
                    proc,
                    ts,
                    seconds,
                    walk,
                });
            }
        }
        if message == "configuration reloaded" {
            self.reloaded.fetch_add(1, Ordering::Relaxed);
        } else if message.starts_with("configuration reload failed") {
            self.reload_failed.fetch_add(1, Ordering::Relaxed);
        }
        if v["level"] == "ERROR" {
            lock(&self.errors).push(format!("[{proc}] {line}"));
        }
    }

    /// How many sweeps process `proc` has logged.
    pub(crate) fn sweeps_of(&self, proc: usize) -> usize {
        lock(&self.sweeps).iter().filter(|s| s.proc == proc).count()
    }
}

/// A running daemon process.
pub(crate) struct Proc {
    /// The child process (killed if dropped).
    pub(crate) child: Child,
    /// 0 for the first process, and so on.
    pub(crate) index: usize,
    /// Its HTTP port.
    pub(crate) port: u16,
    /// When it was spawned.
    pub(crate) started: Instant,
}

impl Proc {
    /// Starts process `index` on `config`, delivering to `webhook`; its log lines go to
    /// `logs`.
    pub(crate) fn spawn(
        index: usize,
        port: u16,
        config: &Path,
        webhook: &str,
        logs: Arc<Logs>,
    ) -> anyhow::Result<Proc> {
        let child = Launch::new(BIN)
            .args(["--log-format", "json", "run", "--config"])
            .arg(config)
            .env("SOAK_TOKEN", TOKEN)
            .env("SOAK_WEBHOOK_URL", webhook)
            .env("RUST_LOG", "info")
            .stdout_null()
            .stderr_null()
            .on_stderr_line(move |line| logs.record(index, line))
            .spawn()
            .context("start the daemon")?;
        Ok(Proc {
            child,
            index,
            port,
            started: Instant::now(),
        })
    }

    /// Its pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    // A JSON string is a valid TOML basic string.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// The daemon's configuration (see the soak's documentation for why each setting).
pub(crate) fn config_text(
    base_url: &str,
    port: u16,
    state_dir: &Path,
    timeout_secs: u64,
) -> String {
    format!(
        r#"[api]
base_url = {base_url}
token_env = "SOAK_TOKEN"
page_size = 100
concurrency = 32
timeout = "{timeout_secs}s"
retries = 3

[poll]
interval = "{POLL_INTERVAL}"

[server]
listen = "127.0.0.1:{port}"

[state]
dir = {state}

[rules]
include_inactive = true

[rules.connectivity]
for = "{conn_for}s"

[rules.authentication]
for = "{auth_for}s"

[rules.sync_stale]
enabled = false

[rules.sync_failed]
enabled = false

[rules.errors]
enabled = false

[rules.unreachable]
enabled = false

# Drift toggles health often and the audit expects every change announced: flap detection
# (README, Flapping) would rightly hold some back.
[rules.flapping]
enabled = false

[alerting]
group_wait = "{group_wait}s"
repeat_interval = "24h"
send_resolved = true
max_delivery_age = "1h"

[[alerting.receivers]]
name = "soak"
kind = "webhook"
url_env = "SOAK_WEBHOOK_URL"
max_alerts = {max_alerts}
"#,
        base_url = toml_string(base_url),
        state = toml_string(&state_dir.display().to_string()),
        conn_for = CONNECTIVITY_FOR.as_secs(),
        auth_for = AUTHENTICATION_FOR.as_secs(),
        group_wait = GROUP_WAIT.as_secs(),
        max_alerts = crate::MAX_ALERTS,
    )
}

/// Writes the config atomically, so that a start or a reload never reads half a file.
pub(crate) fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

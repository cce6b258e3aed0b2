//! The composition root: what turns the library into a running process. It tunes the
//! allocator, builds the runtimes, binds the listener, builds the [`Daemon`] (which builds
//! the self-metrics and hands them to the upstream client and the notifier), starts the HTTP
//! server on a thread of its own, and turns signals into shutdown (SIGINT, SIGTERM) and
//! reloads (SIGHUP). `anyhow` is at home here, as in the other command runners.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::config_watch;
use crate::daemon::Daemon;
use crate::maintenance;
use crate::silences::Store;

/// Tunes the allocator (mimalloc, the binary's global allocator) for a long-running daemon
/// whose sweeps allocate and free the size of the fleet each time (README, Serving and resources):
/// - `arena_eager_commit` 0: an arena's memory is committed as it is used, so that memory
///   freed after a sweep can be handed back (an eagerly committed arena is never purged);
///   read once, when the first arena is reserved, so the binary calls this from a
///   constructor, before its first allocation;
/// - `purge_delay` 0: memory freed goes back to the system at once, not a second later,
///   when the next burst of the sweep has already taken fresh pages.
///
/// Measured at 100,000 profiles: peak RSS 214 MiB with glibc's allocator as tuned before
/// (two arenas, a fixed mmap threshold), 259 MiB with mimalloc's defaults, 187 MiB with
/// these settings; the CPU of the same three sweeps 10.4 s, 8.6 s and 7.4–7.6 s.
///
/// An operator's own `MIMALLOC_ARENA_EAGER_COMMIT` or `MIMALLOC_PURGE_DELAY` in the
/// environment wins. Allocates nothing (it runs before the allocator is set up).
pub extern "C" fn tune_allocator() {
    use libmimalloc_sys::mi_option_set;
    for (option, variable) in [
        (MI_OPTION_ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT"),
        (MI_OPTION_PURGE_DELAY, c"MIMALLOC_PURGE_DELAY"),
    ] {
        // SAFETY: getenv reads the environment without allocating; nothing writes it
        // before `main`. mi_option_set only stores the option's value (mimalloc reads it
        // when it reserves, commits or purges); the indices are those of mimalloc.h (v3),
        // checked by a test against their documented defaults.
        unsafe {
            if libc::getenv(variable.as_ptr()).is_null() {
                mi_option_set(option, 0);
            }
        }
    }
}

/// `mi_option_arena_eager_commit` in mimalloc.h's `mi_option_t`.
pub const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// `mi_option_purge_delay` in mimalloc.h's `mi_option_t`.
pub const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The main runtime: the poll loop, the judge and the notifier run on it (the upstream
/// client and the HTTP server bring runtimes of their own).
pub fn main_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// `run`: serves `config` (read from `path`, which SIGHUP reads again, as does every
/// `auto_reload` when the file's content changed) until SIGINT or SIGTERM.
pub async fn run(config: Config, path: &Path, auto_reload: Option<Duration>) -> anyhow::Result<()> {
    // One daemon per state.dir, for the life of the process: a second one on the same
    // directory fails here, naming the first (README, Delivery guarantees).
    let _state_lock = crate::notify::state::lock::StateDirLock::acquire(&config.state.dir)?;
    // The file as loaded: the auto reload's first "last seen" content.
    let started_with = std::fs::read(path).ok();
    let token = config.api.token().map_err(|p| anyhow::anyhow!("{p}"))?;
    let listen = config.server.listen.clone();
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // The signals are taken over before "started" is logged: a SIGHUP or SIGTERM sent as
    // soon as the log says so reloads or stops the daemon instead of ending the process the
    // default way.
    let shutdown = CancellationToken::new();
    cancel_on_shutdown_signal(&shutdown);
    let hangups = config_watch::listen_for_hangups();
    tracing::info!(listen = %listen, version = crate::VERSION, "inventory-monitor started");
    let clock: crate::clock::SharedClock = Arc::new(SystemClock);
    let mut daemon = Daemon::with_notifier(config, token, clock.clone())?;
    let state = daemon.state();
    keep_silences(&mut daemon, clock)?;
    let (reloads, reload_rx) = mpsc::unbounded_channel();
    daemon.reload_from(reload_rx);
    let (http_reloads, http_reload_rx) = mpsc::unbounded_channel();
    *state.reloads.write().unwrap_or_else(|e| e.into_inner()) = Some(http_reloads);
    daemon.add_configured_suppressor(Box::new(|c| Arc::new(maintenance::Windows::from_config(c))));
    tokio::spawn(config_watch::reloads(
        path.to_path_buf(),
        auto_reload,
        started_with,
        hangups,
        reloads,
        Some(http_reload_rx),
    ));
    run_with_server(daemon, listener, shutdown).await
}

/// Silences (README, Silences): the store in `state.dir`, asked about every alert from the
/// first sweep on, served and changed by the Alertmanager v2 API, swept every minute. Called
/// before the daemon's first sweep, so that a restarted daemon holds what it held.
pub fn keep_silences(daemon: &mut Daemon, clock: crate::clock::SharedClock) -> anyhow::Result<()> {
    let state = daemon.state();
    let silences = Store::open(
        &daemon.config().state.dir,
        clock,
        Some(state.monitor.clone()),
    )?;
    daemon.add_suppressor(silences.clone());
    *state.silences.write().unwrap_or_else(|e| e.into_inner()) = Some(silences.clone());
    tokio::spawn(sweep_silences(silences));
    Ok(())
}

/// Forgets old silences and counts them by state, every minute (a silence turns from
/// pending to active to expired with time alone).
async fn sweep_silences(store: Arc<Store>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        store.sweep();
    }
}

/// `notify-test`'s configuration: the file checked as for `run`, except that the API token
/// is not looked up (receivers are tested without it) and, with `receiver`, neither are the
/// other receivers' URLs and secrets. Problems go to stderr as `check` prints them.
pub fn notify_test_config(path: &Path, receiver: Option<&str>) -> Option<Config> {
    match crate::config::load_for_notify_test(path, receiver) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("{}: {} problem(s):", path.display(), e.problems.len());
            for p in &e.problems {
                eprintln!("  {p}");
            }
            None
        }
    }
}

/// Cancels `shutdown` when SIGINT or SIGTERM arrives. Both are taken over before this
/// returns (until then, they end the process the default way).
pub fn cancel_on_shutdown_signal(shutdown: &CancellationToken) {
    let signals = ShutdownSignals::listen();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        signals.recv().await;
        stop.cancel();
    });
}

/// SIGINT and SIGTERM, listened for from the moment [`ShutdownSignals::listen`] returns.
struct ShutdownSignals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Takes both signals over now (a failure is logged: that signal keeps its default).
    fn listen() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt())
            .map_err(|e| tracing::error!(error = %e, "cannot listen for SIGINT"))
            .ok();
        let terminate = signal(SignalKind::terminate())
            .map_err(|e| tracing::error!(error = %e, "cannot listen for SIGTERM"))
            .ok();
        Self {
            interrupt,
            terminate,
        }
    }

    /// Resolves when either arrives (never, if neither could be listened for).
    async fn recv(mut self) {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.interrupt) => tracing::info!("SIGINT received, shutting down"),
            () = next(&mut self.terminate) => tracing::info!("SIGTERM received, shutting down"),
        }
    }
}

/// Runs the daemon and its HTTP server until `shutdown` is cancelled: what `run` and `demo`
/// do.
///
/// The server runs on a runtime of its own (four worker threads): a sweep keeps the main
/// runtime's workers busy with hundreds of upstream requests and their parsing, and a scrape
/// queued behind them would wait for the sweep. With threads of its own, the server gets
/// its share of the cores from the kernel's scheduler instead. Four, not one per core: a
/// worker writing a large plain body (15 MiB at 10,000 profiles) into a socket holds its
/// thread for each write, and with two of them a gzip scrape arriving meanwhile waited
/// (8 scrapers at 10,000 profiles on 2 cores: gzip p99 23.9 ms with two workers, 10.3 ms
/// with four, 10.1 ms with eight; README, Serving and resources).
pub async fn run_with_server(
    daemon: Daemon,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = daemon.state();
    // TLS and auth from `server.web_config` (where `--web-config` was put); read at start.
    let web = crate::web_config::load_for(daemon.config())?;
    let mut options = crate::server::ServerOptions::with_web(web);
    options.writes = crate::server::writes::WritePolicy::of(&daemon.config().server);
    let server_shutdown = shutdown.clone();
    let listener = listener
        .into_std()
        .context("cannot hand the listening socket to the HTTP server")?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let stop = server_shutdown;
            let result = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .thread_name("http")
                .enable_all()
                .build()
                .context("cannot start the HTTP server's runtime")
                .and_then(|runtime| {
                    runtime.block_on(async move {
                        let listener = TcpListener::from_std(listener)
                            .context("cannot listen on the HTTP server's runtime")?;
                        crate::server::serve_with(listener, state, options, async move {
                            stop.cancelled().await
                        })
                        .await
                        .context("HTTP server failed")
                    })
                });
            let _ = done_tx.send(result);
        })
        .context("cannot start the HTTP server's thread")?;
    daemon.run(shutdown.clone()).await;
    // The server stops accepting at once; give open connections a moment to finish.
    match tokio::time::timeout(Duration::from_secs(5), done_rx).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(_)) => Err(anyhow::anyhow!("HTTP server thread panicked")),
        Err(_) => {
            tracing::warn!("HTTP connections still open after 5s; exiting anyway");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MI_OPTION_ARENA_EAGER_COMMIT, MI_OPTION_PURGE_DELAY};
    use libmimalloc_sys::mi_option_get;

    #[test]
    fn the_allocator_option_indices_name_the_options_meant() {
        // This test binary keeps the system allocator and never tunes mimalloc, so the
        // options read back are mimalloc's own defaults (its options.c): a wrong index
        // would read another option's.
        // SAFETY: mi_option_get only reads (and first initialises) the option table.
        let (eager, purge) = unsafe {
            (
                mi_option_get(MI_OPTION_ARENA_EAGER_COMMIT),
                mi_option_get(MI_OPTION_PURGE_DELAY),
            )
        };
        assert_eq!(
            eager, 2,
            "arena_eager_commit: 2 = eager on an overcommitting OS"
        );
        assert_eq!(purge, 1000, "purge_delay: 1000 ms");
    }
}

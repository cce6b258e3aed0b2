//! A thread of its own for the work a sweep leaves behind (rendering the per-profile
//! metrics): a few hundred milliseconds of CPU at 100,000 profiles that nobody waits on
//! within the millisecond, while a scrape is waited on by Prometheus and measured by its
//! p99. On Linux the thread runs at a lower scheduling priority ([`NICE`]), so that when
//! both want a core the HTTP server's threads and the sweep's requests get it first; on an
//! idle machine it runs as fast as before (README, Performance).

use std::sync::mpsc;

/// How much nicer than the daemon the background thread is (Linux `setpriority`, per
/// thread): at +10 the scheduler gives it about a tenth of a core that a thread at the
/// daemon's own priority also wants.
pub const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The background thread; it ends when this is dropped.
#[derive(Debug)]
pub struct Background {
    /// `None` when the thread could not be started: jobs then run on tokio's blocking pool.
    jobs: Option<mpsc::Sender<Job>>,
}

impl Background {
    /// Starts the thread, named `name`. If the system refuses a thread, says so once and
    /// runs jobs on tokio's blocking pool instead (at the daemon's priority).
    pub fn start(name: &str) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                lower_priority();
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        match spawned {
            Ok(_) => Self { jobs: Some(tx) },
            Err(e) => {
                tracing::warn!(thread = name, error = %e,
                    "cannot start a background thread; its work runs on the blocking pool");
                Self { jobs: None }
            }
        }
    }

    /// Runs `f` on the background thread and answers what it returns; a panic in `f`
    /// is resumed here, as `spawn_blocking` would. `None` only when the job was lost (the
    /// runtime shutting down under it).
    pub async fn run<T, F>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let Some(jobs) = &self.jobs else {
            return match tokio::task::spawn_blocking(f).await {
                Ok(v) => Some(v),
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_) => None,
                },
            };
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(outcome);
        });
        if jobs.send(job).is_err() {
            return None;
        }
        match rx.await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => None,
        }
    }
}

/// Makes the calling thread [`NICE`] steps nicer (Linux: `setpriority` on the thread's
/// own id affects that thread only). A refusal changes nothing but the priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority have no memory effects; setpriority on the
        // calling thread's id changes only that thread's nice value.
        let refused = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE) != 0
        };
        if refused {
            tracing::debug!(error = %std::io::Error::last_os_error(),
                "cannot lower the background thread's priority");
        }
    }
}

/// The calling thread's nice value (Linux), for tests.
#[cfg(all(test, target_os = "linux"))]
fn own_nice() -> i32 {
    // SAFETY: as above; getpriority only reads. errno is reset first because -1 is a valid
    // answer.
    unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_runs_on_the_named_thread_and_answers() {
        let bg = Background::start("bg-test");
        let name = bg
            .run(|| std::thread::current().name().map(str::to_string))
            .await;
        assert_eq!(name, Some(Some("bg-test".to_string())));
        assert_eq!(bg.run(|| 6 * 7).await, Some(42));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_thread_is_nicer_than_the_caller_and_the_caller_is_unchanged() {
        let before = own_nice();
        let bg = Background::start("bg-nice");
        let inside = bg.run(own_nice).await.expect("ran");
        assert_eq!(inside, (before + NICE).min(19), "background nice");
        assert_eq!(own_nice(), before, "the caller's priority is its own");
    }

    #[tokio::test]
    async fn a_panic_in_a_job_reaches_the_caller_and_the_thread_goes_on() {
        let bg = std::sync::Arc::new(Background::start("bg-panic"));
        let shared = bg.clone();
        let caught =
            tokio::spawn(async move { shared.run(|| -> u8 { panic!("boom") }).await }).await;
        assert!(caught.is_err(), "the panic is resumed in the caller");
        let name = bg
            .run(|| std::thread::current().name().map(str::to_string))
            .await;
        assert_eq!(
            name,
            Some(Some("bg-panic".to_string())),
            "the same thread takes the next job"
        );
    }
}

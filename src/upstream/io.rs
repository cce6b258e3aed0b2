//! The client's own I/O thread: a single-threaded tokio runtime that runs the list walk
//! and the detail fetches.
//!
//! Why a thread of its own: a sweep is thousands of small requests, each woken by one
//! answer. On the daemon's multi-threaded runtime the connection task and the sweep that
//! awaits it often sit on different workers, so most answers cost a cross-thread wake-up
//! (a futex and a context switch) on top of the socket work; measured with `perf` over a
//! 10,000-profile sweep, parking and waking workers was about a fifth of the client's CPU.
//! On one thread the answer, the connection and the sweep run back to back after a single
//! `epoll_wait`. It also keeps the sweep's HTTP work off the workers that answer scrapes.
//!
//! The work is handed over as a task and awaited; dropping the awaiting future aborts the
//! task, so cancelling a sweep still cancels its requests. The thread ends when the client
//! (the last clone) is dropped.

use std::future::Future;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// A single-threaded runtime on a dedicated thread.
pub(crate) struct IoThread {
    /// Where tasks are spawned.
    handle: tokio::runtime::Handle,
    /// Dropped with the client: the thread then drops its runtime (closing idle
    /// connections) and ends.
    _stop: oneshot::Sender<()>,
}

impl IoThread {
    /// Starts the thread.
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("upstream-io".to_string())
            .spawn(move || {
                // Runs every task spawned on `handle` until the client is gone; the runtime
                // is dropped here, on its own thread, outside any async context.
                runtime.block_on(async {
                    // An error only means the sender is gone: the same signal.
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// Runs `future` on the I/O thread, in the caller's tracing span, and waits for it.
    /// `None` when the thread is no longer running (the client is being torn down).
    /// A panic in `future` is resumed in the caller.
    pub(crate) async fn run<T, F>(&self, future: F) -> Option<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.spawn(future).join().await
    }

    /// Starts `future` on the I/O thread, in the caller's tracing span: for work that hands
    /// its results back as it goes (through a channel) rather than at its end. Dropping
    /// the returned task aborts it.
    pub(crate) fn spawn<T, F>(&self, future: F) -> Task<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        Task(AbortOnDrop(
            self.handle
                .spawn(future.instrument(tracing::Span::current())),
        ))
    }
}

/// Work started on the I/O thread ([`IoThread::spawn`]); aborted when dropped.
pub(crate) struct Task<T>(AbortOnDrop<T>);

impl<T> Task<T> {
    /// Waits for the work to end: `None` when the thread is no longer running. A panic in
    /// the work is resumed in the caller.
    pub(crate) async fn join(mut self) -> Option<T> {
        match (&mut self.0 .0).await {
            Ok(value) => Some(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }
}

/// Aborts the task when the future awaiting it is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        // Harmless when the task has finished.
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn io() -> IoThread {
        IoThread::start().unwrap_or_else(|e| panic!("cannot start the I/O thread: {e}"))
    }

    #[tokio::test]
    async fn work_runs_on_the_io_thread_and_comes_back() {
        let io = io();
        let name = io
            .run(async { std::thread::current().name().map(str::to_string) })
            .await;
        assert_eq!(name, Some(Some("upstream-io".to_string())));
    }

    #[tokio::test]
    async fn dropping_the_waiting_future_cancels_the_work() {
        let io = io();
        let finished = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let work = {
            let finished = finished.clone();
            let guard = SetOnDrop(dropped.clone());
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                finished.store(true, Ordering::SeqCst);
            }
        };
        let waited = tokio::time::timeout(Duration::from_millis(20), io.run(work)).await;
        assert!(waited.is_err(), "an hour-long task finished");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !dropped.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the task was never cancelled");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!finished.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_panic_reaches_the_caller() {
        let io = io();
        let caught = tokio::spawn(async move {
            io.run(async { panic!("boom") }).await;
        })
        .await;
        assert!(caught.is_err_and(|e| e.is_panic()));
    }
}

//! A high-resolution timer for the simulated latency.
//!
//! tokio's timer wheel has a granularity of one millisecond and rounds every sleep up, so
//! a request delayed by 20 ms with `tokio::time::sleep` is answered after 21 to 22 ms: a
//! sweep against the simulator would then look 5–10% slower than the latency asks, and
//! the benchmarks would measure the timer instead of the monitor. This timer instead keeps
//! the deadlines in one ordered map served by a dedicated thread that sleeps on a
//! `Condvar` with a timeout (a futex wait on `CLOCK_MONOTONIC`, accurate to tens of
//! microseconds) and completes a oneshot channel per deadline. It never spins: the thread
//! is asleep except when a deadline falls due or an earlier one arrives, so it leaves the
//! cores to the server and the client it simulates for.
//!
//! A [`Sleep`] that is dropped before its deadline (the client hung up, the request was
//! cancelled) takes its entry out of the map, so nothing outlives the request.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Where a deadline sits in the map: its instant, then the order of arrival, so that equal
/// deadlines are distinct and fire in the order they were asked for.
type Key = (Instant, u64);

/// Deadlines served by one dedicated thread.
pub(crate) struct Timer {
    /// What the thread and the sleeps share.
    shared: Arc<Shared>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

/// The state behind the lock, and the condition variable the thread sleeps on.
struct Shared {
    /// Pending deadlines and the shutdown flag.
    state: Mutex<State>,
    /// Signalled when a deadline earlier than every pending one arrives, and on shutdown.
    wake: Condvar,
}

/// Pending deadlines.
struct State {
    /// Deadline → the channel that completes its [`Sleep`].
    entries: BTreeMap<Key, oneshot::Sender<()>>,
    /// The next arrival number.
    next_seq: u64,
    /// Set when the [`Timer`] is dropped: the thread fires everything and ends.
    shutdown: bool,
}

/// Locks `m`, ignoring poisoning: the state is a map and a counter, consistent after any
/// panic between two statements.
fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Timer {
    /// A timer with its own thread.
    pub(crate) fn new() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                entries: BTreeMap::new(),
                next_seq: 0,
                shutdown: false,
            }),
            wake: Condvar::new(),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("simulator-timer".to_string())
            .spawn(move || worker.run())?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The process-wide timer every simulator shares (one thread, however many
    /// simulators), or `None` if its thread could not be started.
    pub(crate) fn global() -> Option<&'static Timer> {
        static GLOBAL: OnceLock<Option<Timer>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| match Timer::new() {
                Ok(timer) => Some(timer),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the simulator's timer thread; latency falls back to tokio's timer");
                    None
                }
            })
            .as_ref()
    }

    /// A future that completes at `deadline` (at once when it has passed).
    pub(crate) fn sleep_until(&self, deadline: Instant) -> Sleep {
        if deadline <= Instant::now() {
            return Sleep {
                inner: None,
                done: true,
            };
        }
        let (tx, rx) = oneshot::channel();
        let key = {
            let mut state = lock(&self.shared.state);
            let key = (deadline, state.next_seq);
            state.next_seq += 1;
            let earliest = match state.entries.first_key_value() {
                Some((first, _)) => key < *first,
                None => true,
            };
            state.entries.insert(key, tx);
            if earliest {
                // The thread sleeps until a later deadline (or without one): move it up.
                self.shared.wake.notify_one();
            }
            key
        };
        Sleep {
            inner: Some(Pending {
                shared: self.shared.clone(),
                key,
                rx,
            }),
            done: false,
        }
    }

    /// Deadlines waiting to fire (cancelled ones are not counted).
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        lock(&self.shared.state).entries.len()
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread already fired or dropped every sender; nothing to add.
            let _ = thread.join();
        }
    }
}

impl Shared {
    /// The thread's loop: fire what is due, sleep until the next deadline.
    fn run(&self) {
        let mut due: Vec<oneshot::Sender<()>> = Vec::new();
        let mut state = lock(&self.state);
        loop {
            let now = Instant::now();
            let shutdown = state.shutdown;
            while let Some(entry) = state.entries.first_entry() {
                if entry.key().0 > now && !shutdown {
                    break;
                }
                due.push(entry.remove());
            }
            if !due.is_empty() {
                // Woken outside the lock: waking a task may take a syscall, and new
                // deadlines should not wait for it.
                drop(state);
                for tx in due.drain(..) {
                    // A receiver gone since is a request that was dropped meanwhile.
                    let _ = tx.send(());
                }
                state = lock(&self.state);
                continue;
            }
            if state.shutdown {
                return;
            }
            state = match state.entries.first_key_value() {
                Some(((deadline, _), _)) => {
                    let wait = deadline.saturating_duration_since(now);
                    self.wake
                        .wait_timeout(state, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// Completes at its deadline; see [`Timer::sleep_until`].
#[must_use = "a sleep does nothing unless awaited"]
pub(crate) struct Sleep {
    /// The entry in the timer, until the deadline fired.
    inner: Option<Pending>,
    /// True once the deadline fired (or had passed when asked).
    done: bool,
}

/// A deadline registered with the timer.
struct Pending {
    /// The timer's state, to take the entry out if the sleep is dropped early.
    shared: Arc<Shared>,
    /// The entry's key.
    key: Key,
    /// Completed by the timer thread.
    rx: oneshot::Receiver<()>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let Some(pending) = self.inner.as_mut() else {
            return Poll::Ready(());
        };
        match Pin::new(&mut pending.rx).poll(cx) {
            // Sent, or the sender dropped by a timer shutting down: either way, done.
            Poll::Ready(_) => {
                self.done = true;
                self.inner = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(pending) = self.inner.take() {
            // Cancelled: the entry goes now, not at its deadline. Already fired is fine
            // too (the key is simply absent).
            lock(&pending.shared.state).entries.remove(&pending.key);
        }
    }
}

/// Waits `delay` from `since` (a request's arrival): on the shared high-resolution timer,
/// or on tokio's timer if that could not be started.
pub(crate) async fn sleep_from(since: Instant, delay: Duration) {
    let deadline = since + delay;
    match Timer::global() {
        Some(timer) => timer.sleep_until(deadline).await,
        None => tokio::time::sleep_until(deadline.into()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer of its own for one test, so tests do not share a thread.
    fn timer() -> Timer {
        Timer::new().expect("the timer thread starts")
    }

    #[tokio::test]
    async fn a_sleep_never_ends_before_its_deadline() {
        let timer = timer();
        for micros in [1, 300, 2_500, 20_000] {
            let start = Instant::now();
            let deadline = start + Duration::from_micros(micros);
            timer.sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "{micros} µs ended early");
        }
        assert_eq!(timer.pending(), 0);
    }

    #[tokio::test]
    async fn a_deadline_in_the_past_completes_at_once() {
        let timer = timer();
        let past = Instant::now() - Duration::from_millis(5);
        timer.sleep_until(past).await;
        assert_eq!(timer.pending(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn deadlines_fire_in_order_whatever_the_order_they_were_asked_in() {
        let timer = timer();
        let base = Instant::now() + Duration::from_millis(20);
        // Asked in a scrambled order, 1 ms apart. On a current-thread runtime the tasks
        // run in the order they are woken, and the thread wakes them in deadline order
        // (even when several fall due in one batch), so completion order is deadline order.
        let offsets = [7u64, 2, 9, 0, 5, 3, 8, 1, 6, 4];
        let fired = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for offset in offsets {
            let deadline = base + Duration::from_millis(offset);
            let sleep = timer.sleep_until(deadline);
            let fired = fired.clone();
            tasks.push(tokio::spawn(async move {
                sleep.await;
                let early = Instant::now() < deadline;
                fired
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((offset, early));
            }));
        }
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let fired = fired.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let order: Vec<u64> = fired.iter().map(|(offset, _)| *offset).collect();
        assert_eq!(order, (0..10).collect::<Vec<u64>>());
        assert!(fired.iter().all(|(_, early)| !early), "{fired:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_waits_all_complete_after_their_deadlines() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let timer = Arc::new(timer());
        let start = Instant::now();
        let early = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..2_000u64 {
            let deadline = start + Duration::from_micros(5_000 + (i * 7_919) % 30_000);
            let sleep = timer.sleep_until(deadline);
            let early = early.clone();
            tasks.push(tokio::spawn(async move {
                sleep.await;
                if Instant::now() < deadline {
                    early.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(early.load(Ordering::Relaxed), 0);
        assert_eq!(timer.pending(), 0);
    }

    #[tokio::test]
    async fn a_dropped_sleep_leaves_the_timer_at_once() {
        let timer = timer();
        let far = Instant::now() + Duration::from_secs(3600);
        let kept = timer.sleep_until(far);
        let dropped = timer.sleep_until(far);
        assert_eq!(timer.pending(), 2);
        drop(dropped);
        assert_eq!(timer.pending(), 1);

        // Cancelled while being awaited, as when a client hangs up mid-request.
        let waiting = tokio::spawn(timer.sleep_until(far));
        tokio::task::yield_now().await;
        waiting.abort();
        assert!(waiting.await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(timer.pending(), 1);
        drop(kept);
        assert_eq!(timer.pending(), 0);

        // The timer still works after cancellations.
        let soon = Instant::now() + Duration::from_millis(2);
        timer.sleep_until(soon).await;
        assert!(Instant::now() >= soon);
    }

    #[tokio::test]
    async fn an_earlier_deadline_wakes_a_thread_asleep_on_a_later_one() {
        let timer = timer();
        let _late = timer.sleep_until(Instant::now() + Duration::from_secs(3600));
        // Give the thread time to go to sleep on the hour-long wait.
        let settle = Instant::now() + Duration::from_millis(20);
        while Instant::now() < settle {
            tokio::task::yield_now().await;
        }
        let soon = Instant::now() + Duration::from_millis(5);
        let finished = tokio::time::timeout(Duration::from_secs(30), timer.sleep_until(soon)).await;
        assert!(finished.is_ok(), "the earlier deadline was never served");
        assert!(Instant::now() >= soon);
    }

    #[tokio::test]
    async fn dropping_the_timer_completes_the_sleeps_still_waiting() {
        let timer = timer();
        let sleep = timer.sleep_until(Instant::now() + Duration::from_secs(3600));
        drop(timer);
        let finished = tokio::time::timeout(Duration::from_secs(30), sleep).await;
        assert!(finished.is_ok());
    }
}

//! The webhook sink: the test kit's recording HTTP server, scripted to be up (with a few
//! 500s and 429s), to refuse connections, or to answer every request 500 or 429.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use inventory_monitor_testkit::sink::{Reply, Sink as KitSink};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{lock, SINK_FLAKY_RATE};

/// How the sink answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SinkMode {
    /// 200 (5% 500 and 5% 429 while flaky).
    Up,
    /// Nothing listens.
    Refused,
    /// Every request gets 500.
    Error500,
    /// Every request gets 429 with this `Retry-After` in seconds.
    Throttle(u64),
}

/// A request the sink answered 200.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// When the sink took it.
    pub(crate) at: SystemTime,
    /// The payload.
    pub(crate) body: Vec<u8>,
}

/// The sink's answers: 200s, 500s, 429s and requests cut off unanswered.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Answers {
    /// Answered 200.
    pub(crate) ok: u64,
    /// Answered 500.
    pub(crate) error_500: u64,
    /// Answered 429.
    pub(crate) throttled: u64,
    /// Read but cut off unanswered (accepted just before an outage).
    pub(crate) cut: u64,
}

/// A receiver on a fixed loopback port that can refuse connections, fail or throttle.
/// Every answer closes the connection, so "refused" really is refused for the next request.
pub(crate) struct Sink {
    /// The kit's recording server.
    kit: KitSink,
    /// How requests are answered now (read by the kit's responder).
    mode: Arc<Mutex<SinkMode>>,
    /// While up, whether some requests get 500 or 429 anyway.
    flaky: Arc<AtomicBool>,
}

impl Sink {
    /// A sink, up and not flaky, whose flaky answers roll dice seeded from `seed`.
    pub(crate) async fn start(seed: u64) -> Sink {
        let kit = KitSink::start().await;
        let mut dice = ChaCha8Rng::seed_from_u64(seed);
        dice.set_stream(11);
        let dice = Mutex::new(dice);
        let mode = Arc::new(Mutex::new(SinkMode::Up));
        let flaky = Arc::new(AtomicBool::new(false));
        let (m, f) = (mode.clone(), flaky.clone());
        kit.respond_with(move |_| match *lock(&m) {
            SinkMode::Up => {
                let roll: f64 = if f.load(Ordering::Relaxed) {
                    lock(&dice).random()
                } else {
                    1.0
                };
                if roll < SINK_FLAKY_RATE {
                    Reply::status(500)
                } else if roll < 2.0 * SINK_FLAKY_RATE {
                    Reply::status(429).header("Retry-After", 1)
                } else {
                    Reply::ok()
                }
            }
            SinkMode::Error500 => Reply::status(500),
            SinkMode::Throttle(after) => Reply::status(429).header("Retry-After", after),
            // Accepted just before the listener closed: cut the connection.
            SinkMode::Refused => Reply::drop_connection(),
        });
        Sink { kit, mode, flaky }
    }

    /// The webhook's URL.
    pub(crate) fn url(&self) -> String {
        self.kit.url("/hook")
    }

    /// Turns the occasional 500s and 429s while up on or off.
    pub(crate) fn set_flaky(&self, on: bool) {
        self.flaky.store(on, Ordering::Relaxed);
    }

    /// How it answers now.
    pub(crate) fn mode(&self) -> SinkMode {
        *lock(&self.mode)
    }

    /// Answers as `mode` says from now on; `Refused` closes the port, anything else opens
    /// it again (the same port).
    pub(crate) async fn set_mode(&mut self, mode: SinkMode) {
        *lock(&self.mode) = mode;
        if mode == SinkMode::Refused {
            if self.kit.is_up() {
                self.kit.go_down().await;
            }
        } else if !self.kit.is_up() {
            self.kit.come_back().await;
        }
    }

    /// Every request answered 200, in arrival order.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.kit
            .delivered()
            .into_iter()
            .map(|r| Delivery {
                at: r.wall,
                body: r.body,
            })
            .collect()
    }

    /// How many requests were answered 200.
    pub(crate) fn delivered(&self) -> usize {
        self.kit.delivered().len()
    }

    /// How every request so far was answered.
    pub(crate) fn answers(&self) -> Answers {
        let mut a = Answers::default();
        for r in self.kit.received() {
            match r.answered {
                Some(200) => a.ok += 1,
                Some(429) => a.throttled += 1,
                Some(_) => a.error_500 += 1,
                None => a.cut += 1,
            }
        }
        a
    }
}

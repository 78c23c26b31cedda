//! The state every service of one `AdaptiveLimit` shares: the published
//! limit, the in-flight counter, the current sample window, and the
//! [`Permit`] a request holds while it runs.

use super::algorithm::{Estimator, WindowSample};
use super::telemetry::AdaptiveTelemetry;
use crate::slots::Slots;
use palisade_core::Outcome;
use palisade_core::lane::{Lane, Lanes, Padded};
use std::{
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

/// Bits of the packed window counter that hold the sum of RTTs in
/// microseconds (the rest hold the sample count).
const SUM_BITS: u32 = 40;
const SUM_MASK: u64 = (1 << SUM_BITS) - 1;
/// Samples a window may hold before it closes regardless of its age (at
/// more than 65 535 requests per window, windows close early).
const MAX_WINDOW_SAMPLES: u64 = (1 << 16) - 1;
/// One RTT adds at most this to the sum (about 8.4 s), so the 40-bit sum
/// holds [`MAX_WINDOW_SAMPLES`] of them with room to spare.
const MAX_RTT_MICROS: u64 = 1 << 23;

/// Window settings, validated by the builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowConfig {
    pub(crate) window: Duration,
    pub(crate) min_samples: u64,
    pub(crate) min_rtt: Duration,
}

/// What every service made from one `AdaptiveLimit` shares.
pub(crate) struct Shared<C> {
    pub(crate) name: Arc<str>,
    pub(crate) algorithm: &'static str,
    pub(crate) retry_after: Duration,
    pub(crate) classify: C,
    pub(crate) telemetry: AdaptiveTelemetry,
    window_cfg: WindowConfig,
    /// The instant window times are counted from.
    base: Instant,
    /// The published limit, read by every admission.
    limit: Padded<AtomicUsize>,
    /// Requests holding a slot (and rejections): written by every admission
    /// and completion.
    pub(crate) slots: Slots,
    /// The open window, written by every completion.
    window: Padded<Window>,
    /// The algorithm; locked (with `try_lock`) once per window, by the one
    /// completion that closes it.
    estimator: Mutex<Estimator>,
}

#[derive(Debug)]
struct Window {
    /// Sample count (high 24 bits) and sum of RTTs in µs (low 40 bits).
    packed: AtomicU64,
    max_in_flight: AtomicUsize,
    dropped: AtomicBool,
    /// When the window may close, in ns since `base`.
    closes_at: AtomicU64,
}

impl<C> Shared<C> {
    pub(crate) fn new(
        name: Arc<str>,
        estimator: Estimator,
        window_cfg: WindowConfig,
        retry_after: Duration,
        classify: C,
        algorithm: &'static str,
    ) -> Self {
        let limit = estimator.limit();
        Self {
            telemetry: AdaptiveTelemetry::new(&name, algorithm, limit),
            name,
            algorithm,
            retry_after,
            classify,
            base: Instant::now(),
            limit: Padded(AtomicUsize::new(limit)),
            slots: Slots::default(),
            window: Padded(Window {
                packed: AtomicU64::new(0),
                max_in_flight: AtomicUsize::new(0),
                dropped: AtomicBool::new(false),
                closes_at: AtomicU64::new(nanos(window_cfg.window)),
            }),
            window_cfg,
            estimator: Mutex::new(estimator),
        }
    }

    /// The limit in force.
    #[inline]
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Requests holding a slot right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.in_flight()
    }

    /// Records one finished request of `rtt` that started with `in_flight`
    /// requests running (itself included); closes the window when it is due.
    fn record(&self, now: Instant, rtt: Duration, in_flight: usize, dropped: bool) {
        if rtt < self.window_cfg.min_rtt {
            return;
        }
        let w = &self.window;
        let micros = (rtt.as_micros() as u64).min(MAX_RTT_MICROS);
        let packed = w
            .packed
            .fetch_add((1 << SUM_BITS) | micros, Ordering::Relaxed)
            + ((1 << SUM_BITS) | micros);
        if in_flight > w.max_in_flight.load(Ordering::Relaxed) {
            w.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        }
        if dropped {
            w.dropped.store(true, Ordering::Relaxed);
        }
        let count = packed >> SUM_BITS;
        let elapsed = nanos(now.saturating_duration_since(self.base));
        // A window closes once it is old enough *and* holds enough samples:
        // a window that is short of samples keeps collecting instead of being
        // thrown away, so a low limit under light traffic still gets updated
        // (it cannot be stuck for want of samples).
        let due =
            elapsed >= w.closes_at.load(Ordering::Relaxed) && count >= self.window_cfg.min_samples;
        if due || count >= MAX_WINDOW_SAMPLES {
            self.close_window(elapsed);
        }
    }

    #[cold]
    fn close_window(&self, elapsed: u64) {
        // Only one completion closes a window; the others carry on.
        let Ok(mut estimator) = self.estimator.try_lock() else {
            return;
        };
        let w = &self.window;
        let packed = w.packed.swap(0, Ordering::Relaxed);
        let count = packed >> SUM_BITS;
        if count == 0 {
            // Closed by another completion just before us.
            return;
        }
        let sample = WindowSample {
            rtt_nanos: (packed & SUM_MASK) as f64 * 1000.0 / count as f64,
            max_in_flight: w.max_in_flight.swap(0, Ordering::Relaxed),
            did_drop: w.dropped.swap(false, Ordering::Relaxed),
        };
        w.closes_at
            .store(elapsed + nanos(self.window_cfg.window), Ordering::Relaxed);
        let before = self.limit.load(Ordering::Relaxed);
        let after = estimator.update(sample);
        drop(estimator);
        self.limit.store(after, Ordering::Relaxed);
        self.telemetry.window(
            before,
            after,
            sample.rtt_nanos,
            sample.max_in_flight,
            sample.did_drop,
        );
    }
}

impl<C> fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Takes a slot if fewer than the published limit are taken: one load of
/// the limit and one compare-and-swap on the in-flight counter, no lock.
/// Returns the in-flight count including the new request.
#[inline]
pub(crate) fn try_acquire<C>(shared: &Shared<C>) -> Option<usize> {
    let in_flight = shared.slots.try_acquire(|| shared.limit())?;
    shared.telemetry.acquired();
    Some(in_flight)
}

/// A slot of an [`AdaptiveLimit`](super::AdaptiveLimit), held by a running
/// request: given back when the request finishes (recording its sample) or
/// when it is dropped (recording a drop if the request's deadline had
/// passed).
pub(crate) struct Permit<C> {
    shared: Lane<Shared<C>>,
    started: Instant,
    in_flight: usize,
    /// The request's deadline, read from the ambient deadline on first poll.
    deadline: Option<Instant>,
    finished: bool,
}

impl<C> Permit<C> {
    /// A permit for a slot just taken by [`try_acquire`].
    #[inline]
    pub(crate) fn new(lanes: &Lanes<Shared<C>>, in_flight: usize) -> Self {
        Self {
            shared: lanes.current().clone(),
            started: Instant::now(),
            in_flight,
            deadline: None,
            finished: false,
        }
    }

    pub(crate) fn shared(&self) -> &Shared<C> {
        &self.shared
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The request finished with `outcome`.
    #[inline]
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        let dropped = match outcome {
            Outcome::Success => false,
            Outcome::Failure => true,
            Outcome::Ignored => return,
        };
        let now = Instant::now();
        let dropped = dropped || self.deadline.is_some_and(|d| d <= now);
        self.shared.record(
            now,
            now.saturating_duration_since(self.started),
            self.in_flight,
            dropped,
        );
    }
}

impl<C> Drop for Permit<C> {
    #[inline]
    fn drop(&mut self) {
        if !self.finished {
            // Dropped unfinished: a drop if its deadline has passed (the
            // timeout gave up on it), otherwise the caller went away and the
            // request says nothing about the service.
            if let Some(deadline) = self.deadline {
                let now = Instant::now();
                if deadline <= now {
                    self.shared.record(
                        now,
                        now.saturating_duration_since(self.started),
                        self.in_flight,
                        true,
                    );
                }
            }
        }
        self.shared.slots.release();
        self.shared.telemetry.released();
    }
}

impl<C> fmt::Debug for Permit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("limit", &self.shared.name)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

//! Sharded `hdrhistogram` recorders, one set per route × method × class.
//!
//! Each slot has one small recorder per shard. A thread always writes to the
//! same shard (a thread index assigned on first use), under a
//! `std::sync::Mutex` held for two histogram increments — threads on
//! different shards never touch the same lock. Readers merge the shards when
//! a snapshot is taken.
//!
//! Windows: a shard records into the window (epoch) it last saw. When a
//! record or a snapshot finds the shard's epoch behind the current one, the
//! shard's data is *retired*: added to the slot's cumulative histograms and,
//! when it belongs to the window just before the current one, to the
//! "previous window" histograms. So the windowed view (previous + current
//! window) rotates without losing anything from the cumulative one.
//!
//! Memory: every histogram spans 1 µs to 1 h at two significant digits
//! (1% relative error), 3,328 `u64` counters = 26 KiB. A slot holds two per
//! shard in use (time to head, time to end) and four retired ones, so at most
//! `(2 × shards + 4) × 26 KiB`.

use std::{
    sync::{
        Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;
use palisade_core::lane::Padded;

use crate::{status_class::StatusClass, telemetry::SlotMetrics};

/// Highest recorded value, in microseconds (one hour); longer durations are
/// recorded as one hour.
pub(crate) const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by every histogram.
pub(crate) const SIGFIG: u8 = 2;

/// A fresh, empty histogram of the crate's fixed shape.
pub(crate) fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this never fails.
    Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG)
        .unwrap_or_else(|e| unreachable!("constant histogram bounds are valid: {e}"))
}

/// A duration as whole microseconds, clamped to the histogram's range.
#[inline]
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(HIGHEST_US)
}

/// What one set of recorders holds.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Time to the response head, µs.
    pub(crate) head: Histogram<u64>,
    /// Time to the end of the response (body included), µs.
    pub(crate) total: Histogram<u64>,
    pub(crate) aborted: u64,
    pub(crate) blocking_polls: u64,
    pub(crate) slow: u64,
}

impl Recorded {
    pub(crate) fn new() -> Self {
        Self {
            head: new_histogram(),
            total: new_histogram(),
            aborted: 0,
            blocking_polls: 0,
            slow: 0,
        }
    }

    #[inline]
    fn record(&mut self, r: &Record) {
        self.head.saturating_record(r.head_us);
        self.total.saturating_record(r.total_us);
        self.aborted += u64::from(r.aborted);
        self.blocking_polls += u64::from(r.blocking_polls);
        self.slow += u64::from(r.slow);
    }

    pub(crate) fn add(&mut self, other: &Recorded) {
        // Same bounds on both sides: `add` cannot fail.
        let _ = self.head.add(&other.head);
        let _ = self.total.add(&other.total);
        self.aborted += other.aborted;
        self.blocking_polls += other.blocking_polls;
        self.slow += other.slow;
    }

    fn reset(&mut self) {
        self.head.reset();
        self.total.reset();
        self.aborted = 0;
        self.blocking_polls = 0;
        self.slow = 0;
    }

    pub(crate) fn count(&self) -> u64 {
        self.total.len()
    }
}

/// One finished request, as recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) head_us: u64,
    pub(crate) total_us: u64,
    pub(crate) aborted: bool,
    pub(crate) slow: bool,
    pub(crate) blocking_polls: u32,
}

#[derive(Debug)]
struct Shard {
    epoch: u64,
    current: Recorded,
}

#[derive(Debug)]
struct Retired {
    cumulative: Recorded,
    previous_epoch: Option<u64>,
    previous: Recorded,
}

/// One shard's recorders, created on first use, on a cache line of its own
/// (`palisade-core`'s [`Padded`], so threads writing to neighbouring shards
/// do not invalidate each other's line).
type ShardCell = Padded<Mutex<Option<Box<Shard>>>>;

/// The recorders of one route × method × class.
pub(crate) struct Slot {
    shards: Box<[ShardCell]>,
    retired: Mutex<Option<Box<Retired>>>,
    pub(crate) metrics: SlotMetrics,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("shards", &self.shards.len())
            .finish()
    }
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_INDEX: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// This thread's shard among `shards`.
#[inline]
pub(crate) fn shard_index(shards: usize) -> usize {
    THREAD_INDEX.with(|i| *i) % shards
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a snapshot reads from one slot.
#[derive(Debug)]
pub(crate) struct SlotView {
    pub(crate) cumulative: Recorded,
    pub(crate) window: Recorded,
}

impl Slot {
    pub(crate) fn new(
        shards: usize,
        tracker: &str,
        route: &str,
        method: &'static str,
        class: StatusClass,
    ) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| Padded(Mutex::new(None)))
                .collect(),
            retired: Mutex::new(None),
            metrics: SlotMetrics::new(tracker, route, method, class),
        }
    }

    /// Records one request finished in window `epoch`.
    #[inline]
    pub(crate) fn record(&self, epoch: u64, r: &Record) {
        self.record_in(shard_index(self.shards.len()), epoch, r);
    }

    /// Records into shard `idx` (the thread's shard, or a chosen one in tests).
    #[inline]
    fn record_in(&self, idx: usize, epoch: u64, r: &Record) {
        let mut guard = lock(&self.shards[idx % self.shards.len()]);
        let shard = guard.get_or_insert_with(|| {
            Box::new(Shard {
                epoch,
                current: Recorded::new(),
            })
        });
        if epoch > shard.epoch {
            self.retire(shard, epoch);
        }
        shard.current.record(r);
    }

    /// Moves a shard's data out of its ended window (lock order: shard, then retired).
    #[cold]
    fn retire(&self, shard: &mut Shard, now_epoch: u64) {
        {
            let mut guard = lock(&self.retired);
            let retired = guard.get_or_insert_with(|| {
                Box::new(Retired {
                    cumulative: Recorded::new(),
                    previous_epoch: None,
                    previous: Recorded::new(),
                })
            });
            retired.cumulative.add(&shard.current);
            if shard.epoch + 1 == now_epoch {
                match retired.previous_epoch {
                    Some(e) if e == shard.epoch => retired.previous.add(&shard.current),
                    Some(e) if e > shard.epoch => {}
                    _ => {
                        retired.previous.reset();
                        retired.previous.add(&shard.current);
                        retired.previous_epoch = Some(shard.epoch);
                    }
                }
            }
        }
        shard.current.reset();
        shard.epoch = now_epoch;
    }

    /// Merges every shard: cumulative, and the window made of `epoch - 1` and `epoch`.
    pub(crate) fn view(&self, epoch: u64) -> SlotView {
        let mut cumulative = Recorded::new();
        let mut window = Recorded::new();
        for shard in &self.shards {
            let mut guard = lock(shard);
            if let Some(shard) = guard.as_deref_mut() {
                if epoch > shard.epoch {
                    self.retire(shard, epoch);
                }
                cumulative.add(&shard.current);
                window.add(&shard.current);
            }
        }
        if let Some(retired) = lock(&self.retired).as_deref() {
            cumulative.add(&retired.cumulative);
            if epoch > 0 && retired.previous_epoch == Some(epoch - 1) {
                window.add(&retired.previous);
            }
        }
        SlotView { cumulative, window }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(us: u64) -> Record {
        Record {
            head_us: us / 2,
            total_us: us,
            aborted: false,
            slow: false,
            blocking_polls: 0,
        }
    }

    fn slot() -> Slot {
        Slot::new(2, "t", "/r", "GET", StatusClass::Success)
    }

    #[test]
    fn windows_rotate_and_cumulative_keeps_everything() {
        let s = slot();
        s.record(0, &rec(100));
        s.record(0, &rec(200));
        let v = s.view(0);
        assert_eq!((v.cumulative.count(), v.window.count()), (2, 2));
        s.record(1, &rec(300));
        let v = s.view(1);
        assert_eq!((v.cumulative.count(), v.window.count()), (3, 3));
        // Epoch 0 has left the window; epoch 1 is now the previous one.
        let v = s.view(2);
        assert_eq!((v.cumulative.count(), v.window.count()), (3, 1));
        let v = s.view(5);
        assert_eq!((v.cumulative.count(), v.window.count()), (3, 0));
        s.record(5, &rec(400));
        let v = s.view(5);
        assert_eq!((v.cumulative.count(), v.window.count()), (4, 1));
        assert_eq!(
            v.cumulative.total.max(),
            v.cumulative.total.highest_equivalent(400)
        );
    }

    #[test]
    fn late_records_are_kept() {
        let s = slot();
        s.record(3, &rec(10));
        // A thread that read the clock before the rotation records an older epoch.
        s.record(2, &rec(10));
        assert_eq!(s.view(3).cumulative.count(), 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Random records on random shards, with the window advancing now and
        /// then, against a model that keeps the epoch of every record: the
        /// cumulative view has them all, the window those of the current and
        /// the previous epoch.
        #[test]
        fn rotation_matches_a_model(
            ops in proptest::collection::vec((0usize..3, 0u64..3, 1u64..100_000, proptest::bool::ANY), 1..120)
        ) {
            let s = Slot::new(3, "t", "/r", "GET", StatusClass::Success);
            let mut epoch = 0u64;
            let mut model: Vec<(u64, bool)> = Vec::new();
            for (shard, advance, us, check) in ops {
                // Advance sometimes (0 most often, to fill windows).
                if advance == 2 {
                    epoch += 1 + us % 2;
                }
                let r = Record { head_us: us, total_us: us, aborted: us % 3 == 0, slow: false, blocking_polls: 0 };
                s.record_in(shard, epoch, &r);
                model.push((epoch, r.aborted));
                if check {
                    let v = s.view(epoch);
                    let in_window = |e: u64| e + 1 >= epoch;
                    proptest::prop_assert_eq!(v.cumulative.count(), model.len() as u64);
                    proptest::prop_assert_eq!(
                        v.cumulative.aborted,
                        model.iter().filter(|(_, a)| *a).count() as u64
                    );
                    proptest::prop_assert_eq!(
                        v.window.count(),
                        model.iter().filter(|(e, _)| in_window(*e)).count() as u64
                    );
                    proptest::prop_assert_eq!(
                        v.window.aborted,
                        model.iter().filter(|(e, a)| *a && in_window(*e)).count() as u64
                    );
                }
            }
            let later = s.view(epoch + 2);
            proptest::prop_assert_eq!(later.cumulative.count(), model.len() as u64);
            proptest::prop_assert_eq!(later.window.count(), 0);
        }
    }

    #[test]
    fn clamps() {
        assert_eq!(micros(Duration::from_secs(100_000)), HIGHEST_US);
        assert_eq!(micros(Duration::from_nanos(1500)), 1);
        let mut r = Recorded::new();
        r.record(&rec(u64::MAX));
        assert_eq!(r.count(), 1);
    }
}

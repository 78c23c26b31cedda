//! The sliding windows of recorded outcomes.
//!
//! Both windows are tagged with the breaker's generation (bumped on every
//! transition): an outcome recorded with an older generation is dropped, and
//! resetting a window is storing a new generation.

use crate::lane::Padded;
use std::sync::{
    Mutex, PoisonError,
    atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering},
};

/// Outcome counts over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) total: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The largest count window (outcome counts are packed in 16-bit fields
/// with room to spare for concurrent writers).
pub(crate) const MAX_COUNT_WINDOW: usize = 10_000;

/// How many buckets a time window is split into.
pub(crate) const TIME_BUCKETS: u64 = 10;

#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// Records one outcome for generation `generation`; returns the window's
    /// counts after it, or `None` when the generation is stale.
    #[inline]
    pub(crate) fn record(
        &self,
        generation: u32,
        failure: bool,
        slow: bool,
        now: impl FnOnce() -> u64,
    ) -> Option<Counts> {
        match self {
            Window::Count(w) => w.record(generation, failure, slow),
            Window::Time(w) => w.record(generation, failure, slow, now()),
        }
    }

    pub(crate) fn counts(&self, generation: u32, now: u64) -> Counts {
        match self {
            Window::Count(w) => w.counts(generation),
            Window::Time(w) => w.counts(generation, now),
        }
    }

    /// Empties the window and moves it to `generation`. Called under the
    /// breaker's transition lock, before the new state is published.
    pub(crate) fn reset(&self, generation: u32) {
        match self {
            Window::Count(w) => w.reset(generation),
            Window::Time(w) => w.reset(generation),
        }
    }
}

// Count window: a ring of outcome slots plus one packed counter word.
//
// counts word: [gen:16][total:16][failures:16][slow:16], every count biased by
// BIAS so that concurrent (add, evict) pairs landing in either order never
// carry or borrow across fields; one `fetch_add` of a precomputed delta
// updates all three counts.
// slot: [gen:16][flags:16], flags = PRESENT | FAILURE | SLOW.

const BIAS: u64 = 0x8000;
const PRESENT: u32 = 0b100;
const FAILURE: u32 = 0b001;
const SLOW: u32 = 0b010;

#[inline]
fn gen16(generation: u32) -> u64 {
    u64::from(generation & 0xFFFF)
}

#[inline]
fn pack_counts(generation: u32) -> u64 {
    (gen16(generation) << 48) | (BIAS << 32) | (BIAS << 16) | BIAS
}

#[inline]
fn delta(flags: u32) -> u64 {
    (1 << 32) | (u64::from(flags & FAILURE) << 16) | u64::from((flags & SLOW) >> 1)
}

#[inline]
fn field(word: u64, shift: u32) -> u64 {
    ((word >> shift) & 0xFFFF).saturating_sub(BIAS)
}

#[inline]
fn decode(word: u64) -> Counts {
    Counts {
        total: field(word, 32),
        failures: field(word, 16),
        slow: field(word, 0),
    }
}

/// The last `N` recorded outcomes: a ring of slots and packed counters.
#[derive(Debug)]
pub(crate) struct CountWindow {
    slots: Box<[AtomicU32]>,
    /// The counts word of a full window of plain successes, generation
    /// bits cleared: recording one more success changes nothing.
    clean_full: u64,
    /// Written by every call that changes the window: on lines of their own,
    /// away from the breaker's read-mostly state word.
    ring: Padded<Ring>,
}

#[derive(Debug)]
struct Ring {
    head: AtomicUsize,
    counts: AtomicU64,
}

const GEN_MASK: u64 = 0xFFFF << 48;

impl CountWindow {
    pub(crate) fn new(size: usize) -> Self {
        // `size` is at most MAX_COUNT_WINDOW.
        let n = u64::try_from(size).unwrap_or(0);
        Self {
            slots: (0..size).map(|_| AtomicU32::new(0)).collect(),
            clean_full: pack_counts(0) + (n << 32),
            ring: Padded(Ring {
                head: AtomicUsize::new(0),
                counts: AtomicU64::new(pack_counts(0)),
            }),
        }
    }

    /// Whether the window of `generation` is full of plain successes, so
    /// that recording one more changes nothing.
    #[inline]
    pub(crate) fn unchanged_by_success(&self, generation: u32) -> bool {
        self.ring.counts.load(Ordering::Acquire) == self.clean_full | (gen16(generation) << 48)
    }

    #[inline]
    fn record(&self, generation: u32, failure: bool, slow: bool) -> Option<Counts> {
        let g = gen16(generation);
        let word = self.ring.counts.load(Ordering::Acquire);
        if word >> 48 != g {
            return None;
        }
        if !failure && !slow && word & !GEN_MASK == self.clean_full {
            // A full window of successes, one more success: the window is
            // the same whichever slot it goes to, so nothing is written (and
            // nothing is shared between threads while a service is healthy).
            return Some(decode(word));
        }
        self.record_slot(g, failure, slow)
    }

    #[inline(never)]
    fn record_slot(&self, g: u64, failure: bool, slow: bool) -> Option<Counts> {
        let flags = PRESENT | (u32::from(failure) * FAILURE) | (u32::from(slow) * SLOW);
        // `g` fits in 16 bits.
        let tag = u32::try_from(g).unwrap_or(0) << 16;
        let entry = tag | flags;
        let pos = self.ring.head.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[pos];
        // Overwriting an entry with an equal one changes nothing: skip the
        // write (as if this swap had happened just before any concurrent one).
        let old = if slot.load(Ordering::Acquire) == entry {
            entry
        } else {
            slot.swap(entry, Ordering::AcqRel)
        };
        let new_delta = delta(flags);
        let old_live = old & PRESENT != 0;
        let old_gen = u64::from(old >> 16);
        let old_delta = delta(old);
        let mut d = new_delta;
        if old_live && old_gen == g {
            d = d.wrapping_sub(old_delta);
        }
        if d == 0 {
            let word = self.ring.counts.load(Ordering::Acquire);
            return (word >> 48 == g).then(|| decode(word));
        }
        let prev = self.ring.counts.fetch_add(d, Ordering::AcqRel);
        let now_gen = prev >> 48;
        if now_gen != g {
            // A reset raced us. For the new generation, our entry does not
            // count and the evicted one counts only if it carries its tag:
            // turn the delta we applied into the right one.
            let mut fix = 0u64.wrapping_sub(d);
            if old_live && old_gen == now_gen {
                fix = fix.wrapping_sub(old_delta);
            }
            self.ring.counts.fetch_add(fix, Ordering::AcqRel);
            return None;
        }
        Some(decode(prev.wrapping_add(d)))
    }

    fn counts(&self, generation: u32) -> Counts {
        let word = self.ring.counts.load(Ordering::Acquire);
        if word >> 48 == gen16(generation) {
            decode(word)
        } else {
            Counts::default()
        }
    }

    fn reset(&self, generation: u32) {
        // Clear the ring first (entries of the old generation written
        // meanwhile are ignored by tag), then publish the new generation.
        for slot in &*self.slots {
            slot.store(0, Ordering::Relaxed);
        }
        self.ring
            .counts
            .store(pack_counts(generation), Ordering::Release);
    }
}

/// Outcomes of the last `window` of time, in `TIME_BUCKETS` buckets that
/// expire one at a time. Updates and expiry are O(1) (amortised) under a
/// mutex held for a few instructions.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    ring: Mutex<TimeRing>,
}

#[derive(Debug)]
struct TimeRing {
    generation: u32,
    head: u64,
    buckets: [Counts; TIME_BUCKETS as usize],
    sum: Counts,
}

impl TimeRing {
    /// Moves the newest period to `period`, expiring the buckets that fall out.
    fn advance(&mut self, period: u64) {
        if period <= self.head {
            return;
        }
        if period - self.head >= TIME_BUCKETS {
            self.buckets = [Counts::default(); TIME_BUCKETS as usize];
            self.sum = Counts::default();
        } else {
            for p in self.head + 1..=period {
                let b = &mut self.buckets[bucket_index(p)];
                self.sum.total -= b.total;
                self.sum.failures -= b.failures;
                self.sum.slow -= b.slow;
                *b = Counts::default();
            }
        }
        self.head = period;
    }
}

#[inline]
fn bucket_index(period: u64) -> usize {
    // TIME_BUCKETS is small: the remainder always fits.
    usize::try_from(period % TIME_BUCKETS).unwrap_or(0)
}

impl TimeWindow {
    pub(crate) fn new(window_nanos: u64) -> Self {
        Self {
            bucket_nanos: (window_nanos / TIME_BUCKETS).max(1),
            ring: Mutex::new(TimeRing {
                generation: 0,
                head: 0,
                buckets: [Counts::default(); TIME_BUCKETS as usize],
                sum: Counts::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TimeRing> {
        // The ring is left consistent at every instruction that may panic
        // (none do), so a poisoned lock is still good.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, generation: u32, failure: bool, slow: bool, now: u64) -> Option<Counts> {
        let period = now / self.bucket_nanos;
        let mut ring = self.lock();
        if ring.generation != generation {
            return None;
        }
        ring.advance(period);
        // A writer whose clock read lagged a concurrent one lands in the
        // newest bucket if its own has already expired.
        let period = if ring.head - period >= TIME_BUCKETS {
            ring.head
        } else {
            period
        };
        let b = &mut ring.buckets[bucket_index(period)];
        b.total += 1;
        b.failures += u64::from(failure);
        b.slow += u64::from(slow);
        ring.sum.total += 1;
        ring.sum.failures += u64::from(failure);
        ring.sum.slow += u64::from(slow);
        Some(ring.sum)
    }

    fn counts(&self, generation: u32, now: u64) -> Counts {
        let mut ring = self.lock();
        if ring.generation != generation {
            return Counts::default();
        }
        ring.advance(now / self.bucket_nanos);
        ring.sum
    }

    fn reset(&self, generation: u32) {
        let mut ring = self.lock();
        ring.generation = generation;
        ring.buckets = [Counts::default(); TIME_BUCKETS as usize];
        ring.sum = Counts::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_slides() {
        let w = CountWindow::new(4);
        for _ in 0..4 {
            w.record(0, true, false);
        }
        assert_eq!(w.counts(0).failures, 4);
        let c = w.record(0, false, true).unwrap();
        assert_eq!(
            c,
            Counts {
                total: 4,
                failures: 3,
                slow: 1
            }
        );
        for _ in 0..3 {
            w.record(0, false, false);
        }
        assert_eq!(
            w.counts(0),
            Counts {
                total: 4,
                failures: 0,
                slow: 1
            }
        );
    }

    #[test]
    fn count_window_full_of_successes_writes_nothing_and_still_slides() {
        let w = CountWindow::new(4);
        for _ in 0..4 {
            w.record(0, false, false);
        }
        assert!(w.unchanged_by_success(0));
        assert!(!w.unchanged_by_success(1));
        let head = w.ring.head.load(Ordering::Relaxed);
        for _ in 0..10 {
            assert_eq!(w.record(0, false, false).unwrap().total, 4);
        }
        // Nothing moved: every slot holds the same success.
        assert_eq!(w.ring.head.load(Ordering::Relaxed), head);
        // The window still holds the last 4 outcomes as they come.
        w.record(0, true, false);
        let c = w.record(0, true, true).unwrap();
        assert_eq!((c.total, c.failures, c.slow), (4, 2, 1));
        assert!(!w.unchanged_by_success(0));
        w.record(0, false, false);
        w.record(0, false, false);
        assert_eq!(w.counts(0).failures, 2);
        w.record(0, false, false);
        w.record(0, false, false);
        assert_eq!(
            w.counts(0),
            Counts {
                total: 4,
                failures: 0,
                slow: 0
            }
        );
        assert!(w.unchanged_by_success(0));
    }

    #[test]
    fn count_window_reset_drops_stale_generations() {
        let w = CountWindow::new(3);
        w.record(0, true, false);
        w.reset(1);
        assert_eq!(w.record(0, true, false), None);
        assert_eq!(w.counts(1), Counts::default());
        let c = w.record(1, false, false).unwrap();
        assert_eq!(c.total, 1);
    }

    #[test]
    fn time_window_expires_buckets() {
        // 10 buckets of 100 ns.
        let w = TimeWindow::new(1_000);
        w.record(0, true, false, 0);
        w.record(0, false, false, 550);
        assert_eq!(w.counts(0, 999).total, 2);
        assert_eq!(w.counts(0, 1_000).total, 1);
        assert_eq!(w.counts(0, 1_000).failures, 0);
        assert_eq!(w.counts(0, 1_500).total, 0);
        w.record(0, true, false, 100_000);
        assert_eq!(w.counts(0, 100_050).failures, 1);
    }
}

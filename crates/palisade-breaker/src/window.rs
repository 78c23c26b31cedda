//! The sliding windows of recorded outcomes.
//!
//! Both windows are tagged with the breaker's generation (bumped on every
//! transition): an outcome recorded with an older generation is dropped, and
//! resetting a window is storing a new generation.

use palisade_core::lane::Padded;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

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
/// expire one at a time, lock-free.
///
/// Each bucket is one atomic word: `[tag:13][total:17][failures:17][slow:17]`.
/// The tag names the bucket's contents: 4 bits of the breaker's generation
/// and 9 bits of the lap (`period / TIME_BUCKETS`) it was filled in. A
/// bucket whose tag is not the one expected for its place in the current
/// window is stale and counts as empty, so expiry needs no write: a writer
/// that finds a stale bucket replaces it (one compare-exchange), and
/// readers sum the ten buckets whose tags match. To keep 9 bits of lap
/// unambiguous, the writer that moves the newest period forward also
/// retags the buckets it skipped (at most ten, amortised O(1)), so no
/// bucket is ever more than a lap behind the newest period.
///
/// A bucket counts at most `BUCKET_MAX` calls; beyond that its counts stay
/// as they are (the rates are those of its first `BUCKET_MAX` calls).
#[derive(Debug)]
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    generation: AtomicU32,
    /// The newest period written to (only moves forward).
    head: AtomicU64,
    buckets: Padded<[AtomicU64; TIME_BUCKETS as usize]>,
}

const COUNT_BITS: u32 = 17;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// The most calls one time bucket counts.
pub(crate) const BUCKET_MAX: u64 = COUNT_MASK;
const TAG_SHIFT: u32 = 3 * COUNT_BITS;
const LAP_BITS: u32 = 9;
/// Headroom for writers racing past the check before their `fetch_add`.
const RACE_MARGIN: u64 = 4096;

#[inline]
fn tag(generation: u32, period: u64) -> u64 {
    (u64::from(generation & 0xF) << LAP_BITS) | ((period / TIME_BUCKETS) & ((1 << LAP_BITS) - 1))
}

#[inline]
fn bucket_delta(failure: bool, slow: bool) -> u64 {
    (1 << (2 * COUNT_BITS)) | (u64::from(failure) << COUNT_BITS) | u64::from(slow)
}

#[inline]
fn bucket_counts(word: u64) -> Counts {
    Counts {
        total: (word >> (2 * COUNT_BITS)) & COUNT_MASK,
        failures: (word >> COUNT_BITS) & COUNT_MASK,
        slow: word & COUNT_MASK,
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
            generation: AtomicU32::new(0),
            head: AtomicU64::new(0),
            buckets: Padded(std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }

    fn record(&self, generation: u32, failure: bool, slow: bool, now: u64) -> Option<Counts> {
        if self.generation.load(Ordering::Acquire) != generation {
            return None;
        }
        let period = now / self.bucket_nanos;
        let head = self.head.load(Ordering::Acquire);
        if period > head {
            self.advance(generation, head, period);
        } else if head - period >= TIME_BUCKETS {
            // A writer whose clock read lagged a concurrent one: its own
            // bucket has expired; it lands in the newest one instead.
            return self.add(generation, head, failure, slow);
        }
        self.add(generation, period, failure, slow)
    }

    /// Adds one outcome to the bucket of `period`; returns the window's
    /// counts as of `period`.
    #[inline]
    fn add(&self, generation: u32, period: u64, failure: bool, slow: bool) -> Option<Counts> {
        let bucket = &self.buckets.0[bucket_index(period)];
        let want = tag(generation, period);
        let delta = bucket_delta(failure, slow);
        let mut word = bucket.load(Ordering::Acquire);
        loop {
            if word >> TAG_SHIFT == want {
                let total = bucket_counts(word).total;
                if total >= BUCKET_MAX {
                    break;
                }
                if total < BUCKET_MAX - RACE_MARGIN {
                    // The common case: no overflow is possible, one add.
                    bucket.fetch_add(delta, Ordering::AcqRel);
                    break;
                }
                match bucket.compare_exchange_weak(
                    word,
                    word + delta,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => word = actual,
                }
            } else {
                // Stale: this call starts the bucket afresh.
                match bucket.compare_exchange_weak(
                    word,
                    (want << TAG_SHIFT) | delta,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => word = actual,
                }
            }
        }
        if self.generation.load(Ordering::Acquire) != generation {
            return None;
        }
        Some(self.sum(generation, period))
    }

    /// Moves the newest period from `head` to `period`, retagging the
    /// buckets skipped over as empty.
    #[cold]
    fn advance(&self, generation: u32, mut head: u64, period: u64) {
        loop {
            match self
                .head
                .compare_exchange_weak(head, period, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) if actual >= period => return,
                Err(actual) => head = actual,
            }
        }
        if period - head >= TIME_BUCKETS {
            // Everything has expired, and a bucket left untouched for 512
            // laps would carry the current lap's tag: empty all of them
            // (a call racing this into the newest bucket may go uncounted).
            for p in period - (TIME_BUCKETS - 1)..=period {
                self.buckets.0[bucket_index(p)]
                    .store(tag(generation, p) << TAG_SHIFT, Ordering::Release);
            }
            return;
        }
        // Each skipped bucket still holds the period a lap before its own:
        // retag it as empty, unless a concurrent writer of its period got
        // there first.
        for p in head + 1..period {
            let bucket = &self.buckets.0[bucket_index(p)];
            let want = tag(generation, p);
            let word = bucket.load(Ordering::Acquire);
            if word >> TAG_SHIFT != want {
                let _ = bucket.compare_exchange(
                    word,
                    want << TAG_SHIFT,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// The counts of the ten periods ending with `period`.
    fn sum(&self, generation: u32, period: u64) -> Counts {
        let mut sum = Counts::default();
        for back in 0..TIME_BUCKETS {
            let Some(p) = period.checked_sub(back) else {
                break;
            };
            let word = self.buckets.0[bucket_index(p)].load(Ordering::Acquire);
            if word >> TAG_SHIFT == tag(generation, p) {
                let c = bucket_counts(word);
                sum.total += c.total;
                sum.failures += c.failures;
                sum.slow += c.slow;
            }
        }
        sum
    }

    fn counts(&self, generation: u32, now: u64) -> Counts {
        if self.generation.load(Ordering::Acquire) != generation {
            return Counts::default();
        }
        let period = (now / self.bucket_nanos).max(self.head.load(Ordering::Acquire));
        self.sum(generation, period)
    }

    fn reset(&self, generation: u32) {
        // Empty buckets count nothing whatever their tag; writers of the old
        // generation that race this are told apart by the tag.
        for bucket in &self.buckets.0 {
            bucket.store(0, Ordering::Relaxed);
        }
        self.generation.store(generation, Ordering::Release);
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

    #[test]
    fn time_window_never_mistakes_an_old_lap_for_the_current_one() {
        // 10 buckets of 100 ns; 512 laps later the lap bits repeat.
        let w = TimeWindow::new(1_000);
        for _ in 0..5 {
            w.record(0, true, false, 50);
        }
        let later = 512 * 1_000 + 50;
        let c = w.record(0, false, false, later).unwrap();
        assert_eq!((c.total, c.failures), (1, 0));
        assert_eq!(w.counts(0, later).total, 1);
    }

    #[test]
    fn time_window_resets_by_generation_and_caps_a_bucket() {
        let w = TimeWindow::new(1_000);
        w.record(0, true, false, 10);
        w.reset(1);
        assert_eq!(w.record(0, true, false, 20), None);
        assert_eq!(w.counts(1, 20), Counts::default());
        for _ in 0..BUCKET_MAX + 10 {
            w.record(1, false, false, 30);
        }
        let c = w.record(1, true, true, 30).unwrap();
        assert_eq!((c.total, c.failures, c.slow), (BUCKET_MAX, 0, 0));
        // The next bucket counts again.
        let c = w.record(1, true, true, 130).unwrap();
        assert_eq!((c.total, c.failures, c.slow), (BUCKET_MAX + 1, 1, 1));
    }
}
